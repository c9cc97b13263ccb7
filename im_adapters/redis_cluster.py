"""The Redis clients the Redis adapters build from a URL, cluster or not.

One place for what redis-py's defaults get wrong for a server that must answer 503
within its timeout: the cluster client retries a failed command (three times in
redis-py 5, by a ``Retry`` object since 6), reloading the slot map each time, so one
frozen shard cost several timeouts per call. Here it retries nothing; the adapters
decide what is worth a second try.
"""

from __future__ import annotations

from typing import Any

import redis.cluster
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from im_core.errors import ConfigurationError

__all__ = [
    "CLUSTER_SCHEME",
    "ERRORS",
    "check_namespace",
    "client_from_url",
    "cluster_from_url",
    "redis_from_url",
]

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
