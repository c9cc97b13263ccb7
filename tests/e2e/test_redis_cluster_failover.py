"""A Redis Cluster master killed (kill -9) under a send load; its replica takes over.

Three masters with a replica each, ``cluster-node-timeout`` 1 s. Two real ``im-server``
nodes keep their sessions, rings and limits on the cluster and their messages in
PostgreSQL. When a master dies, the calls whose keys live on its shard answer 503
until its replica is promoted (the cluster's own failover, no operator), then work
again with no node restarted: the clients learn the new slot map. Replication is
asynchronous, so a session written just before the kill may be gone: that player
gets 401 and logs in again (docs/deployment.md); the test makes sure of it, by
logging some players of that shard in again while its replica is stopped, just
before the kill. Messages live in the database, so none is lost; long-polls are
woken again once the ring subscription has moved.
"""

from __future__ import annotations

import os
import signal
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.crc import key_slot

from im_adapters.redis_signals import CHANNELS
from tests.conftest import RedisCluster, start_redis_cluster
from tests.e2e.fault_kit import clean_env, migrate, nodes
from tests.e2e.load_and_kill import Load


@pytest.fixture
def replicated_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    """A cluster of three masters and three replicas of this test's own."""
    directory = tmp_path / "cluster"
    directory.mkdir()
    cluster = start_redis_cluster(directory, replicas=1, node_timeout_ms=1000)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.postgres
def test_a_redis_cluster_master_killed_under_load_fails_over_and_loses_no_message(
    tmp_path: Path, replicated_cluster: RedisCluster, postgres_url: str,
) -> None:
    migrate(postgres_url, tmp_path)
    env = clean_env({"IM_DATABASE_URL": postgres_url,
                     "IM_SESSION_STORE_URL": replicated_cluster.url,
                     "IM_STORAGE_TIMEOUT": "1"}, tmp_path)
    masters = replicated_cluster.masters()
    victim = replicated_cluster.ports.index(masters[-1])  # not the node the URL names
    # Waiters whose ring channels live on the victim's shard, and some elsewhere.
    slots = _slots_of(replicated_cluster, masters[-1])
    on_victim = [u for u in (f"w{i}" for i in range(200)) if _ring_slot(u) in slots][:4]
    elsewhere = [u for u in (f"x{i}" for i in range(200)) if _ring_slot(u) not in slots][:4]
    assert len(on_victim) == 4
    senders, recipients = [f"s{i}" for i in range(6)], [f"r{i}" for i in range(6)]
    # Players whose sessions live on the victim's shard: logged in again while its
    # replica is stopped and cut off, so their new sessions exist on the master only,
    # and are lost with it, as a write just before a crash is lost to asynchronous
    # replication.
    stranded = [uid for uid in senders + recipients if key_slot(uid.encode()) in slots]
    assert stranded, "no player's session lives on the victim's shard"
    replica = replicated_cluster.processes[replicated_cluster.replica_of(masters[-1])]

    def crash() -> None:
        os.kill(replica.pid, signal.SIGSTOP)
        try:
            # Cut the replication link while the replica cannot reconnect: what the
            # master takes from now on (the new sessions) never reaches the replica.
            replicated_cluster._cli("redis-cli", masters[-1], "CLIENT", "KILL",
                                    "TYPE", "replica")
            for uid in stranded:
                load.relogin(uid)
            replicated_cluster.kill(victim)
        finally:
            os.kill(replica.pid, signal.SIGCONT)

    with nodes(2, env, tmp_path) as servers:
        load = Load(servers, senders, recipients, 30, sessions_may_be_lost=True)
        outcome = load.run(fault=crash)
        load.audit(postgres_url)
        replicated_cluster.wait_ok()
        promoted = replicated_cluster.masters()
        # Rings again, on every shard's channels: a held long-poll answers at once.
        rings = load.ring_latencies(on_victim + elsewhere)
    print(outcome.report("redis cluster failover")
          + f"; masters {masters} -> {promoted}; rings after it: slowest "
          f"{max(rings.values()) * 1000:.0f} ms of {len(rings)} "
          f"({len(on_victim)} on the killed master's ring channels)")
    assert max(rings.values()) < 2.0, rings
    assert masters[-1] not in promoted and len(promoted) == RedisCluster.MASTERS
    assert outcome.statuses[503] > 0, "the kill cost no 503: the test proved nothing"
    assert outcome.relogins > 0, "no session was lost with the shard: nothing was proved"
    assert outcome.unavailable_window_s() < 30


def _ring_slot(uid: str) -> int:
    """The slot of ``uid``'s ring channel (``im:ring:{n}``, redis_signals.py)."""
    return int(key_slot(f"im:ring:{{{zlib.crc32(uid.encode()) % CHANNELS}}}".encode()))


def _slots_of(cluster: RedisCluster, port: int) -> set[int]:
    """The slots master ``port`` serves, from ``CLUSTER NODES``."""
    text = cluster._cli("redis-cli", cluster.ports[0], "CLUSTER", "NODES")
    slots: set[int] = set()
    for line in text.splitlines():
        fields = line.split()
        if fields[1].split("@")[0].endswith(f":{port}"):
            for spec in fields[8:]:
                low, _, high = spec.partition("-")
                slots.update(range(int(low), int(high or low) + 1))
    return slots
