"""Policies around ports: each wraps one port and is that port again.

The use cases stay about the domain; what to do when a guard or a best-effort step
fails is decided here, once, and tested on its own (``tests/unit/test_policies.py``):

- ``FailOpenRateLimiter``: a limiter that cannot answer lets the action through,
  logged and counted, and is then left alone for ``LIMITER_PAUSE_MS``.
- ``BoundedGameAuth``: at most so many logins wait on the game's login service at once;
  one beyond is refused at once (``AuthUnavailable``) instead of queued.
- ``BestEffortSignals``: a ring after a commit that fails is logged and counted, never
  raised, since the commit is the answer's truth.

``ChatService`` builds them around the raw ports it is given, so callers keep handing
it plain ports (and keep seeing them as ``service.limiter``, ``service.auth``...).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from im_core.errors import StorageUnavailable
from im_core.ports.auth import AuthUnavailable, GameAuth
from im_core.ports.clock import Clock
from im_core.ports.limits import RateLimiter
from im_core.ports.signals import InboxHint, InboxSignals, Waiter

__all__ = [
    "LIMITER_PAUSE_MS",
    "BestEffort",
    "BestEffortSignals",
    "BoundedGameAuth",
    "FailOpenRateLimiter",
]

LIMITER_PAUSE_MS = 5_000
"""How long the rate limits are let through after the limiter failed to answer."""

log = logging.getLogger("im_core")


class FailOpenRateLimiter:
    """A ``RateLimiter`` that answers "allowed" when the one it wraps cannot answer.

    An outage of a guard must not stop the chat, and the stores behind the action
    answer for themselves. After a failure the inner limiter is not asked for
    ``pause_ms``, so that a hung limiter costs its timeout once, not on every call
    (a login asks it twice). Each failure is logged (naming the limit, never the key:
    it holds a uid or an address) and counted (``failures``).
    """

    def __init__(self, inner: RateLimiter, clock: Clock,
                 pause_ms: int = LIMITER_PAUSE_MS) -> None:
        self.inner = inner
        self._clock = clock
        self._pause_ms = pause_ms
        self._failures = 0
        self._paused_until = 0
        self._lock = threading.Lock()

    @property
    def failures(self) -> int:
        """How many hits could not be counted (and were let through) since start-up."""
        return self._failures

    def hit(self, key: str, limit: int, window_ms: int, now_ms: int, *,
            what: str = "rate") -> int:
        """The inner limiter's answer, or ``0`` if it failed or is paused.

        ``what`` names the limit in the log line ("sends", "logins").
        """
        if now_ms < self._paused_until:
            return 0
        try:
            return self.inner.hit(key, limit, window_ms, now_ms)
        except StorageUnavailable as error:
            with self._lock:
                self._failures += 1
                self._paused_until = self._clock.now_ms() + self._pause_ms
            log.warning("could not check the %s limit (let through): %s", what, error)
            return 0

    def ping(self) -> None:
        self.inner.ping()


class BoundedGameAuth:
    """A ``GameAuth`` that lets at most ``max_in_flight`` verifications wait at once.

    A login beyond the bound raises ``AuthUnavailable`` at once: a slow login service
    must not pile up requests, connections and memory behind it.
    """

    def __init__(self, inner: GameAuth, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
        self.inner = inner
        self.max_in_flight = max_in_flight
        self._slots = threading.BoundedSemaphore(max_in_flight)

    def verify(self, uid: str, game_token: str) -> None:
        if not self._slots.acquire(blocking=False):
            raise AuthUnavailable("too many logins are waiting for the game's login service")
        try:
            self.inner.verify(uid, game_token)
        finally:
            self._slots.release()

    def ping(self) -> None:
        self.inner.ping()


class BestEffort:
    """Runs best-effort steps that follow a commit: a failure is logged and counted.

    The commit is the answer's truth; a hint that could not be written costs a query or
    a bounded delay later, never a message, so its failure must not become an error.
    """

    def __init__(self) -> None:
        self._failures = 0
        self._lock = threading.Lock()

    @property
    def failures(self) -> int:
        """How many steps have failed since start-up."""
        return self._failures

    def run(self, what: str, step: Callable[..., None], *args: object) -> None:
        """``step(*args)``; a ``StorageUnavailable`` is logged (``what`` names the
        step, never its arguments) and counted instead of raised."""
        try:
            step(*args)
        except StorageUnavailable as error:
            with self._lock:
                self._failures += 1
            log.warning("after a commit, could not %s (answered anyway): %s", what, error)


class BestEffortSignals:
    """``InboxSignals`` whose ``ring`` never raises: a failed ring is logged and counted.

    Rings follow a commit; they only save work or latency (a wake-up, the inbox hint),
    and a lost one costs a query or at most ``INBOX_HINT_TTL_MS`` of delay, never a
    message. Every other call is the inner signals', unchanged.

    Args:
        inner: the signals rung.
        steps: counts the failures (shared with other after-commit steps, if given).
    """

    def __init__(self, inner: InboxSignals, steps: BestEffort | None = None) -> None:
        self.inner = inner
        self.steps = BestEffort() if steps is None else steps

    @property
    def failures(self) -> int:
        """How many after-commit steps (these rings among them) have failed."""
        return self.steps.failures

    def ring(self, uid: str, *, why: str = "ring") -> None:
        """Ring ``uid``; ``why`` says in the log line what the ring was for."""
        self.steps.run(why, self.inner.ring, uid)

    def hint(self, uid: str, now_ms: int) -> InboxHint:
        return self.inner.hint(uid, now_ms)

    def mark_empty(self, uid: str, version: int, now_ms: int) -> None:
        self.inner.mark_empty(uid, version, now_ms)

    def listen(self, uid: str) -> Waiter:
        return self.inner.listen(uid)

    def ping(self) -> None:
        self.inner.ping()

    def close(self) -> None:
        self.inner.close()
