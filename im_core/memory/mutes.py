"""Mutes and bans in a dict: the embedded default's mute store."""

from __future__ import annotations

import threading

from im_core.ports.mutes import Mute, MuteStoreUnavailable

__all__ = ["InMemoryMuteStore"]


def _ends_last(mute: Mute) -> tuple[bool, int]:
    return (mute.until is None, mute.until or 0)


class InMemoryMuteStore:
    """Mutes keyed by ``(uid, scope)`` under one lock."""

    def __init__(self) -> None:
        self.down = False
        self._lock = threading.Lock()
        self._mutes: dict[tuple[str, str], Mute] = {}

    def put(self, mute: Mute) -> None:
        self._check()
        with self._lock:
            self._mutes[mute.uid, mute.scope] = mute

    def remove(self, uid: str, scope: str) -> bool:
        self._check()
        with self._lock:
            return self._mutes.pop((uid, scope), None) is not None

    def active(self, uid: str, scopes: tuple[str, ...], now_ms: int) -> Mute | None:
        self._check()
        with self._lock:
            live = [m for s in scopes if (m := self._mutes.get((uid, s))) is not None
                    and (m.until is None or m.until > now_ms)]
        return max(live, key=_ends_last, default=None)

    def list(self, uid: str, now_ms: int) -> list[Mute]:
        self._check()
        with self._lock:
            live = [m for (owner, _), m in self._mutes.items()
                    if owner == uid and (m.until is None or m.until > now_ms)]
        return sorted(live, key=lambda m: m.scope)

    def purge(self, now_ms: int, batch: int) -> int:
        self._check()
        with self._lock:
            lapsed = [k for k, m in self._mutes.items()
                      if m.until is not None and m.until <= now_ms][:batch]
            for key in lapsed:
                del self._mutes[key]
        return len(lapsed)

    def _check(self) -> None:
        if self.down:
            raise MuteStoreUnavailable("the in-memory mute store is switched off")
