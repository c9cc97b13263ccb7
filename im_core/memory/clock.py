"""Clocks: the system's, and a manual one that tests and simulations move by hand."""

from __future__ import annotations

import threading
import time

import attrs

__all__ = ["ManualClock", "SystemClock"]


class SystemClock:
    """The wall clock, never going backwards within the process."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        now = time.time_ns() // 1_000_000
        with self._lock:
            if now < self._last:
                return self._last
            self._last = now
            return now


@attrs.define
class ManualClock:
    """A clock that moves only when told to: TTLs become deterministic in tests."""

    now: int = 1_700_000_000_000

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms
