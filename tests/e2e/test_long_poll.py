"""The long-poll heartbeat over HTTP, on one node and across two nodes.

Two "nodes" here are two apps in this process, each with its own ring subscription,
over one Redis (or a 3-master Redis Cluster) and one PostgreSQL: a ring crosses
between them only through Redis.
(The same conversation against real server processes, and through nginx, is in
``tests/e2e/test_nodes.py``.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from unittest.mock import ANY

import falcon.testing
import pytest

from im_adapters.sql import SqlMailbox
from tests.e2e.conftest import Stack, build_stack

PACE = {"next_heartbeat_ms": ANY}  # a heartbeat answer's pacing, whatever it is


def in_background(call: Callable[[], falcon.testing.Result]) -> Callable[[], Any]:
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", call()))
    thread.start()

    def result() -> falcon.testing.Result:
        thread.join(timeout=15)
        assert not thread.is_alive(), "the held heartbeat never answered"
        return box["result"]

    return result


def wait_until_held(stack: Stack, count: int = 1) -> None:
    local = getattr(stack.service.signals, "local", stack.service.signals)
    deadline = time.monotonic() + 5
    while local.waiting() < count:
        assert time.monotonic() < deadline, "the heartbeat was never held"
        threading.Event().wait(0.005)


def test_login_tells_the_longest_wait_below_the_ttl(memory_stack: Stack) -> None:
    result = memory_stack.api.post("/v1/login", {
        "uid": "bob", "game_token": memory_stack.auth.grant("bob"), "client_type": "pc"})
    assert result.json["max_wait"] == 8
    assert result.json["max_wait"] < result.json["session_ttl"]


def test_a_held_heartbeat_answers_with_the_message_sent_meanwhile(memory_stack: Stack) -> None:
    api = memory_stack.api
    alice, bob = api.login("alice"), api.login("bob")
    held = in_background(lambda: api.post("/v1/heartbeat", {"wait": 5}, token=bob))
    wait_until_held(memory_stack)
    sent = api.send(alice, "bob", "live").json
    answer = held()
    assert answer.status_code == 200
    assert answer.json == {"messages": [sent], "more": False, **PACE}


def test_a_wait_of_zero_or_absent_answers_at_once(memory_stack: Stack) -> None:
    api = memory_stack.api
    bob = api.login("bob")
    for body in ({}, {"wait": 0}, {"wait": None}):
        started = time.monotonic()
        assert api.post("/v1/heartbeat", body, token=bob).json == {"messages": [],
                                                                    "more": False, **PACE}
        assert time.monotonic() - started < 1


@pytest.mark.parametrize("wait", [-1, "3", True, [1]])
def test_a_malformed_wait_is_400_and_deletes_nothing(memory_stack: Stack, wait: object) -> None:
    api = memory_stack.api
    alice, bob = api.login("alice"), api.login("bob")
    sent = api.send(alice, "bob", "keep me").json
    api.heartbeat(bob)
    result = api.post("/v1/heartbeat", {"ack": sent["msgid"], "wait": wait}, token=bob)
    assert result.status_code == 400 and result.json["code"] == "invalid_request"
    assert api.heartbeat(bob).json["messages"] == [sent]


@pytest.fixture(params=["redis", "redis-cluster"])
def two_nodes(request: pytest.FixtureRequest,
              sql_mailbox: Callable[..., SqlMailbox]) -> Iterator[tuple[Stack, Stack]]:
    """Two nodes whose sessions and rings are on one Redis, or on a Redis Cluster."""
    from im_adapters.redis_sessions import RedisSessionStore
    from im_adapters.redis_signals import RedisInboxSignals

    if request.param == "redis-cluster":
        redis_url = request.getfixturevalue("redis_cluster_url")
        redis_namespace = request.getfixturevalue("redis_cluster_namespace")
    else:
        redis_url = request.getfixturevalue("redis_url")
        redis_namespace = request.getfixturevalue("redis_namespace")
    mailbox = sql_mailbox("postgres")
    nodes, closers = [], []
    for name in ("node-a", "node-b"):
        sessions = RedisSessionStore.from_url(redis_url, namespace=redis_namespace)
        signals = RedisInboxSignals.from_url(redis_url, namespace=redis_namespace)
        signals.start()
        assert signals.wait_connected(5)
        closers += [sessions.close, signals.close]
        nodes.append(build_stack(name, sessions, mailbox, signals=signals))
    yield nodes[0], nodes[1]
    for close in closers:
        close()


@pytest.mark.redis
@pytest.mark.postgres
def test_a_send_on_one_node_wakes_the_heartbeat_held_on_the_other(
    two_nodes: tuple[Stack, Stack],
) -> None:
    a, b = two_nodes
    bob, alice = a.api.login("bob"), b.api.login("alice")
    held = in_background(lambda: a.api.post("/v1/heartbeat", {"wait": 5}, token=bob))
    wait_until_held(a)
    started = time.monotonic()
    sent = b.api.send(alice, "bob", "across nodes").json
    answer = held()
    assert answer.json["messages"] == [sent]
    assert time.monotonic() - started < 1  # woken by the ring, not by the end of the wait


@pytest.mark.redis
@pytest.mark.postgres
def test_a_logout_on_one_node_ends_the_heartbeat_held_on_the_other_with_401(
    two_nodes: tuple[Stack, Stack],
) -> None:
    a, b = two_nodes
    bob = a.api.login("bob")
    held = in_background(lambda: a.api.post("/v1/heartbeat", {"wait": 5}, token=bob))
    wait_until_held(a)
    started = time.monotonic()
    assert b.api.post("/v1/logout", token=bob).status_code == 204
    answer = held()
    assert answer.status_code == 401 and answer.json["code"] == "session_expired"
    assert time.monotonic() - started < 1


@pytest.mark.redis
@pytest.mark.postgres
def test_ending_sessions_on_one_node_ends_the_heartbeat_held_on_the_other_with_401(
    two_nodes: tuple[Stack, Stack],
) -> None:
    a, b = two_nodes
    bob = a.api.login("bob")
    held = in_background(lambda: a.api.post("/v1/heartbeat", {"wait": 5}, token=bob))
    wait_until_held(a)
    started = time.monotonic()
    assert b.api.server("DELETE", "/v1/server/players/bob/sessions").json == {"ended": 1}
    answer = held()
    assert (answer.status_code, answer.json["code"]) == (401, "session_ended")
    assert time.monotonic() - started < 1


@pytest.mark.redis
@pytest.mark.postgres
def test_a_single_login_on_one_node_ends_the_heartbeat_held_on_the_other_with_401(
    two_nodes: tuple[Stack, Stack],
) -> None:
    a, b = two_nodes
    single = build_stack("node-b-single", b.sessions, b.mailbox, signals=b.service.signals,
                         login_policy="single")
    bob = a.api.login("bob")
    held = in_background(lambda: a.api.post("/v1/heartbeat", {"wait": 5}, token=bob))
    wait_until_held(a)
    started = time.monotonic()
    single.api.login("bob", "pc")
    answer = held()
    assert (answer.status_code, answer.json["code"]) == (401, "session_replaced")
    assert time.monotonic() - started < 1


@pytest.mark.redis
@pytest.mark.postgres
def test_a_system_message_sent_on_one_node_wakes_the_heartbeat_held_on_the_other(
    two_nodes: tuple[Stack, Stack],
) -> None:
    a, b = two_nodes
    bob = a.api.login("bob")
    held = in_background(lambda: a.api.post("/v1/heartbeat", {"wait": 5}, token=bob))
    wait_until_held(a)
    started = time.monotonic()
    b.api.server("POST", "/v1/server/messages",
                 {"to": ["bob"], "body": "raid in 5", "client_msg_id": "raid"})
    answer = held()
    assert [m["body"] for m in answer.json["messages"]] == ["raid in 5"]
    assert time.monotonic() - started < 1
