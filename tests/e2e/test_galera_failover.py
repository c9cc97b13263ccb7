"""Three real ``im-server`` nodes, each on its own node of a 3-node Galera cluster, one
Galera node killed (kill -9) under a send load, then started again.

Many senders write to few recipients through all three Galera nodes at once, so
certification conflicts happen all the time and are rerun. When Galera node 1 dies,
the server on it answers 503 (in ``IM_STORAGE_TIMEOUT``), never 500; clients retry on
the next server with the same ``client_msg_id``; the other two Galera nodes keep the
quorum. When the node is back (IST from a peer), its server answers again without a
restart. Afterwards (``Load.audit``): every 2xx send delivered exactly once, stored
exactly once, msgids unique.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from im_adapters.sql.admin import create_database, drop_database
from tests.e2e.fault_kit import call, clean_env, migrate, nodes
from tests.e2e.load_and_kill import Load
from tests.galera import GaleraCluster

SENDERS = [f"s{i}" for i in range(6)]
RECIPIENTS = ["r0", "r1"]
PER_SENDER = 30


@pytest.mark.redis
def test_a_galera_node_killed_under_load_costs_bounded_503s_and_loses_nothing(
    tmp_path: Path, galera: GaleraCluster, redis_url: str, redis_namespace: str,
) -> None:
    url = create_database(galera.url(0), prefix="im_galera")
    name = url.rsplit("/", 1)[1]
    try:
        migrate(url, tmp_path)
        base = {"IM_SESSION_STORE_URL": redis_url, "IM_REDIS_NAMESPACE": redis_namespace,
                "IM_STORAGE_TIMEOUT": "2"}
        with contextlib.ExitStack() as stack:
            servers = [stack.enter_context(nodes(1, clean_env(
                {**base, "IM_DATABASE_URL": galera.url(i, name)}, tmp_path), tmp_path))[0]
                for i in range(GaleraCluster.NODES)]
            load = Load(servers, SENDERS, RECIPIENTS, PER_SENDER)
            rejoined: list[float] = []
            outcome = load.run(fault=lambda: galera.kill(1),
                               recover=lambda: rejoined.append(galera.restart(1)))
            load.audit(galera.url(0, name))
            # The server on the rejoined node answers again, and was never restarted.
            status, _, _ = call(servers[1].port, "GET", "/readyz")
            assert status == 200
    finally:
        if galera.processes[1] is None or galera.processes[1].poll() is not None:
            galera.restart(1)
        drop_database(galera.url(0), url)
    print(outcome.report("galera") + f"; node 1 rejoined in {rejoined[0]:.1f} s")
    assert outcome.statuses[503] > 0, "the kill cost no 503: the test proved nothing"
    assert outcome.unavailable_window_s() < 30
