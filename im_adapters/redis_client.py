"""What every Redis adapter shares: the client builder, the retry policy, the scripts.

- **One builder** (``connect``): every adapter's ``from_url`` builds its client here,
  from any URL (``redis://``, ``rediss://``, ``unix://``, ``redis+cluster://``), with
  every wait bounded. It fixes what redis-py's defaults get wrong for a server that
  must answer 503 within its timeout: the cluster client retries a failed command
  (three times in redis-py 5, by a ``Retry`` object since 6), reloading the slot map
  each time, so one frozen shard cost several timeouts per call. The clients built
  here retry nothing; ``RETRY`` decides what is worth a second try.
- **One retry policy** (``RETRY``): a connection error is tried once more (a restarted
  Redis leaves dead sockets behind), a timeout is not (a hung Redis costs one timeout
  per call, not a chain of them).
- **One way to reload lost scripts** (``Script``, ``reload_lost_scripts``): a script
  runs by ``EVALSHA``; when Redis lost it (a restart, ``SCRIPT FLUSH``, a fail-over),
  the commands that got ``NOSCRIPT`` are sent again as ``EVAL`` with the text, in one
  more round trip, which also caches the script again.
- **One namespace rule** (``check_namespace``): every key and channel starts with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs
import redis.cluster
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisClusterException
from redis.retry import Retry

from im_core.errors import ConfigurationError, StorageUnavailable

__all__ = [
    "CLUSTER_SCHEME",
    "ERRORS",
    "RETRY",
    "Command",
    "RetryPolicy",
    "Script",
    "check_namespace",
    "client_from_url",
    "cluster_from_url",
    "connect",
    "redis_from_url",
    "reload_lost_scripts",
]

_T = TypeVar("_T")

Command = tuple[object, ...]
"""A Redis command as its words: ``("EVALSHA", sha, 1, key, ...)``."""

CLUSTER_SCHEME = "redis+cluster://"

ERRORS = (redis.RedisError, RedisClusterException)
"""What a cluster client raises for an outage: redis-py's ``RedisClusterException``
(no node answers, a slot is not covered) is no ``RedisError``."""


def cluster_from_url(url: str, **options: Any) -> Any:
    """A ``RedisCluster`` for ``redis+cluster://host:port`` (any one node), no retries.

    Raises:
        ValueError: the URL is malformed.
        RedisClusterException, redis.RedisError: no node answered (the client learns
            the slot map as it is built).
    """
    client: Any = redis.cluster.RedisCluster.from_url(
        "redis://" + url.removeprefix(CLUSTER_SCHEME), retry=Retry(NoBackoff(), 0), **options)
    # redis-py 5 ignores ``retry`` at the cluster level (it goes to the connections)
    # and reads this attribute on each command instead; later versions ignore it.
    client.cluster_error_retry_attempts = 0
    return client


def redis_from_url(url: str, *, timeout: float, max_connections: int,
                   **options: Any) -> Any:
    """A client for one Redis (``redis://``, ``rediss://``, ``unix://``), no retries.

    Its pool blocks for up to ``timeout`` when all ``max_connections`` are in use,
    instead of failing at once as redis-py's default pool does: under a burst (a
    worker holds thousands of requests) a call waits its turn briefly, and only a
    Redis that is really stuck turns into the adapter's "unavailable" error.

    Raises:
        ValueError: the URL is malformed.
    """
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout, socket_timeout=timeout,
        socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0), **options)
    return redis.Redis(connection_pool=pool)


def client_from_url(url: str, *, timeout: float, max_connections: int,
                    **options: Any) -> Any:
    """The client ``url`` names, every wait bounded by ``timeout``, no retries.

    ``redis://``, ``rediss://`` and ``unix://`` name one Redis (``redis_from_url``);
    ``redis+cluster://host:port`` any node of a Redis Cluster (``cluster_from_url``).

    Raises:
        ConfigurationError: the URL cannot name a Redis.
        RedisClusterException, redis.RedisError: no cluster node answered.
    """
    try:
        if url.startswith(CLUSTER_SCHEME):
            return cluster_from_url(url, max_connections=max_connections,
                                    socket_timeout=timeout, socket_connect_timeout=timeout,
                                    **options)
        if url.startswith(("redis://", "rediss://", "unix://")):
            return redis_from_url(url, timeout=timeout, max_connections=max_connections,
                                  **options)
    except ValueError as error:
        raise ConfigurationError(f"the Redis URL cannot be used: {error}") from error
    raise ConfigurationError(
        "the Redis URL must start with redis://, rediss://, unix:// or redis+cluster://")


def check_namespace(namespace: str) -> str:
    """Return ``namespace`` if it can prefix keys and channels: non-empty, no braces.

    A brace would move the ``{uid}`` hash tag and scatter a user's keys over slots.
    """
    if not namespace or "{" in namespace or "}" in namespace:
        raise ConfigurationError(
            f"the Redis namespace must be non-empty and without braces: {namespace!r}"
        )
    return namespace


def connect(url: str, *, timeout: float, max_connections: int,
            unavailable: type[StorageUnavailable], **options: Any) -> Any:
    """``client_from_url`` for an adapter's ``from_url``: an outage is the port's error.

    Raises:
        ConfigurationError: the URL cannot name a Redis.
        unavailable: no node of the cluster answered (a cluster client learns the slot
            map as it is built).
    """
    try:
        return client_from_url(url, timeout=timeout, max_connections=max_connections,
                               **options)
    except ERRORS as error:
        raise unavailable(
            f"the Redis Cluster did not answer: {type(error).__name__}") from error


@attrs.frozen
class RetryPolicy:
    """How often a Redis call is tried, the same for every adapter.

    A connection error (refused, reset, a dead pooled socket) is tried again, up to
    ``attempts`` in all: a restarted Redis leaves dead sockets behind, and the next try
    runs on a fresh one. A timeout is never tried again: the command may be running
    still, and a hung Redis must cost one timeout per call, not a chain of them.
    """

    attempts: int = 2

    def run(self, call: Callable[[], _T]) -> _T:
        """``call()``, again after a connection error while attempts are left."""
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except redis.TimeoutError:
                raise
            except redis.ConnectionError:
                if attempt == self.attempts:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


RETRY = RetryPolicy()
"""The retry policy of every Redis adapter."""

_TEXTS: dict[str, str] = {}  # sha -> text, of every Script made


@attrs.frozen
class Script:
    """A Lua script, called by its SHA1 (``EVALSHA``) so its text travels only once."""

    text: str
    sha: str = attrs.field(init=False)

    @sha.default
    def _sha(self) -> str:
        sha = hashlib.sha1(self.text.encode()).hexdigest()
        _TEXTS[sha] = self.text
        return sha

    def command(self, keys: Sequence[str], *args: object) -> Command:
        """The ``EVALSHA`` command running this script on ``keys`` with ``args``."""
        return ("EVALSHA", self.sha, len(keys), *keys, *args)


def reload_lost_scripts(commands: Sequence[Command], replies: list[Any],
                        run: Callable[[Sequence[Command]], list[Any]]) -> list[Any]:
    """``replies`` with every ``NOSCRIPT`` answered by the same call sent as ``EVAL``.

    ``run`` sends commands in one round trip and returns their replies, error replies
    as exceptions (not raised). ``EVAL`` caches the script again, so the next
    ``EVALSHA`` finds it.
    """
    lost = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if not lost:
        return replies
    again = run([("EVAL", _TEXTS[str(commands[i][1])], *commands[i][2:]) for i in lost])
    replies = list(replies)
    for i, reply in zip(lost, again, strict=True):
        replies[i] = reply
    return replies
