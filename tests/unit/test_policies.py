"""The policies around ports (``im_core.policies``), each on its own, with fakes."""

from __future__ import annotations

import logging
import threading

import pytest

from im_core import (
    AuthUnavailable,
    InMemoryGameAuth,
    InMemoryInboxSignals,
    InMemoryRateLimiter,
    InvalidCredentials,
    ManualClock,
)
from im_core.policies import (
    LIMITER_PAUSE_MS,
    BestEffort,
    BestEffortSignals,
    BoundedGameAuth,
    FailOpenRateLimiter,
)


def test_a_fail_open_limiter_passes_the_inner_answer_through_while_it_answers() -> None:
    clock = ManualClock()
    limiter = FailOpenRateLimiter(InMemoryRateLimiter(), clock)
    assert limiter.hit("k", 1, 1000, clock.now_ms()) == 0
    assert limiter.hit("k", 1, 1000, clock.now_ms()) == 1000
    assert limiter.failures == 0


def test_a_fail_open_limiter_lets_through_once_down_and_then_pauses_asking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, inner = ManualClock(), InMemoryRateLimiter()
    limiter = FailOpenRateLimiter(inner, clock)
    inner.down = True
    with caplog.at_level(logging.WARNING, "im_core"):
        assert limiter.hit("send:alice", 1, 60_000, clock.now_ms(), what="sends") == 0
        assert limiter.hit("send:alice", 1, 60_000, clock.now_ms(), what="sends") == 0
    assert limiter.failures == 1  # the second hit was not asked: paused
    assert "could not check the sends limit" in caplog.text
    assert "alice" not in caplog.text  # the key names a player
    inner.down = False
    clock.advance(LIMITER_PAUSE_MS - 1)
    assert limiter.hit("send:alice", 1, 60_000, clock.now_ms()) == 0  # still paused
    assert len(inner) == 0
    clock.advance(1)
    assert limiter.hit("send:alice", 1, 60_000, clock.now_ms()) == 0
    assert limiter.hit("send:alice", 1, 60_000, clock.now_ms()) > 0  # counted again


class HeldAuth(InMemoryGameAuth):
    """A login service that answers only when the test lets it."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def verify(self, uid: str, game_token: str) -> None:
        self.entered.release()
        self.release.wait(10)
        super().verify(uid, game_token)


def test_a_bounded_auth_refuses_a_verification_beyond_its_bound_and_frees_slots() -> None:
    inner = HeldAuth()
    auth = BoundedGameAuth(inner, 1)
    held = threading.Thread(target=auth.verify, args=("alice", inner.grant("alice")))
    held.start()
    assert inner.entered.acquire(timeout=5)
    with pytest.raises(AuthUnavailable, match="too many logins"):
        auth.verify("bob", inner.grant("bob"))
    inner.release.set()
    held.join(timeout=5)
    auth.verify("bob", inner.grant("bob"))
    with pytest.raises(InvalidCredentials):  # a refusal frees its slot too
        auth.verify("bob", "not bob's")
    auth.verify("bob", inner.grant("bob"))


def test_a_bounded_auth_needs_room_for_one_login() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BoundedGameAuth(InMemoryGameAuth(), 0)


def test_best_effort_signals_count_a_failed_ring_and_never_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inner = InMemoryInboxSignals()
    signals = BestEffortSignals(inner)
    waiter = signals.listen("bob")
    signals.ring("bob")
    assert waiter.wait(0)
    inner.down = True
    with caplog.at_level(logging.WARNING, "im_core"):
        signals.ring("bob", why="ring the recipient")
    assert signals.failures == 1
    assert "could not ring the recipient" in caplog.text
    waiter.close()


def test_best_effort_steps_raise_what_is_no_outage() -> None:
    steps = BestEffort()

    def broken() -> None:
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        steps.run("do a thing", broken)
    assert steps.failures == 0
