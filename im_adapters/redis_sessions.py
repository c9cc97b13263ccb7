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
- ``ns:{uid}:r:<digest>``: a replaced (``1``) or ended (``2``) session, remembered
  for ``ttl_ms`` so that ``touch`` can tell "replaced" and "ended" from "expired".

``<digest>`` is ``SessionToken.digest``, the SHA-256 of the token's secret: the
secret itself never reaches Redis (not in a key, a value or a command), so a dump,
a replica or ``MONITOR`` yields nothing that authenticates.

A session is live when its key exists (Redis' own clock) *and* its ``exp`` is later
than the caller's ``now_ms`` (the clock the use cases run on), so both clocks agree
with the in-memory store. Presence is read from live sessions only: a session's
record dies with its TTL, and nothing of it is remembered afterwards.

Every call is one round trip: each is a Lua script run by ``EVALSHA`` (all loaded
again, in the same round trip as the retried call, after a Redis restart);
``presence`` pipelines one script call per uid.

Every command goes through one executor (``_execute``) on the store's own small pool
of redis-py connections, so there is one connection policy and one retry policy.
It skips redis-py's command machinery (``Redis.execute_command`` and its pool's
checkout), which costs three times the system calls' CPU on a loopback round trip,
and relies only on connection methods redis-py has had since 5.0.

On a Redis Cluster (``redis+cluster://`` URLs) the executor is redis-py's cluster
client instead, which routes each command to the shard of its ``{uid}`` slot and
follows the cluster when slots move; presence pipelines per shard. It is built
without retries (``redis_cluster.cluster_from_url``); the store's own policy is the
same as above: a connection error is tried once more, a timeout is not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

from im_adapters import ConfigurationError
from im_adapters.redis_cluster import CLUSTER_SCHEME, check_namespace, cluster_from_url
from im_adapters.redis_cluster import ERRORS as CLUSTER_ERRORS
from im_adapters.redis_connections import Connections
from im_adapters.redis_session_scripts import LOAD_SCRIPTS, SCRIPT_TEXTS, SCRIPTS
from im_core.models import Presence, Session, SessionToken
from im_core.ports import (
    MAX_SESSIONS_DEFAULT,
    LoginPolicy,
    SessionEnded,
    SessionReplaced,
    SessionStoreUnavailable,
)

__all__ = ["RedisSessionStore"]

_URL_SCHEMES = ("redis://", "rediss://", "unix://")


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn any driver error into the port's error, without echoing keys."""
    try:
        yield
    except CLUSTER_ERRORS as error:  # a RedisError, or a cluster client's own
        raise SessionStoreUnavailable(
            f"Redis session store could not {action}: {type(error).__name__}"
        ) from error


def _text(value: Any) -> str:
    """Read a reply from a client with or without ``decode_responses``."""
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisSessionStore:
    """Sessions as Redis keys with a TTL, so any server can check any token.

    Args:
        client: gives the connection settings (``client.connection_pool``'s class,
            arguments and ``max_connections``); the store opens its own connections
            with them. The store does not configure timeouts, so build the client
            with bounded ones (as ``from_url`` does): its ``socket_timeout`` also
            bounds the wait for a free connection.
        namespace: the prefix of every key, so several deployments (or test runs)
            can share one Redis.
    """

    def __init__(self, client: Any, namespace: str = "im") -> None:
        self._client = client
        self._ns = check_namespace(namespace)
        self._cluster: Any = None
        self._connections: Connections | None = None
        if isinstance(client, redis.cluster.RedisCluster):
            self._cluster = client
        else:
            pool = client.connection_pool
            self._connections = Connections(pool.make_connection, pool.max_connections,
                                             pool.connection_kwargs.get("socket_timeout"))

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str = "im",
        timeout: float = 1.0,
        max_connections: int = 64,
    ) -> RedisSessionStore:
        """Build a store whose every wait is bounded.

        ``timeout`` bounds connecting, each reply, and waiting for a free connection.
        A failed connection is retried once at once (a restarted Redis leaves dead
        sockets behind) but a timeout is not, so a hung Redis costs one ``timeout``
        per call, not a chain of retries.

        Args:
            url: ``redis://`` or ``rediss://`` (TLS) URL with optional password and
                db, or ``unix:///path/to/redis.sock`` (``?db=N`` for a database).
            namespace: the prefix of every key.
            timeout: seconds allowed for each wait.
            max_connections: the most sockets this store opens; threads beyond it
                share them.

        Raises:
            ConfigurationError: the URL cannot name a Redis.
        """
        if url.startswith(CLUSTER_SCHEME):
            return cls._cluster_from_url(url, namespace=namespace, timeout=timeout,
                                         max_connections=max_connections)
        if not url.startswith(_URL_SCHEMES):
            raise ConfigurationError(
                "the Redis URL must start with redis://, rediss://, unix:// "
                "or redis+cluster://"
            )
        try:
            pool = redis.ConnectionPool.from_url(
                url,
                max_connections=max_connections,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                # Connecting is not retried here: _execute retries once, whatever failed.
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
            )
        except ValueError as error:
            raise ConfigurationError(f"the Redis URL is malformed: {error}") from error
        return cls(redis.Redis(connection_pool=pool), namespace)

    @classmethod
    def _cluster_from_url(cls, url: str, *, namespace: str, timeout: float,
                          max_connections: int) -> RedisSessionStore:
        """A store on a Redis Cluster: ``redis+cluster://host:port`` names any node."""
        try:
            client = cluster_from_url(url, socket_timeout=timeout,
                                      socket_connect_timeout=timeout,
                                      max_connections=max_connections, decode_responses=True)
        except ValueError as error:
            raise ConfigurationError(f"the Redis URL is malformed: {error}") from error
        except CLUSTER_ERRORS as error:
            raise SessionStoreUnavailable(
                f"the Redis Cluster did not answer: {type(error).__name__}: {error}"
            ) from error
        return cls(client, namespace)

    def close(self) -> None:
        """Close the store's sockets and the client's."""
        if self._connections is not None:
            self._connections.disconnect_all()
        self._client.close()

    def create(
        self, session: Session, ttl_ms: int, max_sessions: int = MAX_SESSIONS_DEFAULT,
        policy: LoginPolicy = "many",
    ) -> int:
        _check_ttl(ttl_ms)
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, not {max_sessions}")
        token = session.token
        expires = session.last_seen + ttl_ms
        base = self._base(token.uid)
        return int(self._script(
            "create", "create a session", self._keys(token), token.digest,
            session.client_type, session.command, session.last_seen, ttl_ms, expires,
            max_sessions, f"{base}:s:", f"{base}:r:", policy))

    def end_all(self, uid: str, now_ms: int, ttl_ms: int) -> int:
        _check_ttl(ttl_ms)
        base = self._base(uid)
        return int(self._script("end_all", "end sessions", [f"{base}:z"], now_ms, ttl_ms,
                                f"{base}:s:", f"{base}:r:"))

    def touch(
        self, token: SessionToken, command: str, now_ms: int, ttl_ms: int
    ) -> Session | None:
        _check_ttl(ttl_ms)
        reply = self._script("touch", "touch a session", self._keys(token), token.digest,
                             command, now_ms, ttl_ms, now_ms + ttl_ms)
        if reply is None:
            return None
        if isinstance(reply, int):  # a tombstone; a client type comes back as a string
            if reply == 2:
                raise SessionEnded("the game's server ended the session")
            raise SessionReplaced("the session was replaced by a newer login")
        return Session(token, _text(reply), command, now_ms)

    def delete(self, token: SessionToken) -> None:
        self._script("delete", "delete a session", self._keys(token)[:2], token.digest)

    def presence(self, uids: Iterable[str], now_ms: int) -> dict[str, Presence]:
        wanted = list(dict.fromkeys(uids))
        if not wanted:
            return {}
        sha = SCRIPTS["presence"][1]
        calls = []
        for uid in wanted:
            base = f"{self._ns}:{{{uid}}}"
            calls.append(("EVALSHA", sha, 1, f"{base}:z", now_ms, f"{base}:s:"))
        with _translated("read presence"):
            replies = self._run(calls)
        return {uid: Presence(True, _text(reply[0]), int(reply[1]))
                for uid, reply in zip(wanted, replies, strict=True) if reply}

    def ping(self) -> None:
        """Whether Redis answers; on a cluster, every shard (each holds some users)."""
        with _translated("ping"):
            if self._cluster is not None:
                self._cluster.ping(target_nodes=redis.cluster.RedisCluster.PRIMARIES)
            else:
                self._run([("PING",)])

    def _script(self, name: str, action: str, keys: Sequence[str], *args: object) -> Any:
        """Run one of the store's scripts in one round trip."""
        with _translated(action):
            return self._run([("EVALSHA", SCRIPTS[name][1], len(keys), *keys, *args)])[0]

    def _run(self, commands: Sequence[tuple[object, ...]]) -> list[Any]:
        """``_execute`` the commands; if Redis lost the scripts, load them all and retry.

        The reload and the retry share one round trip. The first error reply is
        raised, after every reply has been read.
        """
        if self._cluster is not None:
            return self._run_on_cluster(commands)
        replies = self._execute(commands)
        if any(isinstance(reply, NoScriptError) for reply in replies):
            # Redis restarted or flushed its scripts.
            replies = self._execute([*LOAD_SCRIPTS, *commands])[len(LOAD_SCRIPTS):]
        for reply in replies:
            if isinstance(reply, redis.ResponseError):
                raise reply
        return replies

    def _run_on_cluster(self, commands: Sequence[tuple[object, ...]]) -> list[Any]:
        """The cluster's executor: one command, or a pipeline of one round trip per shard.

        As ``_execute`` does, a connection error is tried once more (a restarted shard
        leaves dead sockets behind, and the client has meanwhile reloaded the slot
        map), a timeout is not. A shard that lost the scripts gets the script's text
        (``EVAL``), which also caches it there again.
        """
        try:
            replies = self._send_to_cluster(commands)
        except redis.ConnectionError:
            replies = self._send_to_cluster(commands)
        for i, reply in enumerate(replies):
            if isinstance(reply, NoScriptError):
                _, sha, *rest = commands[i]
                replies[i] = self._cluster.execute_command("EVAL", SCRIPT_TEXTS[str(sha)],
                                                           *rest)
            elif isinstance(reply, Exception):
                raise reply
        return replies

    def _send_to_cluster(self, commands: Sequence[tuple[object, ...]]) -> list[Any]:
        """Every reply, an error reply as its exception; an outage raises."""
        if len(commands) == 1:
            return [_reply_or_error(self._cluster.execute_command, commands[0])]
        pipe = self._cluster.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(pipe.execute(raise_on_error=False))

    def _execute(self, commands: Sequence[tuple[object, ...]]) -> list[Any]:
        """Send ``commands`` in one write and read their replies: one round trip.

        The store's one connection and retry policy. Error replies are returned, not
        raised, so that every reply is read and the connection stays in step. A
        connection error is tried once more on a fresh socket (a restarted Redis
        leaves dead ones behind); a timeout is not, so a hung Redis costs one timeout
        per call. Any other failure leaves the socket closed: a reply may be unread.
        """
        assert self._connections is not None
        connection = self._connections.take()
        try:
            if len(commands) == 1:
                packed = connection.pack_command(*commands[0])
            else:
                packed = connection.pack_commands(commands)
            for attempt in (1, 2):
                try:
                    connection.send_packed_command(packed, False)
                    replies = []
                    for _ in commands:
                        try:
                            replies.append(connection.read_response())
                        except redis.ResponseError as error:  # read whole: still in step
                            replies.append(error)
                    return replies
                except redis.ConnectionError:
                    connection.disconnect()
                    if attempt == 2:
                        raise
                except BaseException:
                    connection.disconnect()
                    raise
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._connections.give_back(connection)

    def _base(self, uid: str) -> str:
        """The prefix of every key of ``uid``, with its hash tag."""
        return f"{self._ns}:{{{uid}}}"

    def _keys(self, token: SessionToken) -> tuple[str, str, str]:
        """The session, session-index and tombstone keys of ``token``."""
        base = self._base(token.uid)
        return f"{base}:s:{token.digest}", f"{base}:z", f"{base}:r:{token.digest}"


def _reply_or_error(call: Callable[..., Any], command: tuple[object, ...]) -> Any:
    """``call(*command)``'s reply, or the error reply it raised (as ``_execute`` gives)."""
    try:
        return call(*command)
    except redis.ResponseError as error:
        return error


def _check_ttl(ttl_ms: int) -> None:
    """Reject a TTL Redis would refuse, as the caller's bug rather than an outage."""
    if ttl_ms < 1:
        raise ValueError(f"ttl_ms must be at least 1, not {ttl_ms}")
