"""``im-server purge``: delete inbox rows and history older than the retention.

A purge works in bounded batches, each its own short transaction: it reads up to
``batch`` ids by index range, then deletes exactly those (``DELETE ... WHERE msgid IN
(...)``). Nothing holds a lock longer than one batch, and the same statements run on
PostgreSQL, MySQL/MariaDB and SQLite (MySQL refuses ``LIMIT`` inside ``IN``).

"Older than" is by ``sent_at``; the scan is bounded by msgid: the newest message sent
before the cutoff (found by the ``sent_at`` index) bounds the range read, since msgids
follow commit order, and each row in it is still checked against the cutoff, so a
node's skewed clock never makes a newer message go.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import sqlalchemy as sa

from im_adapters.sql.executor import READ, WRITE_TRANSACTION, Runner, Unit
from im_adapters.sql.tables import messages, offline

__all__ = ["PURGE_BATCH_DEFAULT", "Purged", "purge"]

PURGE_BATCH_DEFAULT = 1000

_CUTOFF = sa.bindparam("cutoff", type_=sa.BigInteger())
_BOUND = sa.bindparam("bound", type_=sa.BigInteger())
_BATCH = sa.bindparam("batch", type_=sa.Integer())
_IDS: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)

_NEWEST_BEFORE = (sa.select(messages.c.msgid).where(messages.c.sent_at < _CUTOFF)
                  .order_by(messages.c.sent_at.desc()).limit(1))
_OLD_INBOX = (sa.select(offline.c.msgid).distinct()
              .join(messages, messages.c.msgid == offline.c.msgid)
              .where(offline.c.msgid <= _BOUND, messages.c.sent_at < _CUTOFF)
              .order_by(offline.c.msgid).limit(_BATCH))
_OLD_HISTORY = (sa.select(messages.c.msgid)
                .where(messages.c.msgid <= _BOUND, messages.c.sent_at < _CUTOFF)
                .order_by(messages.c.msgid).limit(_BATCH))
_DELETE_INBOX = sa.delete(offline).where(offline.c.msgid.in_(_IDS))
_DELETE_HISTORY = sa.delete(messages).where(messages.c.msgid.in_(_IDS))


@attrs.frozen
class Purged:
    """How many rows a purge deleted, and in how many batches."""

    inbox_rows: int
    history_rows: int
    batches: int


def _bound(runner: Runner, cutoff_ms: int) -> int | None:
    found = runner.run(lambda unit: unit.column(_NEWEST_BEFORE, {"cutoff": cutoff_ms},
                                                "msgid"), READ)
    return int(found[0]) if found else None


def _batches(runner: Runner, select: sa.Select[tuple[int]], cutoff: int, bound: int,
             batch: int, delete: Callable[[Unit, list[int]], int]) -> tuple[int, int]:
    deleted = batches = 0
    params = {"bound": bound, "cutoff": cutoff, "batch": batch}
    while True:
        def one(unit: Unit) -> int:
            ids = [int(i) for i in unit.column(select, params, "msgid")]
            return delete(unit, ids) if ids else -1

        count = runner.run(one, WRITE_TRANSACTION)
        if count < 0:
            return deleted, batches
        deleted += count
        batches += 1


def _delete_inbox(unit: Unit, ids: list[int]) -> int:
    return int(unit.connection.execute(_DELETE_INBOX, {"ids": ids}).rowcount)


def _delete_history(unit: Unit, ids: list[int]) -> int:
    unit.connection.execute(_DELETE_INBOX, {"ids": ids})  # an inbox row needs its message
    return int(unit.connection.execute(_DELETE_HISTORY, {"ids": ids}).rowcount)


def purge(engine: sa.Engine, now_ms: int, inbox_retention_ms: int,
          history_retention_ms: int | None, batch: int = PURGE_BATCH_DEFAULT) -> Purged:
    """Delete inbox rows older than ``inbox_retention_ms`` and, if given, history older
    than ``history_retention_ms`` (with their inbox rows), ``batch`` ids at a time.

    Raises:
        MailboxUnavailable: the database failed; what was deleted stays deleted, and
            running the purge again continues.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    runner = Runner(engine, "sqlalchemy")
    inbox_rows = history_rows = batches = 0
    cutoff = now_ms - inbox_retention_ms
    bound = _bound(runner, cutoff)
    if bound is not None:
        inbox_rows, batches = _batches(runner, _OLD_INBOX, cutoff, bound, batch, _delete_inbox)
    if history_retention_ms is not None:
        cutoff = now_ms - history_retention_ms
        bound = _bound(runner, cutoff)
        if bound is not None:
            history_rows, more = _batches(runner, _OLD_HISTORY, cutoff, bound, batch,
                                          _delete_history)
            batches += more
    return Purged(inbox_rows, history_rows, batches)
