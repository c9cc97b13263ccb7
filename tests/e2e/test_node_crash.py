"""A node killed with SIGKILL in the middle of a send load loses nothing and doubles nothing.

Two real ``im-server serve`` nodes share one Redis namespace and one scratch
PostgreSQL database. Players long-poll on both nodes; senders alternate between them.
Node A is killed (SIGKILL to its whole process group: gunicorn master and worker)
while sends are in flight. The clients do what docs/api.md tells them: a send that got
no answer (connection refused or reset, or a timeout) is retried on the other node
with the same ``client_msg_id``; a long-poll whose node died goes on on the other one
with the same session token (sessions live in Redis, not in the node).

Afterwards every send that got a 2xx is in its recipient's delivered set, once, and in
history exactly once (by the API on the surviving node and in the database), with the
msgid its 2xx answer gave.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.e2e.fault_kit import Node, ServerDown, call, clean_env, login, migrate, nodes

SENDERS = [f"s{i}" for i in range(4)]
RECIPIENTS = [f"r{i}" for i in range(6)]
PER_SENDER = 40
WAIT_S = 3


@pytest.mark.redis
@pytest.mark.postgres
def test_a_node_killed_mid_load_loses_no_acknowledged_message_and_stores_none_twice(
    tmp_path: Path, redis_url: str, redis_namespace: str, postgres_url: str,
) -> None:
    migrate(postgres_url, tmp_path)
    env = clean_env({"IM_DATABASE_URL": postgres_url, "IM_SESSION_STORE_URL": redis_url,
                     "IM_REDIS_NAMESPACE": redis_namespace, "IM_STORAGE_TIMEOUT": "2"},
                    tmp_path)
    with nodes(2, env, tmp_path) as (a, b):
        _run(a, b, postgres_url)


def _run(a: Node, b: Node, database_url: str) -> None:
    tokens = {uid: login(b.port, uid) for uid in SENDERS + RECIPIENTS}
    home = {uid: (a if i < len(RECIPIENTS) // 2 else b) for i, uid in enumerate(RECIPIENTS)}
    other = {a.port: b, b.port: a}
    stop = threading.Event()
    errors: list[str] = []
    received: dict[str, list[int]] = defaultdict(list)
    acknowledged: dict[str, tuple[str, int]] = {}  # client_msg_id -> (recipient, msgid)
    failovers = Counter[str]()
    sent = Counter[str]()
    lock = threading.Lock()

    def recipient(uid: str) -> None:
        node, ack = home[uid], None
        while not stop.is_set():
            try:
                status, answer, _ = call(node.port, "POST", "/v1/heartbeat",
                                         {"ack": ack, "wait": WAIT_S}, tokens[uid],
                                         timeout=WAIT_S + 5)
            except ServerDown:
                node = other[node.port]  # the client's failover: the other node
                with lock:
                    failovers["long-poll"] += 1
                continue
            if status == 503:
                time.sleep(0.1)
                continue
            if status != 200:
                errors.append(f"{uid} heartbeat: {status} {answer}")
                return
            msgids = [m["msgid"] for m in answer["messages"]]
            with lock:
                received[uid] += msgids
            if msgids:
                ack = msgids[-1]

    def sender(index: int, uid: str) -> None:
        for n in range(PER_SENDER):
            cmid = f"{uid}-{n}"
            to = RECIPIENTS[(index + n) % len(RECIPIENTS)]
            node = a if n % 2 == 0 else b
            body = {"to": to, "body": f"message {cmid}", "client_msg_id": cmid}
            deadline = time.monotonic() + 30
            while True:
                assert time.monotonic() < deadline, f"{cmid} was never answered"
                try:
                    status, answer, _ = call(node.port, "POST", "/v1/messages", body,
                                             tokens[uid], timeout=5)
                except ServerDown:
                    with lock:
                        failovers["send"] += 1
                    node = other[node.port]  # the same client_msg_id, on the other node
                    continue
                if status == 503:
                    time.sleep(0.1)
                    node = other[node.port]
                    continue
                if status not in (200, 201):
                    errors.append(f"{cmid}: {status} {answer}")
                    return
                with lock:
                    if cmid in acknowledged:  # a retry answered 200: same message
                        assert acknowledged[cmid] == (to, answer["msgid"])
                    acknowledged[cmid] = (to, answer["msgid"])
                    sent["ok"] += 1
                break

    def guarded(target: Any, *args: Any) -> None:
        try:
            target(*args)
        except BaseException as error:  # a client thread that dies must fail the test
            errors.append(f"{target.__name__}{args}: {error!r}")

    pollers = [threading.Thread(target=guarded, args=(recipient, uid)) for uid in RECIPIENTS]
    senders = [threading.Thread(target=guarded, args=(sender, i, uid))
               for i, uid in enumerate(SENDERS)]
    for thread in pollers + senders:
        thread.start()
    try:
        # Kill node A once a third of the load has been answered: sends are in flight.
        deadline = time.monotonic() + 30
        while sent["ok"] < len(SENDERS) * PER_SENDER // 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        a.kill_hard()
        for thread in senders:
            thread.join(timeout=60)
        assert not errors, errors
        expected: dict[str, set[int]] = defaultdict(set)
        for to, msgid in acknowledged.values():
            expected[to].add(msgid)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with lock:
                if all(expected[uid] <= set(received[uid]) for uid in RECIPIENTS):
                    break
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in pollers:
            thread.join(timeout=WAIT_S + 10)
    assert not errors, errors

    assert len(acknowledged) == len(SENDERS) * PER_SENDER
    assert failovers["send"] > 0, "no send was cut by the kill: the test proved nothing"
    assert failovers["long-poll"] >= len(RECIPIENTS) // 2

    # Delivered: every 2xx message reached its recipient's long-poll loop, including
    # the players that were waiting on the surviving node all along.
    for uid in RECIPIENTS:
        missing = expected[uid] - set(received[uid])
        assert not missing, f"{uid} never received {sorted(missing)}"
        assert set(received[uid]) == expected[uid], f"{uid} received messages nobody sent"

    # History, through the API of the surviving node: each message exactly once.
    seen = Counter[str]()
    for uid in SENDERS:
        for peer in RECIPIENTS:
            before = None
            while True:
                query = f"/v1/messages/history?peer={peer}&limit=100"
                if before is not None:
                    query += f"&before={before}"
                status, page, _ = call(b.port, "GET", query, token=tokens[uid])
                assert status == 200, page
                for message in page["messages"]:
                    cmid = message["client_msg_id"]
                    seen[cmid] += 1
                    assert acknowledged[cmid] == (message["to"], message["msgid"])
                before = page["next_before"]
                if before is None:
                    break
    assert seen == Counter(dict.fromkeys(acknowledged, 1))

    # And in the database: one history row per message, every inbox row has its message.
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows: list[Any] = list(connection.execute(sa.text(
                "SELECT sender, client_msg_id, count(*) FROM messages "
                "GROUP BY sender, client_msg_id")))
            orphans = connection.execute(sa.text(
                "SELECT count(*) FROM offline o LEFT JOIN messages m ON m.msgid = o.msgid "
                "WHERE m.msgid IS NULL")).scalar_one()
    finally:
        engine.dispose()
    assert {cmid: count for _, cmid, count in rows} == dict.fromkeys(acknowledged, 1)
    assert orphans == 0
