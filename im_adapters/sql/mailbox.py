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
other. The same lock makes blocking atomic with sending: the send reads ``blocks``
after taking it, so a send that starts after a block has committed is refused.

On MariaDB Galera a row lock holds only on its own node, so the portable send also
writes the recipient's row (``statements.NOTE_SENT``). Two sends to one recipient
through two nodes then write one row: the one certified second is aborted (a deadlock
error, possibly at COMMIT; or its lock is broken by the first one's replication) and
run again, and its rerun takes the lock after the first was applied there, so it gets
a higher msgid. Each node commits write sets in the group's order, so id order is
commit order again on every node. ``executor.Runner`` reruns such aborts.

With a read replica (``replica.py``), history, contact-list and block-list reads may
run there; each write records its uids' write marks, so a player reads their own
writes (the read goes to the primary while the replica is behind them).

The statements are built once, at import time; an instance holds only its engines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs
import sqlalchemy as sa

from im_adapters import ConfigurationError
from im_adapters.sql import statements as sql
from im_adapters.sql.engine import create_engine_from_url
from im_adapters.sql.executor import (
    LOCKED_TRANSACTION,
    READ,
    SEND_STATEMENT,
    SEND_TRANSACTION,
    WRITE_STATEMENT,
    WRITE_TRANSACTION,
    Conflict,
    ExecutorName,
    Rows,
    Runner,
    Unit,
)
from im_adapters.sql.group_statements import dialog_upserts
from im_adapters.sql.groups import SqlGroups
from im_adapters.sql.replica import ReadReplica, WriteMarks
from im_core.models import Inbox, Message
from im_core.ports import (
    Blocked,
    MailboxUnavailable,
    TooManyBlocks,
    TooManyContacts,
    UnknownUser,
)

__all__ = ["SqlMailbox", "conversation_key"]

T = TypeVar("T")

_CHUNK = 500
"""uids per ``IN (...)``: far below every backend's bound-parameter limit."""

_NO_BOUND = -1
_TOP = 2**63 - 1


def conversation_key(a: str, b: str) -> str:
    """The ``messages.conversation`` of two users: their uids sorted, space-joined."""
    return f"{a} {b}" if a <= b else f"{b} {a}"


assert tuple(a.name for a in attrs.fields(Message)) == (*sql.MESSAGE_FIELDS[:-1], "group")


def _messages(rows: Rows, count: int | None = None) -> list[Message]:
    """The first ``count`` (default: all) rows as messages, columns found by name.

    A group message's ``recipient`` is stored empty and read back as ``None``.
    """
    at = [rows.names.index(name) for name in sql.MESSAGE_FIELDS]
    picked = rows.tuples if count is None else rows.tuples[:count]
    m, s, r, b, t, c, g = at
    return [Message(row[m], row[s], row[r] or None, row[b], row[t], row[c], row[g])
            for row in picked]


class SqlMailbox(SqlGroups):
    """The mailbox port on an SQLAlchemy engine made by ``create_engine_from_url``.

    The engine's settings are part of the correctness argument (READ COMMITTED on
    MySQL, ``BEGIN IMMEDIATE`` on SQLite), so build it with that function. The schema
    must be at head (``upgrade_to_head``); this class does not check.

    Round trips are the cost on the hot path, so:

    - on PostgreSQL, work that is one statement runs in autocommit (no ``BEGIN``/
      ``COMMIT``), and that includes a whole send and an ack with its pull
      (``statements.PG_SEND``, ``statements.PG_ACK_AND_PULL``);
    - connections are not pinged on every checkout. A connection the server killed
      fails its first statement; SQLAlchemy then invalidates the pool, and work that
      is safe to repeat (everything but a send without ``client_msg_id``) is run once
      more on a fresh connection. A send without ``client_msg_id`` pings first, since
      a resend after a lost reply could store it twice.

    ``executor`` chooses how statements reach PostgreSQL (see ``executor.py``):
    ``"direct"`` (psycopg, server-prepared; the default) or ``"sqlalchemy"``. Both run
    the same statements; the other databases always use SQLAlchemy.

    Groups and conversations are ``SqlGroups``'s (``groups.py``), on the same runner.
    """

    def __init__(self, engine: sa.Engine, *, executor: ExecutorName = "direct",
                 replica: ReadReplica | None = None) -> None:
        upserts = sql.upserts(engine.dialect.name)
        if upserts is None:
            raise ConfigurationError(f"unsupported database {engine.dialect.name!r}")
        self._engine = engine
        self._upserts = upserts
        self._dialogs = dialog_upserts(engine.dialect.name)  # SqlGroups._move_dialogs
        self._postgres = engine.dialect.name == "postgresql"
        self._runner = Runner(engine, executor)
        if replica is not None and not (
                self._postgres and replica.runner.engine.dialect.name == "postgresql"):
            raise ConfigurationError("a read replica is supported on PostgreSQL only")
        self._replica = replica

    @classmethod
    def from_url(
        cls, url: str, *, executor: ExecutorName = "direct", read_url: str | None = None,
        marks: WriteMarks | None = None, **kwargs: Any
    ) -> SqlMailbox:
        """Build the engine (see ``create_engine_from_url`` for ``kwargs``) and wrap it.

        ``read_url`` names a streaming replica of ``url`` for history and list reads;
        ``marks`` (required with it) are the write marks every node shares. Its engine
        waits at most a second for anything: a failing replica only sends reads to
        the primary, so it must not spend their time budget.
        """
        engine = create_engine_from_url(url, autocommit=True, **kwargs)
        replica = None
        if read_url is not None:
            if marks is None:
                raise ConfigurationError("a read replica needs write marks")
            timeout = min(float(kwargs.pop("timeout", 1.0)), 1.0)
            read_engine = create_engine_from_url(read_url, autocommit=True, timeout=timeout,
                                                 **kwargs)
            replica = ReadReplica(Runner(read_engine, executor), marks)
        return cls(engine, executor=executor, replica=replica)

    @property
    def replica(self) -> ReadReplica | None:
        """The read replica in use, if any."""
        return self._replica

    def _read(self, uid: str, work: Callable[[Unit], T]) -> T:
        """A read about ``uid``'s own data: on the replica when it has ``uid``'s writes."""
        if self._replica is None:
            return self._runner.run(work, READ)
        return self._replica.read(uid, work, self._runner)

    def _wrote(self, *uids: str) -> None:
        if self._replica is not None:
            self._replica.wrote(uids, self._runner)

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    @property
    def executor(self) -> ExecutorName:
        """The executor in use: ``"direct"`` only on PostgreSQL."""
        return self._runner.executor

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()
        if self._replica is not None:
            self._replica.close()

    def record_login(self, uid: str, client_type: str, at_ms: int) -> None:
        params = {"uid": uid, "first_seen": at_ms, "last_login": at_ms, "client_type": client_type}
        self._runner.run(lambda unit: unit.execute(self._upserts.login, params), WRITE_STATEMENT)

    def known_users(self, uids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(uids))
        found: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):  # one read per chunk: users never go
            found.update(self._known(wanted[start : start + _CHUNK]))
        return found

    def _known(self, uids: list[str]) -> list[str]:
        return self._runner.run(lambda unit: unit.column(sql.KNOWN, {"uids": uids}, "uid"), READ)

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
            "group_id": None,
        }

        def in_one_statement(unit: Unit) -> tuple[Message, bool]:
            rows = unit.rows(sql.PG_SEND, params)
            if not rows:
                raise UnknownUser(recipient)
            if rows.value("created") is None:
                raise Blocked(recipient)
            return _messages(rows)[0], bool(rows.value("created"))

        def in_a_transaction(unit: Unit) -> tuple[Message, bool]:
            # The locks come first: they order this recipient's sends and the pair's
            # sequence (module docstring); both users, in uid order.
            locked = unit.column(sql.LOCK_PAIR, params, "uid")
            if client_msg_id is not None:
                earlier = _messages(unit.rows(sql.FIND_SENT, params))
                if earlier:
                    return earlier[0], False
            if recipient not in locked:
                raise UnknownUser(recipient)
            if unit.rows(sql.BARRED, params):  # read under the lock, like the insert
                raise Blocked(recipient)
            seq = 1 + max(unit.column(sql.PAIR_SEQ, params, "last_seq"), default=0)
            # Portable path only (never the direct executor): MySQL has no RETURNING.
            inserted = unit.connection.execute(
                sql.INSERT_MESSAGE, {**params, "seq": seq}).inserted_primary_key
            assert inserted is not None
            msgid: int = inserted[0]
            unit.execute(sql.INSERT_OFFLINE, {"recipient": recipient, "msgid": msgid})
            unit.execute(sql.NOTE_SENT, {"recipient": recipient, "msgid": msgid})
            self._move_dialogs(unit, sender, recipient, seq, msgid)
            return Message(msgid, sender, recipient, body, sent_at, client_msg_id), True

        work, policy = (
            (in_one_statement, SEND_STATEMENT)
            if self._postgres
            else (in_a_transaction, SEND_TRANSACTION)
        )
        try:
            sent = self._runner.run(work, policy if client_msg_id is not None else policy.once())
            self._wrote(sender, recipient)
            return sent
        except Conflict as conflict:
            # Same (sender, client_msg_id) committed meanwhile by a send that did not
            # wait for our lock (to another recipient): theirs is the message.
            if client_msg_id is not None:
                earlier = self._runner.run(
                    lambda unit: _messages(unit.rows(sql.FIND_SENT, params)), READ
                )
                if earlier:
                    self._wrote(sender, recipient)
                    return earlier[0], False
            raise MailboxUnavailable("the message could not be stored") from conflict.__cause__

    def pull(self, uid: str, ack: int | None, limit: int) -> Inbox:
        """Ack, pull and raise the "pulled through" mark (the port's contract).

        No deadlock with ``send``: a send locks the recipient's ``users`` row, then
        inserts into ``offline`` a key above every row there, which waits for no lock
        a pull holds. On PostgreSQL the pull is one statement that deletes ``offline``
        rows and updates the ``users`` row; it may wait for a send's row lock, but the
        send never waits for it, so no cycle can form. MySQL/MariaDB take the locks in
        the send's order (``users`` row first, ``statements.MARK``); SQLite lets one
        writer in at a time. Deadlocks between two pulls of one user cannot form either
        (same order); a deadlock victim would be retried anyway.
        """
        def page(rows: Rows) -> Inbox:
            return Inbox(tuple(_messages(rows, limit)), len(rows) > limit)

        if self._postgres:
            params = {"user": uid, "ack": ack or 0, "limit": limit + 1, "returned": limit}
            return self._runner.run(
                lambda unit: page(unit.rows(sql.PG_ACK_AND_PULL, params)), WRITE_STATEMENT
            )
        if ack is None:
            # A read; the mark is raised after it, in its own statement, only when the
            # page goes past it. Safe apart: every message to ``uid`` up to the page's
            # top is in this page or an earlier one (id order is commit order), and a
            # concurrent ack reading the old mark deletes less, never more.
            params = {"uid": uid, "limit": limit + 1}
            rows = self._runner.run(lambda unit: unit.rows(sql.PULL_WITH_MARK, params), READ)
            top = max(rows.column("msgid")[:limit], default=0)
            if rows and top > rows.value("pulled_through"):
                self._runner.run(
                    lambda unit: unit.execute(sql.RAISE_MARK, {"user": uid, "top": top}),
                    WRITE_STATEMENT,
                )
            return page(rows)

        def ack_then_pull(unit: Unit) -> Inbox:
            marks = unit.column(sql.MARK, {"uid": uid}, "pulled_through")
            mark = marks[0] if marks else 0
            unit.execute(sql.ACK, {"uid": uid, "through": min(ack, mark)})
            inbox = page(unit.rows(sql.PULL, {"uid": uid, "limit": limit + 1}))
            if inbox.messages and marks:
                top = inbox.messages[-1].msgid
                if top > mark:
                    unit.execute(sql.RAISE_MARK, {"user": uid, "top": top})
            return inbox

        return self._runner.run(ack_then_pull, WRITE_TRANSACTION)

    def history(
        self, uid: str, peer: str, before: int | None, after: int | None, limit: int
    ) -> list[Message]:
        params = {
            "conversation": conversation_key(uid, peer),
            "low": _NO_BOUND if after is None else after,
            "high": _TOP if before is None else before - 1,
            "limit": limit,
        }
        return self._read(uid, lambda unit: _messages(unit.rows(sql.HISTORY, params)))

    def contacts(self, uid: str) -> list[str]:
        # Sorted here, by code point: a database collation may order "Bob" after "alice".
        found = self._read(uid, lambda unit: unit.column(sql.CONTACTS, {"uid": uid}, "contact"))
        return sorted(found)

    def add_contact(self, uid: str, contact: str, max_contacts: int | None = None) -> None:
        self._add(uid, contact, max_contacts, "contact")

    def remove_contact(self, uid: str, contact: str) -> None:
        params = {"uid": uid, "contact": contact}
        self._runner.run(lambda unit: unit.execute(sql.REMOVE_CONTACT, params), WRITE_STATEMENT)
        self._wrote(uid)

    def listed_by(self, uid: str, owners: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(owners))
        found: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            found.update(self._listed_by(uid, wanted[start : start + _CHUNK]))
        return found

    def _listed_by(self, uid: str, owners: list[str]) -> list[str]:
        params = {"uid": uid, "owners": owners}
        return self._runner.run(lambda unit: unit.column(sql.LISTED_BY, params, "owner"), READ)

    def blocks(self, uid: str) -> list[str]:
        found = self._read(uid, lambda unit: unit.column(sql.BLOCKS, {"uid": uid}, "blocked"))
        return sorted(found)

    def block(self, uid: str, blocked: str, max_blocks: int | None = None) -> None:
        self._add(uid, blocked, max_blocks, "blocked")

    def unblock(self, uid: str, blocked: str) -> None:
        params = {"uid": uid, "blocked": blocked}
        self._runner.run(lambda unit: unit.execute(sql.REMOVE_BLOCK, params), WRITE_STATEMENT)
        self._wrote(uid)

    def _add(self, uid: str, other: str, limit: int | None, kind: str) -> None:
        """Add ``other`` to ``uid``'s contacts (``kind`` "contact") or blocks ("blocked").

        ``uid``'s row is locked first, so two adds to one list run one after the
        other and the bound holds; users are never deleted, so the check that both
        are known stays true.
        """
        params = {"uid": uid, kind: other}
        insert, tally, full = (
            (self._upserts.add_contact, sql.CONTACT_TALLY, TooManyContacts)
            if kind == "contact"
            else (self._upserts.block, sql.BLOCK_TALLY, TooManyBlocks)
        )

        def work(unit: Unit) -> None:
            known = set(unit.column(sql.KNOWN, {"uids": [uid, other]}, "uid"))
            for who in (other, uid):
                if who not in known:
                    raise UnknownUser(who)
            if limit is not None:
                unit.execute(sql.LOCK_USER, {"uid": uid})
                counts = unit.rows(tally, params)
                if not counts.value("present") and counts.value("entries") >= limit:
                    raise full(limit)
            unit.execute(insert, params)

        self._runner.run(work, LOCKED_TRANSACTION if limit is not None else WRITE_TRANSACTION)
        self._wrote(uid)

    def sent(self, sender: str, client_msg_id: str) -> Message | None:
        params = {"sender": sender, "client_msg_id": client_msg_id}
        found = self._runner.run(lambda unit: _messages(unit.rows(sql.FIND_SENT, params)), READ)
        return found[0] if found else None

    def ping(self) -> None:
        self._runner.run(lambda unit: unit.execute(sql.PING, {}), READ)
