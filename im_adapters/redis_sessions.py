"""The session store in Redis: sessions that expire by themselves, shared by all servers.

Each user's keys carry the hash tag ``{uid}`` so that they all live in one Redis
Cluster slot; every call then touches a single slot and scripts may use several keys.
For a namespace ``ns`` and a user ``uid``:

- ``ns:{uid}:s:<secret>``: one session, a hash ``{type, cmd, time}`` (client type,
  last command, time of the last call in ms) that expires ``ttl_ms`` after that call.
- ``ns:{uid}:z``: a sorted set of the user's session secrets scored by the time they
  expire (caller's clock, ms), so that "is this user online?" never scans keys.
- ``ns:{uid}:p``: a hash ``{type, time}`` of the user's most recent call, kept
  ``LAST_SEEN_KEEP_MS`` so that ``last_seen`` survives the sessions.
- ``ns:{uid}:v`` and ``ns:{uid}:e``: the inbox hint (see the port): a counter of
  messages noted for the user, and the counter's value when the inbox was last seen
  empty, which lapses after ``INBOX_HINT_TTL_MS``. ``touch`` reads both.

A session is live when its key exists (Redis' own clock) *and* its score is later than
the caller's ``now_ms`` (the clock the use cases run on), so both clocks agree with
the in-memory store. ``touch``, ``create``, ``delete`` and ``presence`` each cost one
round trip: Lua scripts run by ``EVALSHA`` (reloaded by themselves after a Redis
restart), a ``MULTI`` block, and a pipeline of one script call per uid.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

from im_adapters import ConfigurationError
from im_core.models import Presence, Session, SessionToken
from im_core.ports import INBOX_HINT_TTL_MS, SessionStoreUnavailable

__all__ = ["INBOX_VERSION_KEEP_MS", "LAST_SEEN_KEEP_MS", "RedisSessionStore"]

LAST_SEEN_KEEP_MS = 30 * 24 * 3600 * 1000
"""How long a user's last call is remembered after its sessions have gone."""

# Times and scores travel as decimal strings from Python and are written as such, so
# Lua's number formatting never touches them.

# KEYS: session, zset, presence. ARGV: secret, type, cmd, time, ttl_ms, keep_ms, expiry.
# Replaces any session with the same token, then refreshes the user's index.
_CREATE = """
local now = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'type', ARGV[2], 'cmd', ARGV[3], 'time', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[2], math.max(ttl, tonumber(top[2]) - now))
local last = tonumber(redis.call('HGET', KEYS[3], 'time'))
if not last or now >= last then
  redis.call('HSET', KEYS[3], 'type', ARGV[2], 'time', ARGV[4])
end
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return 1
"""

# KEYS: session, zset, presence, inbox version, inbox-empty mark.
# ARGV: secret, cmd, now_ms, ttl_ms, keep_ms, expiry.
# Returns {client type, inbox version, 1 if the inbox is known empty else 0}, or nil
# (changing nothing live) if the session is dead.
_TOUCH = """
local now = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local ctype = redis.call('HGET', KEYS[1], 'type')
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not ctype or not score or tonumber(score) <= now then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
redis.call('HSET', KEYS[1], 'cmd', ARGV[2], 'time', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[2], math.max(ttl, tonumber(top[2]) - now))
local last = tonumber(redis.call('HGET', KEYS[3], 'time'))
if not last or now >= last then
  redis.call('HSET', KEYS[3], 'type', ctype, 'time', ARGV[3])
end
redis.call('PEXPIRE', KEYS[3], ARGV[5])
local version = redis.call('GET', KEYS[4]) or '0'
local known_empty = 0
if redis.call('GET', KEYS[5]) == version then
  known_empty = 1
end
return {ctype, version, known_empty}
"""

# KEYS: inbox version, inbox-empty mark. ARGV: the version seen empty, mark ttl_ms.
# Compare-and-set: a message noted since the pull began keeps the inbox "not empty".
_NOTE_EMPTY = """
if (redis.call('GET', KEYS[1]) or '0') == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
end
return 1
"""

INBOX_VERSION_KEEP_MS = 24 * 3600 * 1000
"""How long an idle user's inbox version is kept; once gone it reads "not known empty"."""

# KEYS: zset, presence. ARGV: now_ms, session key prefix ("ns:{uid}:s:").
# Returns {1, type, time} of the most recent live session, else {0, type, time} of
# the remembered last call, else nil. Read-only. The session keys it reads are not
# declared (their secrets are only known inside) but share the zset's hash tag, hence
# its slot. Its sha depends on the text alone, so a reload needs no bookkeeping.
_PRESENCE = """
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
local best_type, best_time, best_raw = false, nil, nil
for _, secret in ipairs(live) do
  local f = redis.call('HMGET', ARGV[2] .. secret, 'type', 'time')
  if f[1] then
    local t = tonumber(f[2])
    if not best_time or t > best_time then
      best_type, best_time, best_raw = f[1], t, f[2]
    end
  end
end
if best_type then
  return {1, best_type, best_raw}
end
local p = redis.call('HMGET', KEYS[2], 'type', 'time')
if p[1] and p[2] then
  return {0, p[1], p[2]}
end
return false
"""
_PRESENCE_SHA = hashlib.sha1(_PRESENCE.encode()).hexdigest()


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn any driver error into the port's error, without echoing keys (secrets)."""
    try:
        yield
    except redis.RedisError as error:
        raise SessionStoreUnavailable(
            f"Redis session store could not {action}: {type(error).__name__}"
        ) from error


def _text(value: Any) -> str:
    """Read a reply from a client with or without ``decode_responses``."""
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisSessionStore:
    """Sessions as Redis keys with a TTL, so any server can check any token.

    Args:
        client: a ready ``redis.Redis``; the store does not configure its timeouts
            or retries, so build it with bounded ones (as ``from_url`` does).
        namespace: the prefix of every key, so several deployments (or test runs)
            can share one Redis.
    """

    def __init__(self, client: redis.Redis[Any], namespace: str = "im") -> None:
        if not namespace or "{" in namespace or "}" in namespace:
            # A brace would move the hash tag and scatter a user's keys over slots.
            raise ConfigurationError(
                f"the Redis namespace must be non-empty and without braces: {namespace!r}"
            )
        self._client = client
        self._ns = namespace
        self._pool: redis.ConnectionPool | None = None
        self._create = client.register_script(_CREATE)
        self._touch = client.register_script(_TOUCH)
        self._note_empty = client.register_script(_NOTE_EMPTY)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = "im",
        timeout: float = 1.0,
        max_connections: int = 64,
    ) -> RedisSessionStore:
        """Build a store on its own bounded connection pool.

        Every wait is bounded by ``timeout``: connecting, each reply, and waiting for
        a free connection. A failed connection is retried once at once (a restarted
        Redis leaves dead pooled sockets behind) but a timeout is not, so a hung Redis
        costs one ``timeout`` per call, not a chain of retries.

        Args:
            url: ``redis://`` or ``rediss://`` (TLS) URL, with optional password/db.
            namespace: the prefix of every key.
            timeout: seconds allowed for each wait.
            max_connections: the most sockets this store opens.

        Raises:
            ConfigurationError: the URL cannot name a Redis.
        """
        if not url.startswith(("redis://", "rediss://")):
            raise ConfigurationError("the Redis URL must start with redis:// or rediss://")
        try:
            pool = redis.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=timeout,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                health_check_interval=30,
                retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
                decode_responses=True,
            )
        except ValueError as error:
            raise ConfigurationError(f"the Redis URL is malformed: {error}") from error
        store = cls(redis.Redis(connection_pool=pool), namespace)
        store._pool = pool
        return store

    def close(self) -> None:
        """Close the client's sockets (and the pool, if ``from_url`` made it)."""
        self._client.close()
        if self._pool is not None:
            self._pool.disconnect()

    def create(self, session: Session, ttl_ms: int) -> None:
        _check_ttl(ttl_ms)
        token = session.token
        with _translated("create a session"):
            self._create(
                keys=self._keys(token),
                args=[token.secret, session.client_type, session.command,
                      session.last_seen, ttl_ms, LAST_SEEN_KEEP_MS, session.last_seen + ttl_ms],
            )

    def touch(
        self, token: SessionToken, command: str, now_ms: int, ttl_ms: int
    ) -> Session | None:
        _check_ttl(ttl_ms)
        with _translated("touch a session"):
            reply = self._touch(
                keys=[*self._keys(token), *self._inbox_keys(token.uid)],
                args=[token.secret, command, now_ms, ttl_ms, LAST_SEEN_KEEP_MS, now_ms + ttl_ms],
            )
        if reply is None:
            return None
        client_type, version, known_empty = reply
        return Session(token, _text(client_type), command, now_ms, int(version),
                       int(known_empty) == 1)

    def note_new_message(self, uid: str) -> None:
        version, _ = self._inbox_keys(uid)
        with _translated("note a new message"):
            pipe = self._client.pipeline(transaction=True)
            pipe.incr(version)
            pipe.pexpire(version, INBOX_VERSION_KEEP_MS)
            pipe.execute()

    def note_inbox_empty(self, uid: str, version: int, now_ms: int) -> None:
        with _translated("note an empty inbox"):
            self._note_empty(keys=list(self._inbox_keys(uid)),
                             args=[version, INBOX_HINT_TTL_MS])

    def delete(self, token: SessionToken) -> None:
        session, zset, _ = self._keys(token)
        with _translated("delete a session"):
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(session)
            pipe.zrem(zset, token.secret)
            pipe.execute()

    def presence(self, uids: Iterable[str], now_ms: int) -> dict[str, Presence]:
        wanted = list(dict.fromkeys(uids))
        if not wanted:
            return {}
        with _translated("read presence"):
            try:
                replies = self._presence_replies(wanted, now_ms)
            except NoScriptError:
                # Redis restarted or flushed its scripts: load it, then try once more.
                self._client.execute_command("SCRIPT", "LOAD", _PRESENCE)
                replies = self._presence_replies(wanted, now_ms)
        found: dict[str, Presence] = {}
        for uid, reply in zip(wanted, replies, strict=True):
            if reply:
                online, client_type, last_seen = reply
                found[uid] = Presence(bool(int(online)), _text(client_type), int(last_seen))
        return found

    def ping(self) -> None:
        with _translated("ping"):
            self._client.ping()

    def _presence_replies(self, uids: list[str], now_ms: int) -> list[Any]:
        """One pipelined ``EVALSHA`` per uid: one round trip, one slot per command."""
        pipe = self._client.pipeline(transaction=False)
        for uid in uids:
            base = f"{self._ns}:{{{uid}}}"
            pipe.evalsha(_PRESENCE_SHA, 2, f"{base}:z", f"{base}:p", now_ms, f"{base}:s:")
        return list(pipe.execute())

    def _inbox_keys(self, uid: str) -> tuple[str, str]:
        """The inbox-hint keys of ``uid``: its version counter and its empty mark."""
        base = f"{self._ns}:{{{uid}}}"
        return f"{base}:v", f"{base}:e"

    def _keys(self, token: SessionToken) -> tuple[str, str, str]:
        """The session, session-index and last-call keys of ``token``'s user."""
        base = f"{self._ns}:{{{token.uid}}}"
        return f"{base}:s:{token.secret}", f"{base}:z", f"{base}:p"


def _check_ttl(ttl_ms: int) -> None:
    """Reject a TTL Redis would refuse, as the caller's bug rather than an outage."""
    if ttl_ms < 1:
        raise ValueError(f"ttl_ms must be at least 1, not {ttl_ms}")
