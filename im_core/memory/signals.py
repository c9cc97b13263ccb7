"""Rings, waiters and inbox hints within one process."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from im_core.ports import (
    INBOX_HINT_TTL_MS,
)
from im_core.ports.signals import InboxHint, SignalsUnavailable, Waiter

__all__ = ["InMemoryInboxSignals"]


class _LocalWaiter:
    """A ``Waiter`` on a ``threading.Event`` (cooperative under gevent's patching)."""

    __slots__ = ("_event", "_signals", "uid")

    def __init__(self, signals: InMemoryInboxSignals, uid: str) -> None:
        self._signals = signals
        self._event = threading.Event()
        self.uid = uid

    def wait(self, timeout_s: float) -> bool:
        if self._signals.closed:
            return False
        rung = self._event.wait(max(0.0, timeout_s))
        # Cleared after waking: a ring that lands in between bumped the hint's version
        # first, and the caller reads the inbox after this returns, so nothing is missed.
        self._event.clear()
        return rung and not self._signals.is_closed()

    def close(self) -> None:
        self._signals._forget(self)

    def _wake(self) -> None:
        self._event.set()


class InMemoryInboxSignals:
    """Rings, waiters and inbox hints inside one process.

    The embedded default (one process: a ring wakes waiters directly), and the local
    half of every other implementation: those add a bus that carries rings between
    processes and call ``deliver`` for each ring that arrives, and ``deliver_all``
    when they may have missed some.

    Hints are kept for players seen recently (``hint`` was called within
    ``INBOX_HINT_TTL_MS``), in the order of their last use, so forgetting the rest
    costs nothing per call beyond popping them off the front.
    """

    def __init__(self) -> None:
        self.down = False
        self.closed = False
        self._lock = threading.Lock()
        self._waiters: dict[str, set[_LocalWaiter]] = {}
        # uid -> [version, version seen empty (-1: none), mark lapses at, last used]
        self._hints: OrderedDict[str, list[int]] = OrderedDict()

    def ring(self, uid: str) -> None:
        if self.down:
            raise SignalsUnavailable("the in-memory signals are switched off")
        self.deliver(uid)

    def ring_many(self, uids: Iterable[str]) -> None:
        if self.down:
            raise SignalsUnavailable("the in-memory signals are switched off")
        for uid in uids:
            self.deliver(uid)

    def deliver(self, uid: str) -> None:
        """Take a ring for ``uid``: the hint's version moves on, then waiters wake."""
        with self._lock:
            hint = self._hints.get(uid)
            if hint is not None:
                hint[0] += 1
            waiters = list(self._waiters.get(uid, ()))
        for waiter in waiters:
            waiter._wake()

    def deliver_all(self) -> None:
        """Rings may have been missed: forget every mark and wake every waiter."""
        with self._lock:
            for hint in self._hints.values():
                hint[0] += 1
            waiters = [w for group in self._waiters.values() for w in group]
        for waiter in waiters:
            waiter._wake()

    def hint(self, uid: str, now_ms: int) -> InboxHint:
        with self._lock:
            self._sweep(now_ms)
            hint = self._hints.get(uid)
            if hint is None:
                hint = self._hints[uid] = [0, -1, 0, now_ms]
            else:
                hint[3] = now_ms
                self._hints.move_to_end(uid)
            return InboxHint(hint[0], hint[1] == hint[0] and hint[2] > now_ms)

    def mark_empty(self, uid: str, version: int, now_ms: int) -> None:
        with self._lock:
            hint = self._hints.get(uid)
            if hint is not None and hint[0] == version:
                hint[1] = version
                hint[2] = now_ms + INBOX_HINT_TTL_MS

    def listen(self, uid: str) -> Waiter:
        waiter = _LocalWaiter(self, uid)
        with self._lock:
            self._waiters.setdefault(uid, set()).add(waiter)
        return waiter

    def is_closed(self) -> bool:
        return self.closed

    def close(self) -> None:
        """The process is stopping: every wait, now or later, returns ``False`` at once.

        Held long-polls then answer with what the inbox holds instead of running into
        the server's shutdown deadline.
        """
        self.closed = True
        self.deliver_all()

    def waiting(self) -> int:
        """How many waiters are open in this process (for metrics)."""
        with self._lock:
            return sum(len(group) for group in self._waiters.values())

    def ping(self) -> None:
        if self.down:
            raise SignalsUnavailable("the in-memory signals are switched off")

    def _forget(self, waiter: _LocalWaiter) -> None:
        with self._lock:
            group = self._waiters.get(waiter.uid)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self._waiters[waiter.uid]

    def _sweep(self, now_ms: int) -> None:
        while self._hints:
            uid, hint = next(iter(self._hints.items()))
            if hint[3] + INBOX_HINT_TTL_MS > now_ms:
                return
            del self._hints[uid]
