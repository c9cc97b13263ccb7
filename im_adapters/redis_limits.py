"""Rate limits in Redis: one token bucket per key, shared by every node.

A bucket is one string key, ``ns:{key}:rl``, holding the time (ms, the callers'
clock) at which it is full again; the braces make the whole key its hash tag, so each
bucket lives in one Redis Cluster slot. A hit is one Lua script, one round trip:
read, decide, write, with the key expiring when the bucket has refilled, so an idle
player or address costs no memory. The algorithm is the in-memory limiter's
(``im_core.memory.InMemoryRateLimiter``): the generic cell-rate algorithm.
"""

from __future__ import annotations

import hashlib
from typing import Any

import redis
import redis.cluster
from redis.exceptions import NoScriptError

from im_adapters.redis_cluster import ERRORS as CLUSTER_ERRORS
from im_adapters.redis_cluster import check_namespace, client_from_url
from im_core.ports.limits import RateLimiterUnavailable, interval_ms

__all__ = ["RedisRateLimiter"]

# KEYS: bucket. ARGV: now_ms, interval_ms, burst_ms (limit * interval).
# Returns 0 (allowed, counted) or the ms to wait (refused, nothing changed).
_HIT = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local full_at = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if full_at < now then full_at = now end
local after = full_at + interval
if after - now > burst then
  return after - burst - now
end
redis.call('SET', KEYS[1], after, 'PX', after - now)
return 0
"""
_SHA = hashlib.sha1(_HIT.encode()).hexdigest()


class RedisRateLimiter:
    """``RateLimiter`` on Redis (standalone or cluster), one round trip per hit.

    Args:
        client: a ``redis.Redis`` or ``redis.cluster.RedisCluster`` with bounded
            timeouts (``from_url`` builds one).
        namespace: the prefix of every key, as for the session store's.
    """

    def __init__(self, client: Any, namespace: str = "im") -> None:
        self._client = client
        self._ns = check_namespace(namespace)

    @classmethod
    def from_url(cls, url: str, *, namespace: str = "im", timeout: float = 1.0,
                 max_connections: int = 64) -> RedisRateLimiter:
        """A limiter on the Redis (or Redis Cluster) at ``url``, every wait bounded.

        Raises:
            ConfigurationError: the URL cannot name a Redis.
        """
        try:
            client = client_from_url(url, timeout=timeout, max_connections=max_connections,
                                     decode_responses=True)
        except CLUSTER_ERRORS as error:
            raise RateLimiterUnavailable(
                f"the Redis Cluster did not answer: {type(error).__name__}") from error
        return cls(client, namespace)

    def close(self) -> None:
        self._client.close()

    def hit(self, key: str, limit: int, window_ms: int, now_ms: int) -> int:
        interval = interval_ms(limit, window_ms)
        args = (f"{self._ns}:{{{key}}}:rl", now_ms, interval, limit * interval)
        for attempt in (1, 2):
            try:
                try:
                    reply = self._client.evalsha(_SHA, 1, *args)
                except NoScriptError:  # Redis restarted or flushed its scripts
                    reply = self._client.eval(_HIT, 1, *args)
                return int(reply)
            except redis.ConnectionError as error:
                if attempt == 2:
                    raise _unavailable(error) from error
            except redis.RedisError as error:
                raise _unavailable(error) from error
        raise AssertionError("unreachable")  # pragma: no cover

    def ping(self) -> None:
        try:
            self._client.ping()
        except redis.RedisError as error:
            raise _unavailable(error) from error


def _unavailable(error: redis.RedisError) -> RateLimiterUnavailable:
    # Not the error's text: it may quote the key, hence a uid or an address.
    return RateLimiterUnavailable(f"Redis rate limiter failed: {type(error).__name__}")
