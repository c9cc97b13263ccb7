"""Rate limits counted in this process."""

from __future__ import annotations

import threading
from collections import OrderedDict

from im_core.ports import (
    RateLimiterUnavailable,
)
from im_core.ports.limits import interval_ms

__all__ = ["InMemoryRateLimiter"]


class InMemoryRateLimiter:
    """Token buckets in a dict: each process limits on its own (see the port).

    Buckets are kept in the order of their last change; one that has refilled holds
    nothing worth keeping, so it is freed from the front as time goes on (buckets of
    different limits refill at different paces, so a few may linger until a later
    sweep reaches them).
    """

    def __init__(self) -> None:
        self.down = False
        self._lock = threading.Lock()
        # key -> the time the bucket is full again (the "theoretical arrival time")
        self._full_at: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._full_at)

    def hit(self, key: str, limit: int, window_ms: int, now_ms: int) -> int:
        self.ping()
        interval = interval_ms(limit, window_ms)
        with self._lock:
            self._sweep(now_ms)
            after = max(self._full_at.get(key, now_ms), now_ms) + interval
            if after - now_ms > limit * interval:
                return after - limit * interval - now_ms
            self._full_at[key] = after
            self._full_at.move_to_end(key)
            return 0

    def ping(self) -> None:
        if self.down:
            raise RateLimiterUnavailable("the in-memory rate limiter is switched off")

    def _sweep(self, now_ms: int) -> None:
        while self._full_at:
            key, full_at = next(iter(self._full_at.items()))
            if full_at > now_ms:
                return
            del self._full_at[key]
