"""The session store and the rings on a real 3-master Redis Cluster: slots and outages.

The contracts (``test_session_store_contract.py``, ``test_signals_contract.py``) run on
the run's shared cluster too; this adds what only a cluster has: keys and channels
spread by hash slot, and one shard dying while the others live. Outages use a private
cluster of the test's own, so stopping a node disturbs nothing else.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from im_adapters.redis_sessions import RedisSessionStore
from im_adapters.redis_signals import CHANNELS, RedisInboxSignals
from im_core.models import Presence, Session, SessionToken
from im_core.ports import SessionStoreUnavailable
from im_core.ports.signals import SignalsUnavailable
from tests.conftest import RedisCluster, start_redis_cluster

pytestmark = pytest.mark.redis

TTL = 60_000
TIMEOUT_S = 0.5
BOUND_S = 3.0
ARRIVES = 5.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def node_clients(cluster: RedisCluster) -> list[redis.Redis]:
    return [redis.Redis(port=port, socket_timeout=2, decode_responses=True)
            for port in cluster.ports]


def owner(cluster: RedisCluster, key: str) -> int:
    """The index of the node that serves ``key``'s slot."""
    slot = key_slot(key.encode())
    client = redis.Redis(port=cluster.ports[0], socket_timeout=2)
    try:
        for start, end, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return cluster.ports.index(int(primary[1]))
    finally:
        client.close()
    raise AssertionError(f"slot {slot} is served by no node")


def uid_on(cluster: RedisCluster, namespace: str, index: int) -> str:
    """A uid whose keys live on node ``index``."""
    for n in range(10_000):
        uid = f"player-{n}"
        if owner(cluster, f"{namespace}:{{{uid}}}:z") == index:
            return uid
    raise AssertionError(f"no uid lands on node {index}")


def login(store: RedisSessionStore, uid: str, at: int) -> SessionToken:
    token = SessionToken(uid, secrets.token_urlsafe(16))
    store.create(Session(token, "ios", "login", at), TTL)
    return token


def within(bound_s: float, call: Callable[[], Any], error: type[Exception]) -> None:
    """``call`` raises ``error`` within ``bound_s`` seconds."""
    started = time.monotonic()
    with pytest.raises(error):
        call()
    assert time.monotonic() - started < bound_s


@pytest.fixture
def private_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    cluster = start_redis_cluster(tmp_path)
    try:
        yield cluster
    finally:
        for process in cluster.processes:  # a frozen node ignores SIGTERM until thawed
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
        cluster.stop()


def test_every_key_of_one_user_is_in_one_slot_on_the_cluster(
    redis_cluster: RedisCluster, redis_cluster_url: str, redis_cluster_namespace: str
) -> None:
    store = RedisSessionStore.from_url(redis_cluster_url, namespace=redis_cluster_namespace)
    uids = [f"player-{n}" for n in range(30)]
    try:
        at = now_ms()
        for uid in uids:
            for _ in range(2):  # two sessions: two session keys and the index
                store.touch(login(store, uid, at), "pull", at + 1, TTL)
    finally:
        store.close()
    slots: dict[str, set[int]] = {uid: set() for uid in uids}
    for client in node_clients(redis_cluster):
        with client:
            for key in client.scan_iter(match=f"{redis_cluster_namespace}:*", count=1000):
                uid = key.split("{", 1)[1].split("}", 1)[0]
                slots[uid].add(client.execute_command("CLUSTER", "KEYSLOT", key))
    assert all(len(found) == 1 for found in slots.values()), slots
    # ... and the users themselves spread over the shards.
    users_per_node = {owner(redis_cluster, f"{redis_cluster_namespace}:{{{uid}}}:z")
                      for uid in uids}
    assert users_per_node == {0, 1, 2}


def test_the_ring_channels_spread_over_all_three_shards_and_each_is_subscribed_there(
    redis_cluster: RedisCluster, redis_cluster_url: str, redis_cluster_namespace: str
) -> None:
    channels = [f"{redis_cluster_namespace}:ring:{{{n}}}" for n in range(CHANNELS)]
    assert {owner(redis_cluster, channel) for channel in channels} == {0, 1, 2}
    node = RedisInboxSignals.from_url(redis_cluster_url, namespace=redis_cluster_namespace)
    node.start()
    try:
        assert node.wait_connected(ARRIVES)
        subscribed: dict[int, set[str]] = {}
        for index, client in enumerate(node_clients(redis_cluster)):
            with client:
                subscribed[index] = set(client.execute_command(
                    "PUBSUB", "SHARDCHANNELS", f"{redis_cluster_namespace}:ring:*"))
    finally:
        node.close()
    assert {i: {c for c in channels if owner(redis_cluster, c) == i} for i in range(3)} \
        == subscribed


def test_a_dead_shard_makes_its_users_calls_unavailable_within_the_timeout(
    private_cluster: RedisCluster,
) -> None:
    store = RedisSessionStore.from_url(private_cluster.url, namespace="im", timeout=TIMEOUT_S)
    try:
        at = now_ms()
        doomed = login(store, uid_on(private_cluster, "im", 2), at)
        alive = login(store, uid_on(private_cluster, "im", 0), at)
        private_cluster.kill(2)

        within(BOUND_S, lambda: store.touch(doomed, "pull", at + 1, TTL),
               SessionStoreUnavailable)
        within(BOUND_S, lambda: store.presence([doomed.uid, alive.uid], at + 1),
               SessionStoreUnavailable)
        # The other shards answer meanwhile (until the cluster declares itself failed).
        assert store.touch(alive, "pull", at + 2, TTL) is not None
    finally:
        store.close()


def test_a_frozen_shard_makes_its_users_calls_unavailable_within_the_timeout(
    private_cluster: RedisCluster,
) -> None:
    store = RedisSessionStore.from_url(private_cluster.url, namespace="im", timeout=TIMEOUT_S)
    try:
        at = now_ms()
        stuck = login(store, uid_on(private_cluster, "im", 1), at)
        os.kill(private_cluster.processes[1].pid, signal.SIGSTOP)

        within(BOUND_S, lambda: store.touch(stuck, "pull", at + 1, TTL),
               SessionStoreUnavailable)
    finally:
        store.close()


def test_a_restarted_shard_serves_again_having_lost_its_sessions_and_scripts(
    private_cluster: RedisCluster,
) -> None:
    store = RedisSessionStore.from_url(private_cluster.url, namespace="im", timeout=TIMEOUT_S)
    try:
        at = now_ms()
        uid = uid_on(private_cluster, "im", 2)
        before = login(store, uid, at)
        private_cluster.kill(2)
        private_cluster.restart(2)

        assert store.touch(before, "pull", at + 2, TTL) is None  # its keys died with it
        after = login(store, uid, at + 3)  # the scripts are loaded again
        assert store.presence([uid], at + 4) == {uid: Presence(True, "ios", at + 3)}
        assert store.touch(after, "pull", at + 5, TTL) is not None
    finally:
        store.close()


def test_rings_come_back_after_a_shard_restarts_and_ring_fails_while_it_is_down(
    private_cluster: RedisCluster,
) -> None:
    here = RedisInboxSignals.from_url(private_cluster.url, timeout=TIMEOUT_S)
    there = RedisInboxSignals.from_url(private_cluster.url, timeout=TIMEOUT_S)
    for node in (here, there):
        node.start()
        assert node.wait_connected(ARRIVES)
    try:
        uid = next(f"erin.{n}" for n in range(1000)
                   if owner(private_cluster, f"im:ring:{{{_channel(f'erin.{n}')}}}") == 2)
        private_cluster.kill(2)
        within(BOUND_S, lambda: here.ring(uid), SignalsUnavailable)
        within(BOUND_S, there.ping, SignalsUnavailable)

        private_cluster.restart(2)
        assert there.wait_connected(ARRIVES * 2), "the subscription did not come back"
        assert here.wait_connected(ARRIVES * 2)
        waiter = there.listen(uid)
        try:
            here.ring(uid)
            assert waiter.wait(ARRIVES) is True
        finally:
            waiter.close()
    finally:
        here.close()
        there.close()


def _channel(uid: str) -> int:
    import zlib

    return zlib.crc32(uid.encode()) % CHANNELS
