"""The database stopped and started under load: 503s only, nothing half-written, recovery.

The shared PostgreSQL server cannot be stopped by a test, so a relay stands in front
of it (``Relay``): "stopped" means every open connection is reset and every new
one is reset as soon as it is accepted, as a stopped server's port does; "started"
means connections go through again, to the same data. A real ``im-server serve``
reaches the scratch database only through that relay.

While senders, pullers (some acking, some not) and history readers run, the
database is stopped for 3 s and started again. Every request is answered within
``IM_STORAGE_TIMEOUT`` plus a margin, with its usual answer or a 503
``storage_unavailable``, never a 500; senders retry their 503s with the same
``client_msg_id`` until stored. Afterwards the tables hold no half-written message (an
inbox row without its history row, or, for recipients that never ack, a history row
without its inbox row) and each message once, and the same process serves on.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.e2e.fault_kit import (
    TIMEOUT_S,
    Node,
    Relay,
    call,
    clean_env,
    login,
    migrate,
)

MARGIN_S = 1.5
SENDERS = ["s0", "s1", "s2", "s3"]
KEEPERS = ["r0", "r1"]  # pull without ever acking: their inbox keeps every message
ACKERS = ["r2", "r3"]  # pull and ack as they go
CUT_AFTER_S, CUT_FOR_S, LOAD_S = 2.0, 3.0, 8.0
OK = {"send": {200, 201}, "pull": {200}, "history": {200}}


@pytest.mark.redis
@pytest.mark.postgres
def test_a_database_stopped_and_started_under_load_gets_only_503s_and_no_half_message(
    tmp_path: Path, redis_url: str, redis_namespace: str, postgres_url: str,
) -> None:
    migrate(postgres_url, tmp_path)
    parsed = make_url(postgres_url)
    relay = Relay((parsed.host or "127.0.0.1", int(parsed.port or 5432)))
    through = parsed.set(host="127.0.0.1", port=relay.port).render_as_string(
        hide_password=False)
    node = Node(clean_env({"IM_DATABASE_URL": through, "IM_SESSION_STORE_URL": redis_url,
                           "IM_REDIS_NAMESPACE": redis_namespace}, tmp_path), tmp_path)
    try:
        _run(node, relay, postgres_url)
    finally:
        node.stop()
        relay.close()


def _run(node: Node, relay: Relay, database_url: str) -> None:
    port = node.port
    tokens = {uid: login(port, uid) for uid in SENDERS + KEEPERS + ACKERS}
    stop = threading.Event()
    lock = threading.Lock()
    answers: list[tuple[str, float, int, Any, float]] = []  # kind, at, status, answer, took
    stored: dict[str, tuple[str, int]] = {}  # client_msg_id -> (recipient, msgid)
    started = time.monotonic()

    def record(kind: str, status: int, answer: Any, took: float) -> None:
        with lock:
            answers.append((kind, time.monotonic() - started, status, answer, took))

    def sender(uid: str) -> None:
        n = 0
        while not stop.is_set():
            cmid, to = f"{uid}-{n}", (KEEPERS + ACKERS)[n % 4]
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # the client retries its 503s, same id
                status, answer, took = call(port, "POST", "/v1/messages", {
                    "to": to, "body": cmid, "client_msg_id": cmid}, tokens[uid])
                record("send", status, answer, took)
                if status in (200, 201):
                    with lock:
                        stored[cmid] = (to, answer["msgid"])
                    break
                if status != 503:
                    return
                time.sleep(0.1)
            n += 1
            time.sleep(0.02)

    def puller(uid: str, acks: bool) -> None:
        ack = None
        while not stop.is_set():
            status, answer, took = call(port, "POST", "/v1/heartbeat",
                                        {"ack": ack if acks else None}, tokens[uid])
            record("pull", status, answer, took)
            if status == 200 and answer["messages"]:
                ack = answer["messages"][-1]["msgid"]
            time.sleep(0.1)

    def reader(uid: str) -> None:
        while not stop.is_set():
            status, answer, took = call(port, "GET", "/v1/messages/history?peer=r0&limit=20",
                                        None, tokens[uid])
            record("history", status, answer, took)
            time.sleep(0.1)

    crashed: list[str] = []

    def guarded(target: Any, *args: Any) -> None:
        try:
            target(*args)
        except BaseException as error:  # no answer at all is a failure too
            crashed.append(f"{target.__name__}{args}: {error!r}")

    threads = [threading.Thread(target=guarded, args=(sender, uid)) for uid in SENDERS]
    threads += [threading.Thread(target=guarded, args=(puller, uid, uid in ACKERS))
                for uid in KEEPERS + ACKERS]
    threads += [threading.Thread(target=guarded, args=(reader, "s0"))]
    for thread in threads:
        thread.start()
    try:
        time.sleep(CUT_AFTER_S)
        relay.cut()
        cut_at = time.monotonic() - started
        time.sleep(CUT_FOR_S)
        relay.resume()
        resumed_at = time.monotonic() - started
        time.sleep(LOAD_S - CUT_AFTER_S - CUT_FOR_S)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    assert not crashed, crashed
    # Only the usual answers or 503 storage_unavailable, each within the timeout.
    statuses = Counter((kind, status) for kind, _, status, _, _ in answers)
    for kind, _, status, answer, took in answers:
        assert status in OK[kind] or (status, answer["code"]) == (503, "storage_unavailable"), (
            kind, status, answer)
        assert took < TIMEOUT_S + MARGIN_S, f"a {kind} took {took:.2f} s"
    assert sum(n for (_, status), n in statuses.items() if status == 503) > 0, (
        f"the stop was not felt: {statuses}")
    assert not any(status == 503 for _, at, status, _, _ in answers if at < cut_at - 0.5)
    # Recovered without a restart: every kind of call succeeded after the start again.
    for kind in OK:
        assert any(k == kind and status in OK[kind] and at > resumed_at + 0.5
                   for k, at, status, _, _ in answers), f"no {kind} succeeded after the start"
    assert call(port, "GET", "/readyz")[0] == 200
    assert node.process.poll() is None

    # Nothing half-written, each message once.
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            history = {row.client_msg_id: (row.recipient, row.msgid) for row in connection.execute(
                sa.text("SELECT client_msg_id, recipient, msgid FROM messages"))}
            count = connection.execute(sa.text("SELECT count(*) FROM messages")).scalar_one()
            inbox = {(row.recipient, row.msgid) for row in connection.execute(
                sa.text("SELECT recipient, msgid FROM offline"))}
    finally:
        engine.dispose()
    assert count == len(history) == len(stored)
    assert history == stored, "a 2xx send is missing from history, or one was stored unseen"
    assert inbox <= set(history.values()), "an inbox row without its history row"
    kept = {(to, msgid) for to, msgid in history.values() if to in KEEPERS}
    assert kept <= inbox, "a history row without its inbox row (never acked)"
