"""Redis restarted empty: players log in again and nothing is lost; no node restarts.

Two real ``im-server serve`` nodes share a private ``redis-server`` (started by the
test on a free port, without persistence, so a restart forgets every session, as a
Redis without persistence that crashed does) and one scratch PostgreSQL database.
After the restart the clients get 401 ``session_expired``, log in again and go on:
the messages sent before the restart (one delivered, one still in the inbox) and
after it all arrive, once. The nodes' ring subscriptions reconnect by themselves: a
long-poll on node B is woken by a send on node A well before its wait ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.fault_kit import Node, PrivateRedis, call, clean_env, login, migrate, nodes

WAIT_S = 8  # the longest wait (4/5 of the 10 s TTL)
WOKEN_WITHIN_S = 3.0


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def _until(port: int, method: str, path: str, body: Any, token: str | None,
           wanted: set[int]) -> tuple[int, Any]:
    """Call until the answer is one of ``wanted`` (503s while Redis comes back)."""
    deadline = time.monotonic() + 15
    while True:
        status, answer, took = call(port, method, path, body, token)
        assert took < 1.0 + 1.5, f"{path} took {took:.1f} s"
        if status in wanted:
            return status, answer
        assert status == 503 and time.monotonic() < deadline, (status, answer)
        time.sleep(0.1)


def _send(port: int, token: str, body: str) -> tuple[int, Any]:
    return _until(port, "POST", "/v1/messages",
                  {"to": "bob", "body": body, "client_msg_id": body}, token, {200, 201, 401})


def _long_poll_is_woken_by_a_send_on_the_other_node(a: Node, b: Node, alice: str, bob: str,
                                                    ack: int | None, body: str) -> int:
    answers: list[tuple[int, Any, float]] = []
    poll = threading.Thread(target=lambda: answers.append(call(
        b.port, "POST", "/v1/heartbeat", {"ack": ack, "wait": WAIT_S}, bob,
        timeout=WAIT_S + 5)))
    poll.start()
    time.sleep(0.5)  # the long-poll is held on B
    sent_at = time.monotonic()
    assert _send(a.port, alice, body)[0] == 201
    poll.join(timeout=WAIT_S + 10)
    status, answer, _ = answers[0]
    woken_after = time.monotonic() - sent_at
    assert status == 200, answer
    assert [m["body"] for m in answer["messages"]] == [body]
    assert woken_after < WOKEN_WITHIN_S, (
        f"the long-poll was answered {woken_after:.1f} s after the send: not woken by a ring")
    msgid: int = answer["messages"][0]["msgid"]
    return msgid


@pytest.mark.postgres
def test_after_redis_restarts_empty_clients_log_in_again_and_no_message_is_lost(
    tmp_path: Path, private_redis: PrivateRedis, postgres_url: str,
) -> None:
    migrate(postgres_url, tmp_path)
    env = clean_env({"IM_DATABASE_URL": postgres_url,
                     "IM_SESSION_STORE_URL": private_redis.url}, tmp_path)
    with nodes(2, env, tmp_path) as (a, b):
        alice, bob = login(a.port, "alice"), login(b.port, "bob")
        first = _long_poll_is_woken_by_a_send_on_the_other_node(a, b, alice, bob, None,
                                                                "before-1")
        assert _send(a.port, alice, "before-2")[0] == 201  # left in bob's inbox

        private_redis.restart()

        # Every session is gone: 401, log in again (on the same nodes), go on.
        assert _send(a.port, alice, "after-1")[0] == 401
        status, _ = _until(b.port, "POST", "/v1/heartbeat", {"ack": first}, bob,
                           {200, 401})
        assert status == 401
        alice, bob = login(a.port, "alice"), login(b.port, "bob")
        assert _send(a.port, alice, "after-1")[0] == 201
        assert _send(a.port, alice, "before-2")[0] == 200  # still stored once
        status, inbox = _until(b.port, "POST", "/v1/heartbeat", {"ack": first}, bob, {200})
        assert [m["body"] for m in inbox["messages"]] == ["before-2", "after-1"]
        last = inbox["messages"][-1]["msgid"]

        # The ring subscriptions came back by themselves: a long-poll on B is woken by
        # a send on A, with no restart of either node.
        _long_poll_is_woken_by_a_send_on_the_other_node(a, b, alice, bob, last, "after-2")

        status, page = _until(a.port, "GET", "/v1/messages/history?peer=bob", None, alice,
                              {200})
        assert [m["body"] for m in page["messages"]] == [
            "after-2", "after-1", "before-2", "before-1"]
        assert a.process.poll() is None and b.process.poll() is None
