"""Rows the scenarios need, written straight into the database, not through the API.

Filling inboxes and history through ``POST /v1/messages`` would take longer than the
run; COPY (PostgreSQL) or executemany (elsewhere) takes seconds, even for the scale
run's million rows. msgids still come from the table's identity in insertion order,
as the server's do.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from bench.settings import HISTORY_DEPTH, SCALE_CONVERSATIONS, SCALE_HISTORY, SCALE_INBOX

__all__ = ["direct_engine", "insert_messages", "scale_fill", "seed_history", "top_up_inboxes"]

FEEDER = "bench-feeder"
"""The sender of the messages that top up inboxes."""

_COLUMNS = ("conversation", "sender", "recipient", "body", "sent_at", "client_msg_id")


def direct_engine(url: str) -> Any:
    """An engine for the benchmark's own bulk work (a small pool, generous timeouts)."""
    from im_adapters.sql import create_engine_from_url

    return create_engine_from_url(url, pool_size=2, timeout=120)


def message_row(sender: str, recipient: str, body: str, client_msg_id: str | None,
                sent_at: int | None = None) -> dict[str, Any]:
    from im_adapters.sql.mailbox import conversation_key

    return {"conversation": conversation_key(sender, recipient), "sender": sender,
            "recipient": recipient, "body": body,
            "sent_at": sent_at if sent_at is not None else time.time_ns() // 1_000_000,
            "client_msg_id": client_msg_id}


def insert_messages(engine: Any, rows: Iterable[dict[str, Any]], chunk: int = 5000) -> int:
    """Bulk-insert message rows: COPY on PostgreSQL, executemany elsewhere.

    msgids come from the table's identity in insertion order, as the server's do.
    """
    from im_adapters.sql.tables import messages

    count = 0
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy(f"COPY messages ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(tuple(row[c] for c in _COLUMNS))
                    count += 1
            raw.commit()
        finally:
            raw.close()
        return count
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in rows:
            batch.append(row)
            if len(batch) >= chunk:
                conn.execute(messages.insert(), batch)
                count += len(batch)
                batch = []
        if batch:
            conn.execute(messages.insert(), batch)
            count += len(batch)
    return count


def seed_history(direct_url: str, pairs: list[tuple[str, str]]) -> None:
    """The history scenario's conversations: ``HISTORY_DEPTH`` messages each, both ways."""
    rows = []
    for n in range(HISTORY_DEPTH):
        for a, b in pairs:
            s, r = (a, b) if n % 2 == 0 else (b, a)
            rows.append(message_row(s, r, f"history message {n} between {a} and {b}", None))
    engine = direct_engine(direct_url)
    try:
        insert_messages(engine, rows)
    finally:
        engine.dispose()


def _queue(engine: Any, where: Any) -> int:
    """Put the messages ``where`` selects into their recipients' inboxes (``offline``),
    in one INSERT ... SELECT."""
    import sqlalchemy as sa

    from im_adapters.sql.tables import messages, offline

    select = sa.select(messages.c.recipient, messages.c.msgid).where(where)
    with engine.begin() as conn:
        rowcount: int = conn.execute(
            offline.insert().from_select(["recipient", "msgid"], select)).rowcount
        return rowcount


def queue_marked(engine: Any, sender: str, prefix: str) -> int:
    """Queue every message from ``sender`` whose client_msg_id starts with ``prefix``."""
    import sqlalchemy as sa

    from im_adapters.sql.tables import messages

    return _queue(engine, sa.and_(messages.c.sender == sender,
                                  messages.c.client_msg_id.like(f"{prefix}%")))


def note_new_messages(session_url: str, uids: list[str]) -> None:
    """Ring these players, as ``ChatService.send`` does, so that no server's "inbox
    known empty" hint hides the directly inserted rows."""
    from im_adapters.redis_signals import RedisInboxSignals

    signals = RedisInboxSignals.from_url(session_url, timeout=5)
    try:
        for uid in uids:
            signals.ring(uid)
    finally:
        signals.close()


def top_up_inboxes(direct_url: str, session_url: str, uids: list[str], per_player: int,
                   tag: str) -> dict[str, int]:
    """Make every inbox in ``uids`` hold at least ``per_player`` waiting messages.

    The in-memory session store lives inside the server process and cannot be told;
    there the inboxes simply never run dry (the scenario counts short pages).
    Returns, per uid, the ack to start from (the msgid just before its oldest waiting
    message), so the first heartbeat of a run deletes nothing it should not.
    """
    import sqlalchemy as sa

    from im_adapters.sql.tables import offline

    engine = direct_engine(direct_url)
    try:
        with engine.connect() as conn:
            have = dict(conn.execute(
                sa.select(offline.c.recipient, sa.func.count())
                .where(offline.c.recipient.in_(uids)).group_by(offline.c.recipient)).all())
        rows = []
        n = 0
        for uid in uids:
            for _ in range(max(0, per_player - have.get(uid, 0))):
                rows.append(message_row(FEEDER, uid, f"queued message {n} for {uid}",
                                        f"{tag}-{n}"))
                n += 1
        if rows:
            insert_messages(engine, rows)
            queue_marked(engine, FEEDER, f"{tag}-")
            if session_url.startswith("redis://"):
                note_new_messages(session_url, uids)
        with engine.connect() as conn:
            oldest = dict(conn.execute(
                sa.select(offline.c.recipient, sa.func.min(offline.c.msgid))
                .where(offline.c.recipient.in_(uids)).group_by(offline.c.recipient)).all())
        return {u: (oldest[u] - 1 if u in oldest else 0) for u in uids}
    finally:
        engine.dispose()


def scale_fill(direct_url: str) -> dict[str, Any]:
    """1,000,000 history messages (20,000 conversations of 50, interleaved) and 100,000
    of them waiting in inboxes, bulk-inserted, then the tables analyzed."""
    import sqlalchemy as sa

    from im_adapters.sql.tables import messages, offline

    engine = direct_engine(direct_url)
    t0 = time.monotonic()
    now = time.time_ns() // 1_000_000
    first_inbox = SCALE_HISTORY - SCALE_INBOX

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(SCALE_HISTORY):
            c = i % SCALE_CONVERSATIONS
            a, b = f"fl-{2 * c:05d}", f"fl-{2 * c + 1:05d}"
            s, r = (a, b) if (i // SCALE_CONVERSATIONS) % 2 == 0 else (b, a)
            yield message_row(s, r, f"filler message number {i} of the scale run",
                              f"fi-{i}" if i >= first_inbox else None, now)

    try:
        inserted = insert_messages(engine, rows(), chunk=10_000)
        t1 = time.monotonic()
        queued = _queue(engine, messages.c.client_msg_id.like("fi-%"))
        t2 = time.monotonic()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE messages")
                conn.exec_driver_sql("ANALYZE offline")
            elif engine.dialect.name == "mysql":
                conn.exec_driver_sql("ANALYZE TABLE messages, offline").all()
            else:
                conn.exec_driver_sql("ANALYZE")
        with engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(messages)).scalar()
            waiting = conn.execute(sa.select(sa.func.count()).select_from(offline)).scalar()
        return {"inserted": inserted, "queued": queued, "messages": total, "offline": waiting,
                "insert_s": round(t1 - t0, 1), "queue_s": round(t2 - t1, 1)}
    finally:
        engine.dispose()
