"""How the Redis adapters send commands: one executor, standalone or cluster.

``executor_for(client)`` gives an ``Executor`` whose ``run(commands)`` sends the
commands in one round trip (per shard, on a cluster), tries again per ``RETRY``,
reloads lost scripts (``reload_lost_scripts``), and raises the first error reply
after every reply was read. The session store and the rate limiter send every command
through one; the signals publish through one.

On one Redis the executor skips redis-py's command machinery (``Redis.execute_command``
and its pool's checkout), which costs three times the system calls' CPU on a loopback
round trip: it keeps its own bounded stack of redis-py connections (``Connections``),
made with the client's connection settings, and writes packed commands to them. It
relies only on connection methods redis-py has had since 5.0. On a Redis Cluster it is
redis-py's cluster client, which routes each command to the shard of its slot and
follows the cluster when slots move; several commands are pipelined per shard.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import redis
import redis.cluster

from im_adapters.redis_client import RETRY, Command, reload_lost_scripts
from im_core.errors import ConfigurationError

__all__ = ["ClusterExecutor", "Connections", "DirectExecutor", "Executor", "executor_for"]


class Executor(Protocol):
    """Sends commands to Redis (see the module's docstring)."""

    def run(self, commands: Sequence[Command]) -> list[Any]:
        """The replies of ``commands``, sent in one round trip (per shard).

        Raises:
            redis.RedisError, RedisClusterException: an outage, or the first error
                reply (after every reply was read).
        """
        ...

    def ping(self) -> None:
        """Return if Redis answers: on a cluster, every primary (each holds a share)."""
        ...

    def close(self) -> None: ...


def executor_for(client: Any) -> Executor:
    """The executor for ``client``: a ``redis.Redis`` or a ``RedisCluster``."""
    if isinstance(client, redis.cluster.RedisCluster):
        return ClusterExecutor(client)
    return DirectExecutor(client)


def _raise_first_error(replies: list[Any]) -> list[Any]:
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


class Connections:
    """A bounded stack of redis-py connections shared by every thread.

    Any number of threads may use it: a thread takes a connection for one round trip
    and gives it back, so the pool's size bounds the sockets, not the threads. Taking
    is a ``list.pop`` (atomic under the GIL) while one is idle, which is nearly always;
    the lock is only for making a connection or waiting for one, and a wait longer
    than ``wait_s`` fails as an outage instead of hanging. Connections are never
    dropped, only disconnected: redis-py reconnects them on their next command.
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


class DirectExecutor:
    """One Redis: packed commands written straight to the executor's own connections.

    Args:
        client: gives the connection settings (``client.connection_pool``'s class,
            arguments and ``max_connections``); the executor opens its own connections
            with them. Build it with bounded timeouts (``redis_client.connect`` does):
            its ``socket_timeout`` also bounds the wait for a free connection.
    """

    def __init__(self, client: Any) -> None:
        pool = client.connection_pool
        kwargs = pool.connection_kwargs
        self._connections = Connections(lambda: pool.connection_class(**kwargs),
                                        pool.max_connections, kwargs.get("socket_timeout"))

    def run(self, commands: Sequence[Command]) -> list[Any]:
        replies = reload_lost_scripts(commands, self._round_trip(commands), self._round_trip)
        return _raise_first_error(replies)

    def ping(self) -> None:
        self.run([("PING",)])

    def close(self) -> None:
        self._connections.disconnect_all()

    def _round_trip(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` in one write and read their replies, per ``RETRY``.

        Error replies are returned, not raised, so that every reply is read and the
        connection stays in step. Any failure leaves the socket closed (a reply may
        be unread); redis-py opens a fresh one for the next try.
        """
        connection = self._connections.take()
        try:
            if len(commands) == 1:
                packed = connection.pack_command(*commands[0])
            else:
                packed = connection.pack_commands(commands)
            return RETRY.run(lambda: self._send(connection, packed, len(commands)))
        finally:
            self._connections.give_back(connection)

    @staticmethod
    def _send(connection: Any, packed: Any, count: int) -> list[Any]:
        try:
            connection.send_packed_command(packed, False)
            replies: list[Any] = []
            for _ in range(count):
                try:
                    replies.append(connection.read_response())
                except redis.ResponseError as error:  # read whole: still in step
                    replies.append(error)
            return replies
        except BaseException:
            connection.disconnect()
            raise


class ClusterExecutor:
    """A Redis Cluster: redis-py's cluster client (built without retries), per ``RETRY``.

    A connection error is tried again after the client reloaded its slot map (a
    restarted shard leaves dead sockets behind).
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    def run(self, commands: Sequence[Command]) -> list[Any]:
        replies = RETRY.run(lambda: self._send(commands))
        return _raise_first_error(reload_lost_scripts(commands, replies, self._send))

    def ping(self) -> None:
        self._client.ping(target_nodes=redis.cluster.RedisCluster.PRIMARIES)

    def close(self) -> None:
        """Nothing of its own: the client's connections close with the client."""

    def _send(self, commands: Sequence[Command]) -> list[Any]:
        """Every reply, an error reply as its exception; an outage raises."""
        if len(commands) == 1:
            try:
                return [self._client.execute_command(*commands[0])]
            except redis.ResponseError as error:
                return [error]
        pipe = self._client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(pipe.execute(raise_on_error=False))
