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
  ``SSUBSCRIBE``): the braces make each a hash tag, so the 16 spread over the shards,
  and the subscription is one connection per shard, each read by a thread of its own
  (a slow shard never delays another's rings).
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
from collections.abc import Callable, Iterable
from typing import Any

import redis
import redis.cluster

from im_adapters.redis_client import ERRORS as CLUSTER_ERRORS
from im_adapters.redis_client import check_namespace, connect
from im_adapters.redis_executor import executor_for
from im_core.memory import InMemoryInboxSignals
from im_core.ports.signals import InboxHint, SignalsUnavailable, Waiter

__all__ = ["CHANNELS", "RedisInboxSignals"]

CHANNELS = 16
"""Ring channels; a deployment's nodes must agree on it (it is not configurable)."""

log = logging.getLogger("im_adapters.redis_signals")

# What a lost subscription raises, from a cluster client too.
_ERRORS = (*CLUSTER_ERRORS, OSError)


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
        check_namespace(namespace)
        self._client = client
        self._cluster = isinstance(client, redis.cluster.RedisCluster)
        self._executor = executor_for(client)  # publishes; the subscriber is the client's
        self._publish = "SPUBLISH" if self._cluster else "PUBLISH"
        self._channels = [f"{namespace}:ring:{{{n}}}" for n in range(CHANNELS)]
        self._node = secrets.token_hex(8)
        self._local = InMemoryInboxSignals()
        self._reconnect_s = reconnect_s
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._round_over = threading.Event()  # a cluster's current round of shard threads

    @property
    def local(self) -> InMemoryInboxSignals:
        """This process's waiters and hints (for metrics)."""
        return self._local

    @classmethod
    def from_url(cls, url: str, *, namespace: str = "im", timeout: float = 1.0,
                 max_connections: int = 64) -> RedisInboxSignals:
        """Build the publishing pool and the subscriber's client for ``url``.

        ``redis://`` / ``rediss://`` / ``unix://`` name one Redis; ``redis+cluster://``
        names one node of a Redis Cluster (the others are discovered). The client
        retries nothing: a dropped subscription must be seen (it may have missed
        rings), not quietly healed by the driver; a ring's publish is tried again
        after a connection error, as every Redis call (``redis_client.RETRY``).

        Raises:
            ConfigurationError: the URL cannot name a Redis.
            SignalsUnavailable: no node of the cluster answered (a cluster client
                learns the slot map when it is built).
        """
        return cls(connect(url, timeout=timeout, max_connections=max_connections,
                           unavailable=SignalsUnavailable, health_check_interval=5), namespace)

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
        self._round_over.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self._reconnect_s + 2)
        self._executor.close()
        self._client.close()

    def ring(self, uid: str) -> None:
        self._local.deliver(uid)
        channel = self._channels[zlib.crc32(uid.encode()) % CHANNELS]
        try:
            self._executor.run([(self._publish, channel, f"{self._node} {uid}")])
        except CLUSTER_ERRORS as error:
            raise SignalsUnavailable(
                f"could not publish a ring: {type(error).__name__}") from error

    def ring_many(self, uids: Iterable[str]) -> None:
        """Ring many players (a group send): one message per channel, not per uid.

        The uids of one channel travel together, space-separated (a uid has no
        space), so 500 members cost at most ``CHANNELS`` publishes, sent in one round
        trip (per shard on a cluster). A node older than this format would read
        such a message as one odd uid: its waiters wake at the end of their wait.
        """
        by_channel: dict[str, list[str]] = {}
        for uid in dict.fromkeys(uids):
            self._local.deliver(uid)
            channel = self._channels[zlib.crc32(uid.encode()) % CHANNELS]
            by_channel.setdefault(channel, []).append(uid)
        if not by_channel:
            return
        try:
            self._executor.run([(self._publish, channel, f"{self._node} {' '.join(group)}")
                                for channel, group in by_channel.items()])
        except CLUSTER_ERRORS as error:
            raise SignalsUnavailable(
                f"could not publish rings: {type(error).__name__}") from error

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
        """Whether rings can travel: Redis answers (every shard of a cluster, each
        carries some channels) and the subscription is up."""
        try:
            self._executor.ping()
        except CLUSTER_ERRORS as error:
            raise SignalsUnavailable(f"Redis did not answer: {type(error).__name__}") from error
        if self._thread is not None and not self._connected.is_set():
            raise SignalsUnavailable("the ring subscription is down")

    def _subscribe_forever(self) -> None:
        rounds = 0
        while not self._stopping.is_set():
            try:
                if self._cluster:
                    self._listen_to_shards(refresh=rounds > 0)
                else:
                    self._listen_to_one()
            except _ERRORS as error:
                if self._connected.is_set():
                    log.warning("ring subscription lost (%s); reconnecting",
                                type(error).__name__)
            finally:
                self._connected.clear()
            rounds += 1
            self._local.deliver_all()
            self._stopping.wait(self._reconnect_s)

    def _listen_to_one(self) -> None:
        """Standalone Redis: one connection subscribed to every channel."""
        pubsub = self._client.pubsub()
        try:
            pubsub.subscribe(*self._channels)
            confirmed = 0
            while not self._stopping.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    confirmed += 1
                    if confirmed == CHANNELS:
                        self._up()
                elif message["type"] == "message":
                    self._received(message)
        finally:
            with contextlib.suppress(*_ERRORS):
                pubsub.close()

    def _listen_to_shards(self, *, refresh: bool) -> None:
        """A cluster: one connection per shard, each read by a thread of its own.

        Not redis-py's ``ClusterPubSub.get_sharded_message``: it reads the shards in
        turn, waiting its whole timeout on each, so a ring on one shard waited for the
        quiet others. Returns (or raises) once any shard's subscription is lost, and
        all of them are closed: the next round starts from a fresh slot map.
        """
        if refresh:  # the slots may have moved since the last round
            self._client.nodes_manager.initialize()
        shards: dict[str, tuple[Any, list[str]]] = {}
        for channel in self._channels:
            node = self._client.get_node_from_key(channel)
            shards.setdefault(node.name, (node, []))[1].append(channel)
        over = threading.Event()
        self._round_over = over
        failures: list[BaseException] = []
        up = [0]
        count = threading.Lock()

        def shard_up() -> None:
            with count:
                up[0] += 1
                if up[0] == len(shards):
                    self._up()

        threads = [threading.Thread(
            target=self._listen_to_shard, name=f"im-ring-subscriber-{name}",
            args=(self._client.get_redis_connection(node), channels, shard_up, over, failures),
            daemon=True) for name, (node, channels) in shards.items()]
        for thread in threads:
            thread.start()
        try:
            while not over.wait(1.0) and not self._stopping.is_set():
                pass
        finally:
            over.set()
            for thread in threads:
                thread.join(timeout=2.0)
        if failures:
            raise failures[0]

    def _listen_to_shard(self, shard: Any, channels: list[str], shard_up: Callable[[], None],
                         over: threading.Event, failures: list[BaseException]) -> None:
        """Subscribe to this shard's channels and deliver its rings until the round is over.

        ``SSUBSCRIBE`` is sent once per channel: a command naming channels of several
        slots is refused (``CROSSSLOT``).
        """
        pubsub = shard.pubsub()
        try:
            for channel in channels:
                pubsub.ssubscribe(channel)
            confirmed = 0
            while not over.is_set() and not self._stopping.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "ssubscribe":
                    confirmed += 1
                    if confirmed == len(channels):
                        shard_up()
                elif message["type"] == "smessage":
                    self._received(message)
                elif message["type"] == "sunsubscribe":
                    # Redis drops a shard channel whose slot moved: resubscribe all.
                    raise redis.ConnectionError("a ring channel's slot moved")
        except _ERRORS as error:
            failures.append(error)
        finally:
            over.set()
            with contextlib.suppress(*_ERRORS):
                pubsub.close()

    def _up(self) -> None:
        """Every channel is confirmed: rings before this may have been missed."""
        self._connected.set()
        self._local.deliver_all()

    def _received(self, message: dict[str, Any]) -> None:
        node, _, uids = _text(message["data"]).partition(" ")
        if node != self._node:
            for uid in uids.split():
                self._local.deliver(uid)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
