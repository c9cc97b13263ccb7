"""``SqlMailbox``: the mailbox port on PostgreSQL, MySQL/MariaDB or SQLite.

Why a cumulative ``ack`` is safe here (the heart of the design): ``send`` locks the
recipient's ``users`` row (``SELECT ... FOR UPDATE``; on SQLite ``BEGIN IMMEDIATE``
locks the whole database) *before* inserting the message, and holds the lock until
commit. The msgid is allocated by that insert, so for one recipient ids are handed
out one send at a time and each send commits before the next one gets its id: id
order is commit order. A reader that sees msgid ``X`` in its inbox therefore already
sees every message to it with a smaller id (it is in the same page, or an earlier
one), so ``ack = X`` can only delete what it was given. Without the lock, sequences
and AUTO_INCREMENT let 101 commit, and be pulled and acked, before 100 commits;
100 would then be deleted unseen. Sends to different recipients never wait for each
other.

The statements are built once, at import time; an instance holds only its engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from im_adapters import ConfigurationError
from im_adapters.sql.engine import READ_ONLY, create_engine_from_url
from im_adapters.sql.tables import contacts, messages, offline, users
from im_core.models import Inbox, Message
from im_core.ports import MailboxUnavailable, UnknownUser

__all__ = ["SqlMailbox", "conversation_key"]

T = TypeVar("T")

_ATTEMPTS = 3
"""Runs of one transaction when the database aborts it as a deadlock victim."""

_CHUNK = 500
"""uids per ``IN (...)``: far below every backend's bound-parameter limit."""

_TRANSIENT = frozenset({"40P01", "40001", 1213})
"""PostgreSQL deadlock / serialization failure, MySQL deadlock: rolled back, retry."""

_MESSAGE_COLUMNS = (
    messages.c.msgid,
    messages.c.sender,
    messages.c.recipient,
    messages.c.body,
    messages.c.sent_at,
    messages.c.client_msg_id,
)

_LOCK_RECIPIENT = sa.select(users.c.uid).where(users.c.uid == sa.bindparam("uid")).with_for_update()
_FIND_SENT = sa.select(*_MESSAGE_COLUMNS).where(
    messages.c.sender == sa.bindparam("sender"),
    messages.c.client_msg_id == sa.bindparam("client_msg_id"),
)
_INSERT_MESSAGE = sa.insert(messages)
_INSERT_OFFLINE = sa.insert(offline)
_DELETE_ACKED = sa.delete(offline).where(
    offline.c.recipient == sa.bindparam("uid"), offline.c.msgid <= sa.bindparam("ack")
)
_PULL = (
    sa.select(*_MESSAGE_COLUMNS)
    .select_from(offline.join(messages, offline.c.msgid == messages.c.msgid))
    .where(offline.c.recipient == sa.bindparam("uid"))
    .order_by(offline.c.msgid)
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
_HISTORY = (
    sa.select(*_MESSAGE_COLUMNS)
    .where(
        messages.c.conversation == sa.bindparam("conversation"),
        messages.c.msgid > sa.bindparam("low"),
        messages.c.msgid <= sa.bindparam("high"),
    )
    .order_by(messages.c.msgid.desc())
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
_KNOWN = sa.select(users.c.uid).where(users.c.uid.in_(sa.bindparam("uids", expanding=True)))
_CONTACTS = sa.select(contacts.c.contact).where(contacts.c.owner == sa.bindparam("uid"))
_REMOVE_CONTACT = sa.delete(contacts).where(
    contacts.c.owner == sa.bindparam("uid"), contacts.c.contact == sa.bindparam("contact")
)
_PING = sa.text("SELECT 1")

_NO_BOUND = -1
_TOP = 2**63 - 1


def _upserts(dialect: str) -> tuple[sa.Executable, sa.Executable]:
    """The login upsert and the add-if-absent contact insert, in the dialect's words."""
    if dialect in ("postgresql", "sqlite"):
        module: Any = postgresql if dialect == "postgresql" else sqlite
        login = module.insert(users)
        login = login.on_conflict_do_update(
            index_elements=[users.c.uid],
            set_={
                "last_login": login.excluded.last_login,
                "client_type": login.excluded.client_type,
            },
        )
        contact = module.insert(contacts).on_conflict_do_nothing()
        return login, contact
    login = mysql.insert(users)
    login = login.on_duplicate_key_update(
        last_login=login.inserted.last_login, client_type=login.inserted.client_type
    )
    contact = mysql.insert(contacts)
    contact = contact.on_duplicate_key_update(contact=contact.inserted.contact)
    return login, contact


_UPSERTS = {name: _upserts(name) for name in ("postgresql", "sqlite", "mysql")}
_UPSERTS["mariadb"] = _UPSERTS["mysql"]


class _Conflict(Exception):
    """An integrity error that the caller resolves (a racing duplicate send)."""


def conversation_key(a: str, b: str) -> str:
    """The ``messages.conversation`` of two users: their uids sorted, space-joined."""
    return f"{a} {b}" if a <= b else f"{b} {a}"


class SqlMailbox:
    """The mailbox port on an SQLAlchemy engine made by ``create_engine_from_url``.

    The engine's settings are part of the correctness argument (READ COMMITTED on
    MySQL, ``BEGIN IMMEDIATE`` on SQLite), so build it with that function. The schema
    must be at head (``upgrade_to_head``); this class does not check.
    """

    def __init__(self, engine: sa.Engine) -> None:
        upserts = _UPSERTS.get(engine.dialect.name)
        if upserts is None:
            raise ConfigurationError(f"unsupported database {engine.dialect.name!r}")
        self._engine = engine
        self._login, self._add_contact = upserts

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SqlMailbox:
        """Build the engine (see ``create_engine_from_url`` for ``kwargs``) and wrap it."""
        return cls(create_engine_from_url(url, **kwargs))

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def record_login(self, uid: str, client_type: str, at_ms: int) -> None:
        params = {"uid": uid, "first_seen": at_ms, "last_login": at_ms, "client_type": client_type}
        self._run(lambda conn: conn.execute(self._login, params))

    def known_users(self, uids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(uids))
        if not wanted:
            return set()

        def work(conn: sa.Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                found.update(conn.execute(_KNOWN, {"uids": chunk}).scalars())
            return found

        return self._run(work, read_only=True)

    def send(
        self,
        sender: str,
        recipient: str,
        body: str,
        client_msg_id: str | None,
        sent_at: int,
    ) -> tuple[Message, bool]:
        def work(conn: sa.Connection) -> tuple[Message, bool]:
            # The lock comes first: it orders this recipient's sends (module docstring).
            locked = conn.execute(_LOCK_RECIPIENT, {"uid": recipient}).first()
            if client_msg_id is not None:
                earlier = _find_sent(conn, sender, client_msg_id)
                if earlier is not None:
                    return earlier, False
            if locked is None:
                raise UnknownUser(recipient)
            inserted = conn.execute(
                _INSERT_MESSAGE,
                {
                    "conversation": conversation_key(sender, recipient),
                    "sender": sender,
                    "recipient": recipient,
                    "body": body,
                    "sent_at": sent_at,
                    "client_msg_id": client_msg_id,
                },
            ).inserted_primary_key
            assert inserted is not None
            msgid: int = inserted[0]
            conn.execute(_INSERT_OFFLINE, {"recipient": recipient, "msgid": msgid})
            return Message(msgid, sender, recipient, body, sent_at, client_msg_id), True

        try:
            return self._run(work, conflict=True)
        except _Conflict as conflict:
            # Same (sender, client_msg_id) committed meanwhile by a send that did not
            # wait for our lock (to another recipient): theirs is the message.
            if client_msg_id is not None:
                earlier = self._run(
                    lambda conn: _find_sent(conn, sender, client_msg_id), read_only=True
                )
                if earlier is not None:
                    return earlier, False
            raise MailboxUnavailable("the message could not be stored") from conflict.__cause__

    def pull(self, uid: str, ack: int | None, limit: int) -> Inbox:
        def work(conn: sa.Connection) -> Inbox:
            if ack is not None:
                conn.execute(_DELETE_ACKED, {"uid": uid, "ack": ack})
            rows = conn.execute(_PULL, {"uid": uid, "limit": limit + 1}).all()
            return Inbox(tuple(Message(*row) for row in rows[:limit]), len(rows) > limit)

        return self._run(work, read_only=ack is None)

    def history(
        self, uid: str, peer: str, before: int | None, after: int | None, limit: int
    ) -> list[Message]:
        params = {
            "conversation": conversation_key(uid, peer),
            "low": _NO_BOUND if after is None else after,
            "high": _TOP if before is None else before - 1,
            "limit": limit,
        }
        return self._run(
            lambda conn: [Message(*row) for row in conn.execute(_HISTORY, params)],
            read_only=True,
        )

    def contacts(self, uid: str) -> list[str]:
        # Sorted here, by code point: a database collation may order "Bob" after "alice".
        found = self._run(
            lambda conn: list(conn.execute(_CONTACTS, {"uid": uid}).scalars()), read_only=True
        )
        return sorted(found)

    def add_contact(self, uid: str, contact: str) -> None:
        def work(conn: sa.Connection) -> None:
            known = set(conn.execute(_KNOWN, {"uids": [uid, contact]}).scalars())
            for who in (contact, uid):
                if who not in known:
                    raise UnknownUser(who)
            conn.execute(self._add_contact, {"owner": uid, "contact": contact})

        self._run(work)

    def remove_contact(self, uid: str, contact: str) -> None:
        self._run(lambda conn: conn.execute(_REMOVE_CONTACT, {"uid": uid, "contact": contact}))

    def ping(self) -> None:
        self._run(lambda conn: conn.execute(_PING), read_only=True)

    def _run(
        self,
        work: Callable[[sa.Connection], T],
        *,
        read_only: bool = False,
        conflict: bool = False,
    ) -> T:
        """Run ``work`` in one transaction; every database failure is ``MailboxUnavailable``.

        A transaction the database chose as a deadlock victim was rolled back whole, so
        it is run again. Nothing else is retried: after a lost connection the commit
        may have happened, and running a send twice would store it twice.
        """
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self._engine.connect() as conn:
                    if read_only:
                        conn.execution_options(**{READ_ONLY: True})
                    with conn.begin():
                        return work(conn)
            except sa.exc.IntegrityError as error:
                if conflict:
                    raise _Conflict from error
                raise _unavailable(error) from error
            except sa.exc.DBAPIError as error:
                if attempt < _ATTEMPTS and _transient(error):
                    continue
                raise _unavailable(error) from error
            except sa.exc.SQLAlchemyError as error:
                raise _unavailable(error) from error
        raise AssertionError("unreachable")  # pragma: no cover


def _find_sent(conn: sa.Connection, sender: str, client_msg_id: str) -> Message | None:
    row = conn.execute(_FIND_SENT, {"sender": sender, "client_msg_id": client_msg_id}).first()
    return None if row is None else Message(*row)


def _transient(error: sa.exc.DBAPIError) -> bool:
    original = error.orig
    code = getattr(original, "sqlstate", None)
    if code is None and original is not None and original.args:
        code = original.args[0]
    return code in _TRANSIENT


def _unavailable(error: sa.exc.SQLAlchemyError) -> MailboxUnavailable:
    cause = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return MailboxUnavailable(f"the database failed: {type(cause).__name__}: {first_line}"[:300])
