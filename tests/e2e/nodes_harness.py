"""Two real ``im-server serve`` processes over one Redis and one PostgreSQL: the harness.

The nodes are two processes on two loopback ports, sharing a Redis database of their
own (``NODES_REDIS_DB``; this run's uids are removed afterwards), one scratch
PostgreSQL database migrated with ``im-server migrate``, and one game-login secret.
Nothing else joins them: a long-poll held on one node is woken (or ended by a
logout) on the other only through Redis pub/sub. ``converse`` is the conversation
``test_nodes.py`` and ``test_nodes_nginx.py`` play.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest

from bench.processes import Processes, free_port, wait_http
from tests.conftest import POSTGRES_URL, _scratch_database

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
SERVER = [sys.executable, "-m", "im_http.serving.cli"]
NODES_REDIS_DB = 13
HELD_WAIT_S = 5
WELL_BEFORE_S = 2.0  # a woken or ended long-poll answers this long after its cause


@dataclass
class Answer:
    status: int
    body: Any
    request_id: str
    port: int
    turn: int  # the order in which the calls were made (not answered)


@dataclass
class Nodes:
    """The two running nodes and what they share."""

    ports: tuple[int, int]
    redis_url: str
    secret: str
    logs: tuple[Path, Path]
    run: str
    env: dict[str, str]  # a node's environment: a third node joins with it
    workdir: Path

    def uid(self, name: str) -> str:
        """A new player of this run: its keys are found (and deleted) by ``run``."""
        return f"{self.run}-{name}-{secrets.token_hex(3)}"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IM_")}
    env.update(extra)
    return env


def _redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.fixture(scope="module")
def nodes(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    """Two ``im-server serve`` processes, started and stopped here."""
    import redis

    workdir = tmp_path_factory.mktemp("nodes")
    node_redis = _redis_db(redis_url, NODES_REDIS_DB)
    run = f"nodes{secrets.token_hex(4)}"
    processes = Processes()
    scratch = contextlib.contextmanager(_scratch_database)
    try:
        with scratch(POSTGRES_URL, "PostgreSQL") as database_url:
            secret = secrets.token_urlsafe(48)
            migrated = subprocess.run([*SERVER, "migrate"], cwd=workdir, capture_output=True,
                                      text=True, timeout=60,
                                      env=_env(IM_DATABASE_URL=database_url))
            assert migrated.returncode == 0, migrated.stderr
            env = _env(IM_SESSION_STORE_URL=node_redis, IM_DATABASE_URL=database_url,
                       IM_GAME_AUTH_JWT_SECRET=secret, XDG_DATA_HOME=str(workdir))
            ports = (free_port(), free_port())
            logs = (workdir / "node-a.log", workdir / "node-b.log")
            started = [
                processes.start([*SERVER, "serve", "--host", "127.0.0.1", "--port",
                                 str(port), "--workers", "1", "--max-connections", "200",
                                 "--pool-size", "4"], env=env, cwd=workdir, log_path=log)
                for port, log in zip(ports, logs, strict=True)
            ]
            for port, process, log in zip(ports, started, logs, strict=True):
                wait_http(port, process, log, path="/readyz", timeout=60)
            yield Nodes(ports, node_redis, secret, logs, run, env, workdir)
            for log in logs:  # (stopping is checked on its own, see the last test)
                text = log.read_text(errors="replace")
                assert "Traceback" not in text, text
            processes.stop_all()  # before the database is dropped
    finally:
        processes.stop_all()
        client = redis.Redis.from_url(node_redis, socket_timeout=2)
        try:
            keys = list(client.scan_iter(match=f"im:{{{run}-*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


class Client:
    """Plain HTTP to ``ports`` in turn: each call goes to the next port of the list."""

    def __init__(self, nodes: Nodes, ports: list[int]) -> None:
        self.nodes = nodes
        self.ports = ports
        self.calls: list[Answer] = []
        self._turn = 0
        self._lock = threading.Lock()

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             timeout: float = 10) -> Answer:
        with self._lock:
            turn = self._turn
            port = self.ports[turn % len(self.ports)]
            self._turn += 1
        request_id = secrets.token_hex(8)
        headers = {"X-Request-Id": request_id}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        connection = HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        answer = Answer(response.status, json.loads(raw) if raw else None, request_id, port,
                        turn)
        with self._lock:
            self.calls.append(answer)
        return answer

    def login(self, uid: str) -> str:
        from im_adapters.game_auth import mint_game_token

        game_token = mint_game_token(self.nodes.secret, uid, ttl_s=600)
        answer = self.call("POST", "/v1/login",
                           {"uid": uid, "game_token": game_token, "client_type": "pc"})
        assert answer.status == 200, answer.body
        token: str = answer.body["token"]
        return token


def in_background(call: Callable[[], Answer]) -> Callable[[], Answer]:
    box: dict[str, Answer] = {}
    thread = threading.Thread(target=lambda: box.setdefault("answer", call()), daemon=True)
    thread.start()

    def answer() -> Answer:
        thread.join(timeout=HELD_WAIT_S + 10)
        assert not thread.is_alive(), "the held heartbeat never answered"
        return box["answer"]

    return answer


def _session_time(nodes: Nodes, uid: str) -> bytes | None:
    import redis

    client = redis.Redis.from_url(nodes.redis_url, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"im:{{{uid}}}:s:*"))
        return client.hget(keys[0], "time") if len(keys) == 1 else None
    finally:
        client.close()


def hold(client: Client, token: str, uid: str) -> Callable[[], Answer]:
    """Start a long-poll of ``HELD_WAIT_S`` for ``uid``; return once a node holds it.

    From outside, the last sign of the request on the node is the touch of the
    session (its ``time`` in Redis); the node then listens for rings and reads the
    inbox, a matter of milliseconds, before it waits.
    """
    before = _session_time(client.nodes, uid)
    held = in_background(lambda: client.call("POST", "/v1/heartbeat",
                                             {"wait": HELD_WAIT_S}, token))
    deadline = time.monotonic() + 5
    while _session_time(client.nodes, uid) == before:
        assert time.monotonic() < deadline, "the long-poll never reached a node"
        threading.Event().wait(0.01)
    threading.Event().wait(0.2)  # listen + read, after the touch (see above)
    return held


def converse(client: Client) -> dict[str, tuple[Answer, Answer]]:
    """Play a whole conversation; return the (held long-poll, its cause) pairs."""
    alice_uid, bob_uid = client.nodes.uid("alice"), client.nodes.uid("bob")
    alice, bob = client.login(alice_uid), client.login(bob_uid)
    assert client.call("POST", "/v1/heartbeat", {}, bob).body == {"messages": [],
                                                                   "more": False}
    first = client.call("POST", "/v1/messages",
                        {"to": bob_uid, "body": "gg 🎮", "client_msg_id": "a-1"}, alice)
    assert first.status == 201, first.body
    pulled = client.call("POST", "/v1/heartbeat", {}, bob)
    assert pulled.body == {"messages": [first.body], "more": False}
    acked = client.call("POST", "/v1/heartbeat", {"ack": first.body["msgid"]}, bob)
    assert acked.body == {"messages": [], "more": False}

    # A long-poll held on one node, woken by a send on the other.
    held = hold(client, bob, bob_uid)
    started = time.monotonic()
    second = client.call("POST", "/v1/messages",
                         {"to": bob_uid, "body": "rematch?", "client_msg_id": "a-2"}, alice)
    assert second.status == 201, second.body
    woken = held()
    assert woken.status == 200 and woken.body == {"messages": [second.body], "more": False}
    assert time.monotonic() - started < WELL_BEFORE_S, "woken by the wait's end, not a ring"
    assert client.call("POST", "/v1/heartbeat", {"ack": second.body["msgid"]},
                       bob).body == {"messages": [], "more": False}

    history = client.call("GET", "/v1/messages/history?" + urlencode({"peer": alice_uid}),
                          token=bob)
    assert history.status == 200
    assert history.body == {"messages": [second.body, first.body], "next_before": None}

    assert client.call("POST", "/v1/logout", token=alice).status == 204
    gone = client.call("POST", "/v1/heartbeat", {}, alice)
    assert gone.status == 401 and gone.body["code"] == "session_expired"

    # A long-poll held on one node, ended with 401 by a logout on the other.
    ended = hold(client, bob, bob_uid)
    started = time.monotonic()
    logout = client.call("POST", "/v1/logout", token=bob)
    assert logout.status == 204
    cut = ended()
    assert cut.status == 401 and cut.body["code"] == "session_expired"
    assert time.monotonic() - started < WELL_BEFORE_S, "ended by the wait's end, not a ring"
    return {"woken": (woken, second), "ended": (cut, logout)}
