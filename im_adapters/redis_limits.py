"""Rate limits in Redis: one token bucket per key, shared by every node.

A bucket is one string key, ``ns:{key}:rl``, holding the time (ms, the callers'
clock) at which it is full again; the braces make the whole key its hash tag, so each
bucket lives in one Redis Cluster slot. A hit is one Lua script, one round trip:
read, decide, write, with the key expiring when the bucket has refilled, so an idle
player or address costs no memory. The algorithm is the in-memory limiter's
(``im_core.memory.InMemoryRateLimiter``): the generic cell-rate algorithm.
"""

from __future__ import annotations

from typing import Any

from im_adapters.redis_client import ERRORS, Script, check_namespace, connect
from im_adapters.redis_executor import executor_for
from im_core.ports.limits import RateLimiterUnavailable, interval_ms

__all__ = ["RedisRateLimiter"]

# KEYS: bucket. ARGV: now_ms, interval_ms, burst_ms (limit * interval).
# Returns 0 (allowed, counted) or the ms to wait (refused, nothing changed).
_HIT = Script("""
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
""")


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
        self._executor = executor_for(client)

    @classmethod
    def from_url(cls, url: str, *, namespace: str = "im", timeout: float = 1.0,
                 max_connections: int = 64) -> RedisRateLimiter:
        """A limiter on the Redis (or Redis Cluster) at ``url``, every wait bounded.

        Raises:
            ConfigurationError: the URL cannot name a Redis.
            RateLimiterUnavailable: no node of the cluster answered.
        """
        return cls(connect(url, timeout=timeout, max_connections=max_connections,
                           unavailable=RateLimiterUnavailable, decode_responses=True),
                   namespace)

    def close(self) -> None:
        self._executor.close()
        self._client.close()

    def hit(self, key: str, limit: int, window_ms: int, now_ms: int) -> int:
        interval = interval_ms(limit, window_ms)
        command = _HIT.command([f"{self._ns}:{{{key}}}:rl"], now_ms, interval, limit * interval)
        try:
            return int(self._executor.run([command])[0])
        except ERRORS as error:
            raise _unavailable(error) from error

    def ping(self) -> None:
        try:
            self._executor.ping()
        except ERRORS as error:
            raise _unavailable(error) from error


def _unavailable(error: Exception) -> RateLimiterUnavailable:
    # Not the error's text: it may quote the key, hence a uid or an address.
    return RateLimiterUnavailable(f"Redis rate limiter failed: {type(error).__name__}")
