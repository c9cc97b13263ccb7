"""A bounded stack of redis-py connections, shared by threads (the session store's pool)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from im_adapters import ConfigurationError

__all__ = ["Connections"]


class Connections:
    """A bounded stack of redis-py connections shared by every thread.

    Any number of threads may use the store: a thread takes a connection for one
    round trip and gives it back, so the pool's size bounds the sockets, not the
    threads. Taking is a ``list.pop`` (atomic under the GIL) while one is idle, which
    is nearly always; the lock is only for making a connection or waiting for one,
    and a wait longer than ``wait_s`` fails as an outage instead of hanging.
    Connections are never dropped, only disconnected: redis-py reconnects them on
    their next command.
    """

    def __init__(self, make: Callable[[], Any], limit: int, wait_s: float | None) -> None:
        if limit < 1:
            raise ConfigurationError(f"the Redis pool needs at least 1 connection, not {limit}")
        self._make = make
        self._limit = limit
        self._wait_s = wait_s
        self._idle: list[Any] = []
        self._made: list[Any] = []
        self._changed = threading.Condition(threading.Lock())
        self._waiting = 0

    def take(self) -> Any:
        try:
            return self._idle.pop()
        except IndexError:
            return self._take_slowly()

    def give_back(self, connection: Any) -> None:
        self._idle.append(connection)
        # A waiter counts itself (under the lock) before it looks at _idle, so either
        # it sees this connection or this sees it waiting.
        if self._waiting:
            with self._changed:
                self._changed.notify()

    def disconnect_all(self) -> None:
        with self._changed:
            for connection in self._made:
                connection.disconnect()

    def _take_slowly(self) -> Any:
        deadline = None if self._wait_s is None else time.monotonic() + self._wait_s
        with self._changed:
            self._waiting += 1
            try:
                while True:
                    with contextlib.suppress(IndexError):
                        return self._idle.pop()
                    if len(self._made) < self._limit:
                        connection = self._make()
                        self._made.append(connection)
                        return connection
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise redis.ConnectionError(
                            f"all {self._limit} Redis connections stayed busy"
                        )
                    self._changed.wait(left)
            finally:
                self._waiting -= 1
