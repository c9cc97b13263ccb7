"""Sessions in a dict: the embedded default's session store."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

import attrs

from im_core.models import Presence, Session, SessionToken
from im_core.ports import (
    MAX_SESSIONS_DEFAULT,
    LoginPolicy,
    SessionEnded,
    SessionReplaced,
    SessionStoreUnavailable,
)

__all__ = ["InMemorySessionStore"]


@attrs.define(slots=True)
class _Live:
    """What the store keeps of one session (small: there is one per online player)."""

    client_type: str
    command: str
    last_seen: int
    expires: int


_Key = tuple[str, str]
"""A session's key in the store: its uid and the digest of its secret, never the secret."""


def _key(token: SessionToken) -> _Key:
    return token.uid, token.digest


class InMemorySessionStore:
    """Sessions in a dict, expired ones freed as time goes on.

    Sessions sit in an ``OrderedDict`` in the order of their last call; with one TTL
    for all, that is also the order they expire in, so freeing the expired costs
    nothing per call beyond popping them off the front. Replaced sessions are
    remembered (by digest, until their TTL) the same way. Only digests of secrets
    are kept, as in Redis.
    """

    def __init__(self) -> None:
        self.down = False
        self._lock = threading.Lock()
        self._live: OrderedDict[_Key, _Live] = OrderedDict()
        # uid -> its live sessions' keys, in the order they were created
        self._by_uid: dict[str, dict[_Key, None]] = {}
        # key -> (forgotten at, ended by the server rather than replaced by a login)
        self._replaced: OrderedDict[_Key, tuple[int, bool]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._live)

    def create(
        self, session: Session, ttl_ms: int, max_sessions: int = MAX_SESSIONS_DEFAULT,
        policy: LoginPolicy = "many",
    ) -> int:
        self._check()
        _check_max_sessions(max_sessions)
        key = _key(session.token)
        now = session.last_seen
        entry = _Live(session.client_type, session.command, now, now + ttl_ms)
        with self._lock:
            self._sweep(now)
            self._drop(key)
            self._replaced.pop(key, None)
            others = self._by_uid.get(key[0], {})
            replaced = [k for k in others
                        if policy == "single" or (policy == "one-per-client-type"
                                                  and self._live[k].client_type
                                                  == session.client_type)]
            for old in replaced:
                self._end(old, now + ttl_ms, ended=False)
            others = self._by_uid.get(key[0], {})
            while len(others) >= max_sessions:
                # The one idle longest; among equals, the one created first.
                oldest = min(others, key=lambda k: self._live[k].last_seen)
                self._end(oldest, now + ttl_ms, ended=False)
                replaced.append(oldest)
            self._live[key] = entry
            self._by_uid.setdefault(key[0], {})[key] = None
            return len(replaced)

    def end_all(self, uid: str, now_ms: int, ttl_ms: int) -> int:
        self._check()
        with self._lock:
            self._sweep(now_ms)
            keys = list(self._by_uid.get(uid, {}))
            for key in keys:
                self._end(key, now_ms + ttl_ms, ended=True)
            return len(keys)

    def _end(self, key: _Key, forgotten_at: int, *, ended: bool) -> None:
        self._drop(key)
        self._replaced[key] = (forgotten_at, ended)
        self._replaced.move_to_end(key)

    def touch(
        self, token: SessionToken, command: str, now_ms: int, ttl_ms: int
    ) -> Session | None:
        self._check()
        key = _key(token)
        with self._lock:
            self._sweep(now_ms)
            entry = self._live.get(key)
            if entry is None:
                if key in self._replaced:
                    if self._replaced[key][1]:
                        raise SessionEnded("the game's server ended the session")
                    raise SessionReplaced("the session was replaced by a newer login")
                return None
            entry.command = command
            entry.last_seen = now_ms
            entry.expires = now_ms + ttl_ms
            self._live.move_to_end(key)
            return Session(token, entry.client_type, command, now_ms)

    def delete(self, token: SessionToken) -> None:
        self._check()
        with self._lock:
            self._drop(_key(token))

    def presence(self, uids: Iterable[str], now_ms: int) -> dict[str, Presence]:
        self._check()
        found: dict[str, Presence] = {}
        with self._lock:
            self._sweep(now_ms)
            for uid in uids:
                live = [self._live[k] for k in self._by_uid.get(uid, ())]
                if live:
                    latest = max(live, key=lambda e: e.last_seen)
                    found[uid] = Presence(True, latest.client_type, latest.last_seen)
        return found

    def ping(self) -> None:
        self._check()

    def _check(self) -> None:
        if self.down:
            raise SessionStoreUnavailable("the in-memory session store is switched off")

    def _sweep(self, now_ms: int) -> None:
        while self._live:
            key, entry = next(iter(self._live.items()))
            if entry.expires > now_ms:
                break
            self._drop(key)
        while self._replaced:
            key, (forgotten_at, _) = next(iter(self._replaced.items()))
            if forgotten_at > now_ms:
                break
            del self._replaced[key]

    def _drop(self, key: _Key) -> None:
        if self._live.pop(key, None) is None:
            return
        keys = self._by_uid[key[0]]
        del keys[key]
        if not keys:
            del self._by_uid[key[0]]


def _check_max_sessions(max_sessions: int) -> None:
    """Reject a cap that would end the session being created, as the caller's bug."""
    if max_sessions < 1:
        raise ValueError(f"max_sessions must be at least 1, not {max_sessions}")
