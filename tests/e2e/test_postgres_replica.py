"""A PostgreSQL primary with a streaming replica behind real ``im-server`` nodes.

The read replica (``IM_DATABASE_READ_URL``): history reads go to the replica, and a
player who just wrote reads it back on another node even while the replica's replay
is paused (the read falls back to the primary) and after the replica is stopped.

The failover: synchronous replication, ``IM_DATABASE_URL`` a libpq multi-host URL
with ``target_session_attrs=read-write``; the primary killed (kill -9) under a send
load, the replica promoted (the test is the failover manager); writes resume on it
with no node restarted, and no acknowledged message is lost or stored twice.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import unreachable
from tests.e2e.fault_kit import Node, call, clean_env, login, migrate, nodes
from tests.e2e.load_and_kill import Load
from tests.pg_cluster import PostgresPair

PLAYERS = [f"p{i}" for i in range(6)]
ROUNDS = 15


@contextlib.contextmanager
def _pair(synchronous: bool) -> Iterator[PostgresPair]:
    # Not under tmp_path: the servers run as ``postgres`` when the run is root's.
    directory = Path(tempfile.mkdtemp(prefix="im-pg-"))
    pair = PostgresPair(directory, synchronous=synchronous)
    try:
        pair.start()
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        pair.stop()
        shutil.rmtree(directory, ignore_errors=True)
        unreachable("a private PostgreSQL primary and replica", error)
    try:
        yield pair
    finally:
        pair.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _served(servers: list[Node]) -> Counter[str]:
    """Reads each database served, summed over the nodes (their /metrics)."""
    served = Counter[str]()
    for server in servers:
        time.sleep(1.1)  # the gauges are sampled every second
        status, _, _ = call(server.port, "GET", "/healthz")
        assert status == 200
        text = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics",
                                      timeout=5).read().decode()
        for where in ("replica", "primary"):
            found = re.search(rf'^im_database_reads_served{{served_by="{where}"}} (\S+)$',
                              text, re.M)
            served[where] += int(float(found.group(1))) if found else 0
    return served


def _read_only(servers: list[Node], rounds: int) -> None:
    """Each player reads its conversations again, writing nothing."""
    tokens = {uid: login(servers[1].port, uid) for uid in PLAYERS}
    for n in range(rounds):
        for i, uid in enumerate(PLAYERS):
            peer = PLAYERS[(i + 1) % len(PLAYERS)]
            status, page, _ = call(servers[n % 2].port, "GET",
                                   f"/v1/messages/history?peer={peer}&limit=5", token=tokens[uid])
            assert status == 200 and page["messages"], page


def _write_then_read(servers: list[Node], rounds: int, tag: str) -> Counter[str]:
    """Each player sends on one node and at once reads the conversation on the other:
    the message must be there. Returns the statuses seen."""
    tokens = {uid: login(servers[0].port, uid) for uid in PLAYERS}
    seen = Counter[str]()
    errors: list[str] = []

    def player(index: int, uid: str) -> None:
        peer = PLAYERS[(index + 1) % len(PLAYERS)]
        for n in range(rounds):
            writer, reader = servers[n % 2], servers[(n + 1) % 2]
            cmid = f"{tag}-{uid}-{n}"
            status, answer, _ = call(writer.port, "POST", "/v1/messages",
                                     {"to": peer, "body": cmid, "client_msg_id": cmid},
                                     tokens[uid])
            seen[f"send {status}"] += 1
            if status not in (200, 201):
                errors.append(f"send {cmid}: {status} {answer}")
                return
            status, page, _ = call(reader.port, "GET",
                                   f"/v1/messages/history?peer={peer}&limit=5", token=tokens[uid])
            seen[f"history {status}"] += 1
            if status != 200:
                errors.append(f"history {cmid}: {status} {page}")
                return
            if answer["msgid"] not in {m["msgid"] for m in page["messages"]}:
                errors.append(f"{uid} did not read its own message {cmid} back")

    threads = [threading.Thread(target=player, args=(i, uid)) for i, uid in enumerate(PLAYERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors[:5]
    return seen


@pytest.mark.redis
def test_history_reads_go_to_the_replica_and_a_player_always_reads_their_own_writes(
    tmp_path: Path, redis_url: str, redis_namespace: str,
) -> None:
    with _pair(synchronous=False) as pair:
        migrate(pair.url(0), tmp_path)
        env = clean_env({"IM_DATABASE_URL": pair.url(0), "IM_DATABASE_READ_URL": pair.url(1),
                         "IM_SESSION_STORE_URL": redis_url,
                         "IM_REDIS_NAMESPACE": redis_namespace}, tmp_path)
        with nodes(2, env, tmp_path) as servers:
            streaming = _write_then_read(servers, ROUNDS, "streaming")
            time.sleep(0.2)  # caught up: the players' marks are now replayed
            _read_only(servers, ROUNDS)
            served = _served(servers)

            pair.psql(1, "SELECT pg_wal_replay_pause()")  # the replica falls behind
            time.sleep(0.2)
            paused = _write_then_read(servers, ROUNDS, "paused")
            pair.psql(1, "SELECT pg_wal_replay_resume()")

            pair.kill(1)
            started = time.monotonic()
            stopped = _write_then_read(servers, ROUNDS, "stopped")
            stopped_s = time.monotonic() - started
    reads = len(PLAYERS) * ROUNDS
    print(f"read replica: {reads} write-then-read rounds per phase; streaming: "
          f"{dict(streaming)}, then {reads} reads alone; reads served {dict(served)}; "
          f"replay paused: "
          f"{dict(paused)}; replica killed: {dict(stopped)} in {stopped_s:.1f} s")
    assert served["replica"] >= reads, "the replica served too few reads: is it used?"
    for phase in (streaming, paused, stopped):
        assert phase == Counter({"history 200": reads}) + Counter(
            {key: value for key, value in phase.items() if key.startswith("send 20")})


@pytest.mark.redis
def test_the_primary_killed_under_load_fails_over_to_the_replica_and_loses_nothing(
    tmp_path: Path, redis_url: str, redis_namespace: str,
) -> None:
    with _pair(synchronous=True) as pair:
        migrate(pair.failover_url(), tmp_path)
        env = clean_env({"IM_DATABASE_URL": pair.failover_url(),
                         "IM_SESSION_STORE_URL": redis_url,
                         "IM_REDIS_NAMESPACE": redis_namespace, "IM_STORAGE_TIMEOUT": "2"},
                        tmp_path)
        promoted: list[float] = []

        def fail_over() -> None:
            pair.kill(0)
            time.sleep(1.0)  # a failover manager's detection time
            promoted.append(pair.promote())

        with nodes(2, env, tmp_path) as servers:
            load = Load(servers, [f"s{i}" for i in range(6)], ["r0", "r1", "r2"], 30)
            outcome = load.run(fault=fail_over, fault_after=0.3)
            load.audit(pair.url(1))
    print(outcome.report("postgres failover") + f"; promotion took {promoted[0]:.1f} s")
    assert outcome.statuses[503] > 0, "the kill cost no 503: the test proved nothing"
    assert outcome.unavailable_window_s() < 30
