"""Two real ``im-server serve`` processes over one Redis and one PostgreSQL.

One conversation (``converse``, in ``nodes_harness.py`` with the nodes) is played
calling the two nodes in turn, so that every call goes to the other node than the
last; ``test_nodes_nginx.py`` plays it through nginx. A node stopped by SIGTERM
answers its held long-poll and leaves the other serving.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time

import pytest

from bench.processes import Processes, free_port, wait_http
from tests.e2e.nodes_harness import (
    HELD_WAIT_S,
    SERVER,
    WELL_BEFORE_S,
    Answer,
    Client,
    Nodes,
    _session_time,
    converse,
)

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

def test_a_conversation_whose_every_call_goes_to_the_other_node_than_the_last(
    nodes: Nodes,
) -> None:
    client = Client(nodes, list(nodes.ports))
    pairs = converse(client)
    ports = [answer.port for answer in sorted(client.calls, key=lambda a: a.turn)]
    assert all(a != b for a, b in itertools.pairwise(ports)), ports
    for held, cause in pairs.values():
        assert held.port != cause.port


def test_sigterm_on_a_node_answers_its_held_long_poll_and_leaves_the_other_serving(
    nodes: Nodes,
) -> None:
    processes = Processes()
    port, log = free_port(), nodes.workdir / f"node-c-{secrets.token_hex(3)}.log"
    try:
        node = processes.start([*SERVER, "serve", "--port", str(port), "--pool-size", "2"],
                               env=nodes.env, cwd=nodes.workdir, log_path=log)
        wait_http(port, node, log, path="/readyz", timeout=60)
        client = Client(nodes, [port])
        uid = nodes.uid("leaving")
        token = client.login(uid)
        outcome: list[Answer | BaseException] = []

        def long_poll() -> None:
            try:
                outcome.append(client.call("POST", "/v1/heartbeat", {"wait": HELD_WAIT_S},
                                           token))
            except OSError as error:  # the connection cut
                outcome.append(error)

        held = threading.Thread(target=long_poll, daemon=True)
        before = _session_time(nodes, uid)
        held.start()
        deadline = time.monotonic() + 5
        while _session_time(nodes, uid) == before:
            assert time.monotonic() < deadline, "the long-poll never reached the node"
            threading.Event().wait(0.01)
        threading.Event().wait(0.2)  # listen + read, after the touch (see hold)
        stopped_at = time.monotonic()
        node.terminate()
        held.join(timeout=HELD_WAIT_S + 5)
        assert node.wait(timeout=15) == 0
        answer = outcome[0]
        assert isinstance(answer, Answer), answer
        assert (answer.status, answer.body) == (200, {"messages": [], "more": False})
        assert time.monotonic() - stopped_at < WELL_BEFORE_S
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and "exited with code" not in text, text
        # The session lives in Redis: the other nodes go on serving the player.
        other = Client(nodes, [nodes.ports[0]])
        assert other.call("POST", "/v1/heartbeat", {}, token).status == 200
    finally:
        processes.stop_all()
