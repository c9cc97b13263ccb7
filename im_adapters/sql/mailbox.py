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

import contextlib
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from im_adapters import ConfigurationError
from im_adapters.sql.engine import READ_ONLY, create_engine_from_url, is_autocommit
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
# PostgreSQL does a whole send in one statement, so one round trip: data-modifying
# CTEs run in the statement's single transaction. The INSERT reads its row from the
# locked ``target``, so the msgid is allocated after the recipient's lock is held, as
# in the portable path. ``earlier`` uses the statement's snapshot, taken before the lock
# wait: a racing retry that committed meanwhile makes the INSERT hit the unique
# constraint, and the caller re-reads (the same backstop as the portable path).
_PG_SEND = sa.text(
    """
WITH target AS (
    SELECT uid FROM users WHERE uid = :recipient FOR UPDATE
), earlier AS (
    SELECT msgid, sender, recipient, body, sent_at, client_msg_id FROM messages
    WHERE sender = :sender AND client_msg_id = :client_msg_id
), stored AS (
    INSERT INTO messages (conversation, sender, recipient, body, sent_at, client_msg_id)
    SELECT :conversation, :sender, target.uid, :body, :sent_at, :client_msg_id
    FROM target WHERE NOT EXISTS (SELECT 1 FROM earlier)
    RETURNING msgid, sender, recipient, body, sent_at, client_msg_id
), inboxed AS (
    INSERT INTO offline (recipient, msgid) SELECT recipient, msgid FROM stored
)
SELECT msgid, sender, recipient, body, sent_at, client_msg_id, true AS created FROM stored
UNION ALL
SELECT msgid, sender, recipient, body, sent_at, client_msg_id, false FROM earlier
"""
)
# The ack's DELETE and the read in one statement: both see the statement's snapshot,
# so the read excludes what the DELETE removes by its own ``msgid > :ack``.
_PG_ACK_AND_PULL = sa.text(
    """
WITH acked AS (
    DELETE FROM offline WHERE recipient = :uid AND msgid <= :ack
)
SELECT m.msgid, m.sender, m.recipient, m.body, m.sent_at, m.client_msg_id
FROM offline o JOIN messages m ON m.msgid = o.msgid
WHERE o.recipient = :uid AND o.msgid > :ack
ORDER BY o.msgid
LIMIT :limit
"""
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

    Round trips are the cost on the hot path, so:

    - on PostgreSQL, work that is one statement runs in autocommit (no ``BEGIN``/
      ``COMMIT``), and that includes a whole send and an ack with its pull
      (``_PG_SEND``, ``_PG_ACK_AND_PULL``);
    - connections are not pinged on every checkout. A connection the server killed
      fails its first statement; SQLAlchemy then invalidates the pool, and work that
      is safe to repeat (everything but a send without ``client_msg_id``) is run once
      more on a fresh connection. A send without ``client_msg_id`` pings first, since
      a resend after a lost reply could store it twice.
    """

    def __init__(self, engine: sa.Engine) -> None:
        upserts = _UPSERTS.get(engine.dialect.name)
        if upserts is None:
            raise ConfigurationError(f"unsupported database {engine.dialect.name!r}")
        self._engine = engine
        self._login, self._add_contact = upserts
        self._postgres = engine.dialect.name == "postgresql"
        self._rendered: dict[sa.ClauseElement, str] = {}
        self._driver_error: type[Exception] = (
            engine.dialect.loaded_dbapi.Error if self._postgres else Exception
        )
        # On PostgreSQL single statements skip BEGIN/COMMIT. An engine made with
        # autocommit=True (from_url's) needs no per-checkout switch, which costs CPU.
        # Then add_contact's check-and-insert runs without a transaction too, which
        # is safe: users are never deleted. PyMySQL would pay a SET each way for
        # autocommit, and SQLite is local: both keep transactions.
        # SQLite lets one writer in at a time and makes the others sleep and poll
        # (busy_timeout), in sleeps of up to 100 ms: under load some writes waited
        # past the timeout and failed. A lock makes this process's writers queue
        # instead; other processes on the same file still meet the poll.
        self._write_lock = (
            threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )
        self._autocommit: sa.Engine | None = None
        if self._postgres:
            self._autocommit = (
                engine
                if is_autocommit(engine)
                else engine.execution_options(isolation_level="AUTOCOMMIT")
            )

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SqlMailbox:
        """Build the engine (see ``create_engine_from_url`` for ``kwargs``) and wrap it."""
        return cls(create_engine_from_url(url, autocommit=True, **kwargs))

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def record_login(self, uid: str, client_type: str, at_ms: int) -> None:
        params = {"uid": uid, "first_seen": at_ms, "last_login": at_ms, "client_type": client_type}
        self._run(lambda conn: conn.execute(self._login, params), single=True)

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

        return self._run(work, read_only=True, single=True)

    def send(
        self,
        sender: str,
        recipient: str,
        body: str,
        client_msg_id: str | None,
        sent_at: int,
    ) -> tuple[Message, bool]:
        params = {
            "conversation": conversation_key(sender, recipient),
            "sender": sender,
            "recipient": recipient,
            "body": body,
            "sent_at": sent_at,
            "client_msg_id": client_msg_id,
        }

        def in_one_statement(conn: sa.Connection) -> tuple[Message, bool]:
            rows = self._fetch(conn, _PG_SEND, params)
            row = rows[0] if rows else None
            if row is None:
                raise UnknownUser(recipient)
            return Message(*row[:6]), bool(row[6])

        def in_a_transaction(conn: sa.Connection) -> tuple[Message, bool]:
            # The lock comes first: it orders this recipient's sends (module docstring).
            locked = conn.execute(_LOCK_RECIPIENT, {"uid": recipient}).first()
            if client_msg_id is not None:
                earlier = _find_sent(conn, sender, client_msg_id)
                if earlier is not None:
                    return earlier, False
            if locked is None:
                raise UnknownUser(recipient)
            inserted = conn.execute(_INSERT_MESSAGE, params).inserted_primary_key
            assert inserted is not None
            msgid: int = inserted[0]
            conn.execute(_INSERT_OFFLINE, {"recipient": recipient, "msgid": msgid})
            return Message(msgid, sender, recipient, body, sent_at, client_msg_id), True

        try:
            return self._run(
                in_one_statement if self._postgres else in_a_transaction,
                single=self._postgres,
                conflict=True,
                repeatable=client_msg_id is not None,
            )
        except _Conflict as conflict:
            # Same (sender, client_msg_id) committed meanwhile by a send that did not
            # wait for our lock (to another recipient): theirs is the message.
            if client_msg_id is not None:
                earlier = self._run(
                    lambda conn: _find_sent(conn, sender, client_msg_id),
                    read_only=True,
                    single=True,
                )
                if earlier is not None:
                    return earlier, False
            raise MailboxUnavailable("the message could not be stored") from conflict.__cause__

    def pull(self, uid: str, ack: int | None, limit: int) -> Inbox:
        params = {"uid": uid, "ack": ack, "limit": limit + 1}

        def work(conn: sa.Connection) -> Inbox:
            if ack is None:
                rows = self._fetch(conn, _PULL, params)
            elif self._postgres:
                rows = self._fetch(conn, _PG_ACK_AND_PULL, params)
            else:
                conn.execute(_DELETE_ACKED, params)
                rows = self._fetch(conn, _PULL, params)
            return Inbox(tuple(Message(*row) for row in rows[:limit]), len(rows) > limit)

        return self._run(work, read_only=ack is None, single=ack is None or self._postgres)

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
            lambda conn: [Message(*row) for row in self._fetch(conn, _HISTORY, params)],
            read_only=True,
            single=True,
        )

    def contacts(self, uid: str) -> list[str]:
        # Sorted here, by code point: a database collation may order "Bob" after "alice".
        found = self._run(
            lambda conn: list(conn.execute(_CONTACTS, {"uid": uid}).scalars()),
            read_only=True,
            single=True,
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
        self._run(
            lambda conn: conn.execute(_REMOVE_CONTACT, {"uid": uid, "contact": contact}),
            single=True,
        )

    def ping(self) -> None:
        self._run(lambda conn: conn.execute(_PING), read_only=True, single=True)

    def _fetch(
        self, conn: sa.Connection, statement: Any, params: dict[str, Any]
    ) -> Sequence[Any]:
        """Run one hot-path statement and return all its rows.

        On PostgreSQL the statement goes straight to psycopg, rendered once and prepared
        on the server: SQLAlchemy's per-execution machinery cost more CPU than the
        query itself (measured: about 600 µs against 350 µs for a history page).
        psycopg's errors come back as SQLAlchemy's, so ``_run`` treats both alike.
        """
        if not self._postgres:
            return conn.execute(statement, params).all()
        sql = self._rendered.get(statement)
        if sql is None:
            sql = self._rendered[statement] = str(statement.compile(dialect=self._engine.dialect))
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            with driver.cursor() as cursor:
                cursor.execute(sql, params, prepare=True)
                rows: Sequence[Any] = cursor.fetchall()
                return rows
        except self._driver_error as error:
            lost = bool(driver.closed or driver.broken)
            if lost:
                conn.invalidate()
            raise sa.exc.DBAPIError.instance(
                sql, params, error, self._driver_error, connection_invalidated=lost
            ) from error

    def _run(
        self,
        work: Callable[[sa.Connection], T],
        *,
        read_only: bool = False,
        single: bool = False,
        conflict: bool = False,
        repeatable: bool = True,
    ) -> T:
        """Run ``work`` as one unit; every database failure is ``MailboxUnavailable``.

        Args:
            work: the statements; it gets a connection and returns the result.
            read_only: ``work`` writes nothing (SQLite then begins deferred).
            single: ``work`` is one statement (or reads only), so it needs no
                transaction of its own: it runs in autocommit where that saves round trips.
            conflict: an integrity error is the caller's to resolve (``_Conflict``).
            repeatable: running ``work`` twice is harmless. Only then is it run again
                after a lost connection, when the first run may have committed.

        A transaction the database chose as a deadlock victim was rolled back whole, so
        it is always run again.
        """
        engine = self._autocommit if single and self._autocommit is not None else self._engine
        for attempt in range(1, _ATTEMPTS + 1):
            started = False  # whether ``work`` may have reached the database
            try:
                with (
                    contextlib.nullcontext() if read_only else self._write_lock,
                    engine.connect() as conn,
                ):
                    if read_only:
                        conn.execution_options(**{READ_ONLY: True})
                    with contextlib.nullcontext() if engine is self._autocommit else conn.begin():
                        if not repeatable:
                            conn.execute(_PING)
                        started = True
                        return work(conn)
            except sa.exc.IntegrityError as error:
                if conflict:
                    raise _Conflict from error
                raise _unavailable(error) from error
            except sa.exc.DBAPIError as error:
                lost = error.connection_invalidated and (repeatable or not started)
                if attempt < _ATTEMPTS and (_transient(error) or lost):
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
