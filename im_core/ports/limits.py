"""The rate-limit port: how often one key (a player, an address) may act.

Limits are shared by every node when the limiter is (Redis); the in-memory one limits
each process on its own, which is right for one process only.
"""

from __future__ import annotations

from typing import Protocol

from im_core.errors import StorageUnavailable

__all__ = ["RateLimiter", "RateLimiterUnavailable", "interval_ms"]


def interval_ms(limit: int, window_ms: int) -> int:
    """The time one hit takes to earn back: ``window_ms / limit``, rounded up."""
    if limit < 1 or window_ms < 1:
        raise ValueError(f"a rate limit needs limit >= 1 and window_ms >= 1, "
                         f"not {limit} per {window_ms} ms")
    return -(-window_ms // limit)


class RateLimiterUnavailable(StorageUnavailable):
    """The limiter's store did not answer in time; the use case decides what follows."""


class RateLimiter(Protocol):
    """Counts hits per key and refuses those over ``limit`` per ``window_ms``.

    Contract (times in milliseconds since the epoch, on the caller's clock):
        - ``hit(key, limit, window_ms, now_ms)`` returns ``0`` and counts the hit if
          ``key`` may act now; otherwise it counts nothing and returns how many
          milliseconds (at least 1) to wait before a hit would be allowed.
        - It is a token bucket: after a quiet spell ``limit`` hits are allowed at
          once, and then one more every ``interval_ms(limit, window_ms)``
          (``window_ms / limit``, rounded up), whatever the window's edges.
        - Keys are independent; a key's state lives no longer than the bucket takes
          to refill.
        - ``ping()`` returns if the limiter answers.
        - Both raise ``RateLimiterUnavailable`` when the store cannot answer in
          bounded time.
    """

    def hit(self, key: str, limit: int, window_ms: int, now_ms: int) -> int: ...

    def ping(self) -> None: ...
