"""Inbox signals over Redis pub/sub: a ring on one node wakes waiters on every node.

Waiters and hints stay in the process (``InMemoryInboxSignals``); Redis only carries
the rings between processes. The design, and why:

- **One subscription per process**, whatever the number of waiting requests: a
  background thread (a greenlet under gevent) holds it and hands each ring to the
  local waiters, so 10,000 waiting players cost no connection each.
- **A fixed set of channels** (``ns:ring:{0}`` ... ``ns:ring:{15}``; a player's
  rings go to the channel of ``crc32(uid) % 16``), and every node listens to all of
  them. No SUBSCRIBE per waiting request, no subscription churn; each node sees every
  ring, which is what keeps its inbox hints right without a round trip per
  heartbeat. On a Redis Cluster the channels are sharded (``SPUBLISH`` /
  ``SSUBSCRIBE``): the braces make each a hash tag, so the 16 spread over the shards.
- **Rings are delivered locally at once** and published with the node's id, so the
  node that rang skips its own echo.
- **A gap is treated as a loss.** While the subscription is down, hints report "not
  known empty"; when it is back, every mark is forgotten and every waiter is woken
  (``deliver_all``), since rings may have been missed meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import zlib
from typing import Any

import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from im_core.errors import ConfigurationError
from im_core.memory import InMemoryInboxSignals
from im_core.ports.signals import InboxHint, SignalsUnavailable, Waiter

__all__ = ["CHANNELS", "RedisInboxSignals"]

CHANNELS = 16
"""Ring channels; a deployment's nodes must agree on it (it is not configurable)."""

log = logging.getLogger("im_adapters.redis_signals")


class RedisInboxSignals:
    """``InboxSignals`` on Redis pub/sub (standalone) or sharded pub/sub (cluster).

    Args:
        client: a ready ``redis.Redis`` or ``redis.cluster.RedisCluster`` with bounded
            timeouts; rings are published through it.
        namespace: the prefix of every channel, as for the session store's keys.
        reconnect_s: how long the subscriber waits before it tries again after losing
            its connection.

    Call ``start()`` in the process that serves (after a fork, not before) and
    ``close()`` when it stops.
    """

    def __init__(self, client: Any, namespace: str = "im", *, reconnect_s: float = 0.5
                 ) -> None:
        if not namespace or "{" in namespace or "}" in namespace:
            raise ConfigurationError(
                f"the Redis namespace must be non-empty and without braces: {namespace!r}"
            )
        self._client = client
        self._cluster = isinstance(client, redis.cluster.RedisCluster)
        self._channels = [f"{namespace}:ring:{{{n}}}" for n in range(CHANNELS)]
        self._node = secrets.token_hex(8)
        self._local = InMemoryInboxSignals()
        self._reconnect_s = reconnect_s
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def local(self) -> InMemoryInboxSignals:
        """This process's waiters and hints (for metrics)."""
        return self._local

    @classmethod
    def from_url(cls, url: str, *, namespace: str = "im", timeout: float = 1.0,
                 max_connections: int = 64) -> RedisInboxSignals:
        """Build the publishing pool and the subscriber's client for ``url``.

        ``redis://`` / ``rediss://`` / ``unix://`` name one Redis; ``redis+cluster://``
        names one node of a Redis Cluster (the others are discovered). Retries are
        off: a dropped subscription must be seen (it may have missed rings), not
        quietly healed by the driver.

        Raises:
            ConfigurationError: the URL cannot name a Redis.
        """
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "health_check_interval": 5,
            "retry": Retry(NoBackoff(), 0),
        }
        try:
            if url.startswith("redis+cluster://"):
                client: Any = redis.cluster.RedisCluster.from_url(
                    "redis://" + url.removeprefix("redis+cluster://"),
                    max_connections=max_connections, **options)
            elif url.startswith(("redis://", "rediss://", "unix://")):
                client = redis.Redis.from_url(url, max_connections=max_connections, **options)
            else:
                raise ConfigurationError(
                    "the Redis URL must start with redis://, rediss://, unix:// "
                    "or redis+cluster://")
        except (ValueError, redis.RedisError) as error:
            raise ConfigurationError(f"the Redis URL cannot be used: {error}") from error
        return cls(client, namespace)

    def start(self) -> None:
        """Start the subscriber; returns at once (``wait_connected`` waits for it)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._subscribe_forever,
                                            name="im-ring-subscriber", daemon=True)
            self._thread.start()

    def wait_connected(self, timeout_s: float) -> bool:
        """Whether the subscription is up within ``timeout_s`` (start-up and tests)."""
        return self._connected.wait(timeout_s)

    def close(self) -> None:
        self._local.close()
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self._reconnect_s + 2)
        self._client.close()

    def ring(self, uid: str) -> None:
        self._local.deliver(uid)
        channel = self._channels[zlib.crc32(uid.encode()) % CHANNELS]
        try:
            if self._cluster:
                self._client.spublish(channel, f"{self._node} {uid}")
            else:
                self._client.publish(channel, f"{self._node} {uid}")
        except redis.RedisError as error:
            raise SignalsUnavailable(
                f"could not publish a ring: {type(error).__name__}") from error

    def hint(self, uid: str, now_ms: int) -> InboxHint:
        hint = self._local.hint(uid, now_ms)
        if hint.known_empty and not self._connected.is_set():
            return InboxHint(hint.version, False)  # rings may be passing us by
        return hint

    def mark_empty(self, uid: str, version: int, now_ms: int) -> None:
        self._local.mark_empty(uid, version, now_ms)

    def listen(self, uid: str) -> Waiter:
        return self._local.listen(uid)

    def ping(self) -> None:
        try:
            self._client.ping()
        except redis.RedisError as error:
            raise SignalsUnavailable(f"Redis did not answer: {type(error).__name__}") from error
        if self._thread is not None and not self._connected.is_set():
            raise SignalsUnavailable("the ring subscription is down")

    def _subscribe_forever(self) -> None:
        while not self._stopping.is_set():
            pubsub = self._client.pubsub()
            try:
                if self._cluster:
                    pubsub.ssubscribe(*self._channels)
                else:
                    pubsub.subscribe(*self._channels)
                self._listen(pubsub)
            except (redis.RedisError, OSError) as error:
                if self._connected.is_set():
                    log.warning("ring subscription lost (%s); reconnecting",
                                type(error).__name__)
            finally:
                self._connected.clear()
                with contextlib.suppress(redis.RedisError, OSError):
                    pubsub.close()
            self._local.deliver_all()
            self._stopping.wait(self._reconnect_s)

    def _listen(self, pubsub: Any) -> None:
        # Up once Redis confirmed every channel; rings before that may have been
        # missed, hence deliver_all then.
        confirmed = 0
        while not self._stopping.is_set():
            if self._cluster:
                message = pubsub.get_sharded_message(timeout=1.0)
            else:
                message = pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            if message.get("type") in ("subscribe", "ssubscribe"):
                confirmed += 1
                if confirmed == CHANNELS:
                    self._connected.set()
                    self._local.deliver_all()
                continue
            if message.get("type") not in ("message", "smessage"):
                continue
            node, _, uid = _text(message["data"]).partition(" ")
            if node != self._node and uid:
                self._local.deliver(uid)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
