"""``next_heartbeat_ms``: short in a conversation, longer when idle, within the TTL."""

from __future__ import annotations

from tests.e2e.conftest import Stack


def test_an_idle_player_is_asked_to_call_less_often_than_an_active_one(
    memory_stack: Stack,
) -> None:
    api, clock = memory_stack.api, memory_stack.clock
    alice, bob = api.login("alice"), api.login("bob")
    idle = api.heartbeat(bob).json["next_heartbeat_ms"]
    assert idle == 5_000  # half the 10 s TTL: one late heartbeat still finds the session
    msgid = api.send(alice, "bob", "ready?").json["msgid"]
    assert api.heartbeat(bob).json["next_heartbeat_ms"] == 2_000  # handed a message
    assert api.heartbeat(alice).json["next_heartbeat_ms"] == 2_000  # sent one
    for _ in range(4):  # 32 s of heartbeats with nothing said: idle again
        clock.advance(8_000)
        pace = api.heartbeat(bob, ack=msgid).json["next_heartbeat_ms"]
        api.heartbeat(alice)
    assert pace == idle


def test_the_pacing_never_asks_for_a_gap_the_session_would_not_survive(
    memory_stack: Stack,
) -> None:
    short = memory_stack.with_session_ttl(3_000)
    bob = short.api.login("bob")
    assert short.api.heartbeat(bob).json["next_heartbeat_ms"] <= 1_500


def test_a_held_long_poll_and_a_page_with_more_waiting_ask_for_the_next_call_at_once(
    memory_stack: Stack,
) -> None:
    api = memory_stack.api
    alice, bob = api.login("alice"), api.login("bob")
    for n in range(3):
        api.send(alice, "bob", f"m{n}")
    assert api.heartbeat(bob, limit=2).json["next_heartbeat_ms"] == 0  # more: at once
    held = api.post("/v1/heartbeat", {"wait": 0.01}, token=bob).json
    assert held["next_heartbeat_ms"] == 0  # a long-poll is re-issued as soon as it answers
