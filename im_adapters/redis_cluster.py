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

__all__ = ["CLUSTER_SCHEME", "ERRORS", "cluster_from_url", "redis_from_url"]

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
