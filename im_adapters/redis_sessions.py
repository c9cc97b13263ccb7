"""The session store in Redis: sessions that expire by themselves, shared by all servers.

Each user's keys carry the hash tag ``{uid}`` so that they all live in one Redis
Cluster slot; every call then touches a single slot and scripts may use several keys.
For a namespace ``ns`` and a user ``uid``:

- ``ns:{uid}:s:<digest>``: one session, a hash ``{type, cmd, time, exp}`` (client
  type, last command, time of the last call, when it expires by the caller's clock;
  all ms) that Redis expires ``ttl_ms`` after that call.
- ``ns:{uid}:z``: a sorted set of the digests of the user's sessions scored by
  ``exp``, so that "is this user online?" never scans keys. It holds at most
  ``max_sessions`` members: a login beyond them replaces the sessions whose last
  call is oldest (lowest ``exp``), in the same script.
- ``ns:{uid}:r:<digest>``: a replaced session, remembered for ``ttl_ms`` so that
  ``touch`` can tell "replaced" from "expired".

``<digest>`` is ``SessionToken.digest``, the SHA-256 of the token's secret: the
secret itself never reaches Redis (not in a key, a value or a command), so a dump,
a replica or ``MONITOR`` yields nothing that authenticates.

A session is live when its key exists (Redis' own clock) *and* its ``exp`` is later
than the caller's ``now_ms`` (the clock the use cases run on), so both clocks agree
with the in-memory store. Presence is read from live sessions only: a session's
record dies with its TTL, and nothing of it is remembered afterwards.

Every call is one round trip: each is a Lua script run by ``EVALSHA``; ``presence``
pipelines one script call per uid. Every command goes through one executor
(``im_adapters.redis_executor``), so the store shares the connection policy, the retry
policy and the reload of lost scripts of every Redis adapter
(``im_adapters.redis_client``). On a Redis Cluster (``redis+cluster://`` URLs) the
executor routes each command to the shard of its ``{uid}`` slot; presence pipelines
per shard.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from im_adapters.redis_client import ERRORS, Script, check_namespace, connect
from im_adapters.redis_executor import executor_for
from im_core.models import Presence, Session, SessionToken
from im_core.ports import MAX_SESSIONS_DEFAULT, SessionReplaced, SessionStoreUnavailable

__all__ = ["RedisSessionStore"]

# Times and scores travel as decimal strings from Python and are written as such, so
# Lua's number formatting never touches them.

# KEYS: session, zset, tombstone. ARGV: digest, type, cmd, time, ttl_ms, exp,
# max_sessions, session key prefix ("ns:{uid}:s:"), tombstone key prefix ("ns:{uid}:r:").
# Replaces any session with the same token; trims the user's expired sessions, then
# replaces the oldest ones beyond max_sessions - 1, so the new one makes max_sessions.
_CREATE = Script("""
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7]) + 1
if over > 0 then
  for _, digest in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('DEL', ARGV[8] .. digest)
    redis.call('SET', ARGV[9] .. digest, '1', 'PX', ARGV[5])
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
redis.call('HSET', KEYS[1], 'type', ARGV[2], 'cmd', ARGV[3], 'time', ARGV[4], 'exp', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1
""")

# KEYS: session, zset, tombstone. ARGV: digest, cmd, now_ms, ttl_ms, exp.
# Returns the client type; or, if the session is dead (changing nothing live), 0 when
# it was replaced and nil otherwise. One TTL serves every session, so the session
# touched last expires last: its expiry is the zset's.
_TOUCH = Script("""
local now = tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'type', 'exp')
if not s[1] or tonumber(s[2]) <= now then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  if redis.call('EXISTS', KEYS[3]) == 1 then
    return 0
  end
  return false
end
redis.call('HSET', KEYS[1], 'cmd', ARGV[2], 'time', ARGV[3], 'exp', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return s[1]
""")

# KEYS: session, zset. ARGV: digest.
_DELETE = Script("""
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
""")

# KEYS: zset. ARGV: now_ms, session key prefix ("ns:{uid}:s:").
# Returns {type, time} of the most recent live session, else nil. Read-only. The
# session keys it reads are not declared (their digests are only known inside) but
# share the zset's hash tag, hence its slot. The loop is bounded by max_sessions.
_PRESENCE = Script("""
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
local best_type, best_time, best_raw = false, nil, nil
for _, digest in ipairs(live) do
  local f = redis.call('HMGET', ARGV[2] .. digest, 'type', 'time')
  if f[1] then
    local t = tonumber(f[2])
    if not best_time or t > best_time then
      best_type, best_time, best_raw = f[1], t, f[2]
    end
  end
end
if best_type then
  return {best_type, best_raw}
end
return false
""")


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn any driver error into the port's error, without echoing keys."""
    try:
        yield
    except ERRORS as error:  # a RedisError, or a cluster client's own
        raise SessionStoreUnavailable(
            f"Redis session store could not {action}: {type(error).__name__}"
        ) from error


def _text(value: Any) -> str:
    """Read a reply from a client with or without ``decode_responses``."""
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisSessionStore:
    """Sessions as Redis keys with a TTL, so any server can check any token.

    Args:
        client: a ``redis.Redis`` or ``redis.cluster.RedisCluster`` with bounded
            timeouts (``from_url`` builds one); on one Redis it gives the connection
            settings, and the store's executor opens its own connections with them
            (``socket_timeout`` also bounds the wait for a free connection).
        namespace: the prefix of every key, so several deployments (or test runs)
            can share one Redis.
    """

    def __init__(self, client: Any, namespace: str = "im") -> None:
        self._client = client
        self._ns = check_namespace(namespace)
        self._executor = executor_for(client)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = "im",
        timeout: float = 1.0,
        max_connections: int = 64,
    ) -> RedisSessionStore:
        """Build a store whose every wait is bounded (``redis_client.connect``).

        ``timeout`` bounds connecting, each reply, and waiting for a free connection.
        A failed connection is retried once at once but a timeout is not
        (``redis_client.RETRY``), so a hung Redis costs one ``timeout`` per call.

        Args:
            url: ``redis://`` or ``rediss://`` (TLS) URL with optional password and
                db, ``unix:///path/to/redis.sock`` (``?db=N`` for a database), or
                ``redis+cluster://host:port`` (any node of a Redis Cluster).
            namespace: the prefix of every key.
            timeout: seconds allowed for each wait.
            max_connections: the most sockets this store opens; threads beyond it
                share them.

        Raises:
            ConfigurationError: the URL cannot name a Redis.
            SessionStoreUnavailable: no node of the cluster answered.
        """
        return cls(connect(url, timeout=timeout, max_connections=max_connections,
                           unavailable=SessionStoreUnavailable, decode_responses=True),
                   namespace)

    def close(self) -> None:
        """Close the store's sockets and the client's."""
        self._executor.close()
        self._client.close()

    def create(
        self, session: Session, ttl_ms: int, max_sessions: int = MAX_SESSIONS_DEFAULT
    ) -> None:
        _check_ttl(ttl_ms)
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, not {max_sessions}")
        token = session.token
        expires = session.last_seen + ttl_ms
        base = self._base(token.uid)
        self._script(_CREATE, "create a session", self._keys(token), token.digest,
                     session.client_type, session.command, session.last_seen, ttl_ms, expires,
                     max_sessions, f"{base}:s:", f"{base}:r:")

    def touch(
        self, token: SessionToken, command: str, now_ms: int, ttl_ms: int
    ) -> Session | None:
        _check_ttl(ttl_ms)
        reply = self._script(_TOUCH, "touch a session", self._keys(token), token.digest,
                             command, now_ms, ttl_ms, now_ms + ttl_ms)
        if reply is None:
            return None
        if reply == 0:
            raise SessionReplaced("the session was replaced by a newer login")
        return Session(token, _text(reply), command, now_ms)

    def delete(self, token: SessionToken) -> None:
        self._script(_DELETE, "delete a session", self._keys(token)[:2], token.digest)

    def presence(self, uids: Iterable[str], now_ms: int) -> dict[str, Presence]:
        wanted = list(dict.fromkeys(uids))
        if not wanted:
            return {}
        calls = [_PRESENCE.command([f"{self._base(uid)}:z"], now_ms, f"{self._base(uid)}:s:")
                 for uid in wanted]
        with _translated("read presence"):
            replies = self._executor.run(calls)
        return {uid: Presence(True, _text(reply[0]), int(reply[1]))
                for uid, reply in zip(wanted, replies, strict=True) if reply}

    def ping(self) -> None:
        """Whether Redis answers; on a cluster, every shard (each holds some users)."""
        with _translated("ping"):
            self._executor.ping()

    def _script(self, script: Script, action: str, keys: Sequence[str], *args: object) -> Any:
        """Run one of the store's scripts in one round trip."""
        with _translated(action):
            return self._executor.run([script.command(keys, *args)])[0]

    def _base(self, uid: str) -> str:
        """The prefix of every key of ``uid``, with its hash tag."""
        return f"{self._ns}:{{{uid}}}"

    def _keys(self, token: SessionToken) -> tuple[str, str, str]:
        """The session, session-index and tombstone keys of ``token``."""
        base = self._base(token.uid)
        return f"{base}:s:{token.digest}", f"{base}:z", f"{base}:r:{token.digest}"


def _check_ttl(ttl_ms: int) -> None:
    """Reject a TTL Redis would refuse, as the caller's bug rather than an outage."""
    if ttl_ms < 1:
        raise ValueError(f"ttl_ms must be at least 1, not {ttl_ms}")
