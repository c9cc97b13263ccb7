"""``SqlMuteStore``: the mute port on the mailbox's database (table ``mutes``).

It shares the mailbox's engine (``SqlMuteStore(mailbox.engine)``): one pool, one
schema, one migration history. Every statement is a primary-key lookup or a short
transaction; ``active`` runs on every send.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa

from im_adapters.sql.executor import (
    READ,
    SEND_TRANSACTION,
    WRITE_TRANSACTION,
    Conflict,
    Rows,
    Runner,
    Unit,
)
from im_adapters.sql.tables import mutes
from im_core.ports import MailboxUnavailable, Mute, MuteStoreUnavailable

__all__ = ["SqlMuteStore"]

T = TypeVar("T")

_UID = sa.bindparam("uid", type_=mutes.c.uid.type)
_SCOPE = sa.bindparam("scope", type_=mutes.c.scope.type)
_NOW = sa.bindparam("now", type_=sa.BigInteger())
_LIVE = sa.or_(mutes.c.until.is_(None), mutes.c.until > _NOW)
_COLUMNS = (mutes.c.uid, mutes.c.scope, mutes.c.until, mutes.c.reason, mutes.c.created_at)

_ACTIVE = sa.select(*_COLUMNS).where(
    mutes.c.uid == _UID, mutes.c.scope.in_(sa.bindparam("scopes", expanding=True)), _LIVE)
_LIST = sa.select(*_COLUMNS).where(mutes.c.uid == _UID, _LIVE)
_DELETE = sa.delete(mutes).where(mutes.c.uid == _UID, mutes.c.scope == _SCOPE)
_FIND = sa.select(mutes.c.uid).where(mutes.c.uid == _UID, mutes.c.scope == _SCOPE)
_INSERT = sa.insert(mutes)
_LAPSED = (sa.select(mutes.c.uid, mutes.c.scope)
           .where(mutes.c.until.is_not(None), mutes.c.until <= _NOW)
           .order_by(mutes.c.until).limit(sa.bindparam("batch", type_=sa.Integer())))


def _mutes(rows: Rows) -> list[Mute]:
    return [Mute(*row[:5]) for row in rows.tuples]


def _ends_last(mute: Mute) -> tuple[bool, int]:
    return (mute.until is None, mute.until or 0)


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except MailboxUnavailable as error:
        raise MuteStoreUnavailable(str(error)) from error


class SqlMuteStore:
    """The mute port on an engine made by ``create_engine_from_url`` (schema at head)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._runner = Runner(engine, "sqlalchemy")

    def _run(self, work: Callable[[Unit], T], policy: Any) -> T:
        with _translated():
            return self._runner.run(work, policy)

    def put(self, mute: Mute) -> None:
        values = {"uid": mute.uid, "scope": mute.scope, "until": mute.until,
                  "reason": mute.reason, "created_at": mute.created_at}
        key = {"uid": mute.uid, "scope": mute.scope}

        def replace(unit: Unit) -> None:
            unit.execute(_DELETE, key)
            unit.execute(_INSERT, values)

        try:
            self._run(replace, SEND_TRANSACTION)
        except Conflict:  # a put of the same key committed between our delete and insert
            self._run(replace, SEND_TRANSACTION)

    def remove(self, uid: str, scope: str) -> bool:
        key = {"uid": uid, "scope": scope}

        def work(unit: Unit) -> bool:
            found = bool(unit.rows(_FIND, key))
            unit.execute(_DELETE, key)
            return found

        return self._run(work, WRITE_TRANSACTION)

    def active(self, uid: str, scopes: tuple[str, ...], now_ms: int) -> Mute | None:
        params = {"uid": uid, "scopes": list(scopes), "now": now_ms}
        found = self._run(lambda unit: _mutes(unit.rows(_ACTIVE, params)), READ)
        return max(found, key=_ends_last, default=None)

    def list(self, uid: str, now_ms: int) -> list[Mute]:
        found = self._run(lambda unit: _mutes(unit.rows(_LIST, {"uid": uid, "now": now_ms})),
                          READ)
        return sorted(found, key=lambda m: m.scope)

    def purge(self, now_ms: int, batch: int) -> int:
        def work(unit: Unit) -> int:
            keys = unit.rows(_LAPSED, {"now": now_ms, "batch": batch}).tuples
            for uid, scope in keys:
                unit.execute(_DELETE, {"uid": uid, "scope": scope})
            return len(keys)

        return self._run(work, WRITE_TRANSACTION)

    def ping(self) -> None:
        self._run(lambda unit: unit.execute(sa.select(sa.literal(1)), {}), READ)
