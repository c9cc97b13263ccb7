"""Adaptive heartbeats: how soon a client should call again.

A player in a conversation wants its messages within the heartbeat interval; an idle
one (in a menu, in a match) can call less often and save the server requests, as long
as the session never lapses between two calls. Activity is what this node saw: the
player sent, or was handed, a message within ``active_window_ms``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import attrs

__all__ = ["ACTIVE_WINDOW_MS_DEFAULT", "Activity", "HeartbeatPacing"]

ACTIVE_WINDOW_MS_DEFAULT = 30_000


@attrs.frozen
class HeartbeatPacing:
    """``active_ms`` between heartbeats in a conversation, ``idle_ms`` otherwise.

    ``idle_ms`` is at most half the session TTL (checked where the pacing is made),
    so one late heartbeat still finds the session alive.
    """

    active_ms: int
    idle_ms: int
    active_window_ms: int = ACTIVE_WINDOW_MS_DEFAULT

    @classmethod
    def for_ttl(cls, session_ttl_ms: int, active_ms: int, idle_ms: int | None = None,
                active_window_ms: int = ACTIVE_WINDOW_MS_DEFAULT) -> HeartbeatPacing:
        """A pacing whose idle interval keeps sessions alive (at most half the TTL)."""
        ceiling = max(session_ttl_ms // 2, active_ms)
        idle = ceiling if idle_ms is None else idle_ms
        if not 0 < active_ms < session_ttl_ms:
            raise ValueError(f"active_ms must be below the session TTL, not {active_ms}")
        if not active_ms <= idle <= ceiling:
            raise ValueError(
                f"idle_ms must be from {active_ms} to half the session TTL, not {idle}")
        return cls(active_ms, idle, active_window_ms)

    @classmethod
    def default_for(cls, session_ttl_ms: int) -> HeartbeatPacing:
        """2 s (a fifth of a shorter TTL) while active, half the TTL when idle."""
        active = max(1, min(2_000, session_ttl_ms // 5))
        return cls(active, max(active, session_ttl_ms // 2))

    def next_ms(self, active: bool) -> int:
        return self.active_ms if active else self.idle_ms


class Activity:
    """When each player last sent or received a message, on this node.

    Bounded (``capacity`` players, the least recently active forgotten first), so an
    idle population costs nothing here; forgetting a player only makes it "idle".
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self._capacity = capacity
        self._last: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._last)

    def saw(self, uid: str, now_ms: int) -> None:
        with self._lock:
            self._last[uid] = now_ms
            self._last.move_to_end(uid)
            while len(self._last) > self._capacity:
                self._last.popitem(last=False)

    def active(self, uid: str, now_ms: int, window_ms: int) -> bool:
        with self._lock:
            last = self._last.get(uid)
        return last is not None and now_ms - last < window_ms
