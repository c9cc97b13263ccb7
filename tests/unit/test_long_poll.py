"""The long-poll heartbeat: held while the inbox is empty, answered when a message lands.

These run the use case on the in-memory ports with real (short) waits in threads;
the HTTP form and the cross-node wake-up are in ``tests/e2e/test_long_poll.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from im_core import (
    ChatService,
    Inbox,
    InMemoryGameAuth,
    InMemoryInboxSignals,
    InMemoryMailbox,
    InMemorySessionStore,
    InvalidInput,
    Session,
    SessionExpired,
    SystemClock,
)

MAX_WAIT_MS = 1_500


@pytest.fixture
def service() -> ChatService:
    return ChatService(InMemorySessionStore(), InMemoryMailbox(), InMemoryGameAuth(),
                       SystemClock(), signals=InMemoryInboxSignals(), max_wait_ms=MAX_WAIT_MS)


def login(service: ChatService, uid: str) -> Session:
    auth = service.auth
    assert isinstance(auth, InMemoryGameAuth)
    return service.login(uid, auth.grant(uid), "ios")


def in_background(call: Callable[[], Any]) -> Callable[[], Any]:
    """Start ``call`` in a thread; return a function that joins it and gives its result."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except Exception as error:  # handed to the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()

    def result() -> Any:
        thread.join(timeout=10)
        assert not thread.is_alive(), "the held heartbeat never answered"
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    return result


def wait_until_held(service: ChatService, count: int = 1) -> None:
    signals = service.signals
    assert isinstance(signals, InMemoryInboxSignals)
    deadline = time.monotonic() + 5
    while signals.waiting() < count:
        assert time.monotonic() < deadline, "the heartbeat was never held"
        threading.Event().wait(0.005)


def test_a_heartbeat_without_wait_answers_at_once_with_an_empty_inbox(
    service: ChatService,
) -> None:
    bob = login(service, "bob")
    started = time.monotonic()
    assert service.heartbeat(bob) == Inbox((), False)
    assert time.monotonic() - started < 0.5


def test_a_waiting_heartbeat_answers_at_once_when_messages_are_waiting(
    service: ChatService,
) -> None:
    alice, bob = login(service, "alice"), login(service, "bob")
    message, _ = service.send(alice, "bob", "already here")
    started = time.monotonic()
    assert service.heartbeat(bob, wait=5).messages == (message,)
    assert time.monotonic() - started < 0.5


def test_a_held_heartbeat_is_answered_by_the_next_message_for_its_player(
    service: ChatService,
) -> None:
    alice, bob = login(service, "alice"), login(service, "bob")
    held = in_background(lambda: service.heartbeat(bob, wait=5))
    wait_until_held(service)
    sent_at = time.monotonic()
    message, _ = service.send(alice, "bob", "wake up")
    inbox = held()
    assert inbox.messages == (message,)
    assert time.monotonic() - sent_at < 0.5  # woken, not timed out


def test_a_message_for_another_player_does_not_answer_a_held_heartbeat(
    service: ChatService,
) -> None:
    alice, bob = login(service, "alice"), login(service, "bob")
    login(service, "carol")
    started = time.monotonic()
    held = in_background(lambda: service.heartbeat(bob, wait=0.4))
    wait_until_held(service)
    service.send(alice, "carol", "not for bob")
    assert held() == Inbox((), False)
    assert time.monotonic() - started >= 0.4


def test_a_wait_that_ends_answers_an_empty_inbox_and_keeps_the_session(
    service: ChatService,
) -> None:
    bob = login(service, "bob")
    started = time.monotonic()
    assert service.heartbeat(bob, wait=0.3) == Inbox((), False)
    assert time.monotonic() - started >= 0.3
    assert service.authenticate(str(bob.token), "heartbeat").uid == "bob"


def test_the_wait_is_capped_at_the_server_s_longest(service: ChatService) -> None:
    bob = login(service, "bob")
    started = time.monotonic()
    assert service.heartbeat(bob, wait=10**9) == Inbox((), False)
    assert MAX_WAIT_MS / 1000 <= time.monotonic() - started < MAX_WAIT_MS / 1000 + 1


def test_the_ack_is_applied_before_the_wait(service: ChatService) -> None:
    alice, bob = login(service, "alice"), login(service, "bob")
    first, _ = service.send(alice, "bob", "one")
    assert service.heartbeat(bob).messages == (first,)
    held = in_background(lambda: service.heartbeat(bob, ack=first.msgid, wait=5))
    wait_until_held(service)
    second, _ = service.send(alice, "bob", "two")
    assert held().messages == (second,)


def test_a_logout_elsewhere_ends_a_held_heartbeat_with_session_expired(
    service: ChatService,
) -> None:
    bob = login(service, "bob")
    held = in_background(lambda: service.heartbeat(bob, wait=5))
    wait_until_held(service)
    started = time.monotonic()
    service.logout(bob)  # the same session, from another device
    with pytest.raises(SessionExpired):
        held()
    assert time.monotonic() - started < 0.5


def test_every_held_heartbeat_of_a_player_is_answered(service: ChatService) -> None:
    alice, bob = login(service, "alice"), login(service, "bob")
    phone = login(service, "bob")
    held = [in_background(lambda s=s: service.heartbeat(s, wait=5)) for s in (bob, phone)]
    wait_until_held(service, 2)
    message, _ = service.send(alice, "bob", "both devices")
    assert [h().messages for h in held] == [(message,), (message,)]


@pytest.mark.parametrize("wait", [-1, -0.5, "5", True, [], {}])
def test_a_malformed_wait_is_invalid_input(service: ChatService, wait: object) -> None:
    bob = login(service, "bob")
    with pytest.raises(InvalidInput) as raised:
        service.heartbeat(bob, wait=wait)
    assert raised.value.field == "wait"


def test_the_longest_wait_must_stay_below_the_session_ttl() -> None:
    with pytest.raises(ValueError, match="max_wait_ms"):
        ChatService(InMemorySessionStore(), InMemoryMailbox(), InMemoryGameAuth(),
                    SystemClock(), session_ttl_ms=5_000, max_wait_ms=5_000)
    default = ChatService(InMemorySessionStore(), InMemoryMailbox(), InMemoryGameAuth(),
                          SystemClock(), session_ttl_ms=10_000)
    assert default.max_wait_ms == 8_000
