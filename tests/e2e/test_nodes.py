"""Two real ``im-server serve`` processes over one Redis and one PostgreSQL, and nginx.

The nodes are two processes on two loopback ports, sharing a Redis database of this
module's own (``NODES_REDIS_DB``; the server's key prefix is fixed, so the database
number is what keeps these keys apart), one scratch PostgreSQL database migrated with
``im-server migrate``, and one game-login secret. Nothing else joins them: a
long-poll held on one node is woken (or ended by a logout) on the other only through
Redis pub/sub.

One conversation (``converse``) is played twice: once calling the two nodes in turn,
so that every call goes to the other node than the last, and once through nginx
running the shipped ``deploy/nginx.conf`` (rendered for this module's ports), whose
round robin must hand requests to both nodes; its access log says which node answered
each request, matched by the ``X-Request-Id`` the test sends.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from unittest.mock import ANY
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest

from bench.processes import Processes, free_port, wait_http
from tests.conftest import POSTGRES_URL, REQUIRE_SERVICES, _scratch_database

PACE = {"next_heartbeat_ms": ANY}  # a heartbeat answer's pacing, whatever it is

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

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
                                                                   "more": False, **PACE}
    first = client.call("POST", "/v1/messages",
                        {"to": bob_uid, "body": "gg 🎮", "client_msg_id": "a-1"}, alice)
    assert first.status == 201, first.body
    pulled = client.call("POST", "/v1/heartbeat", {}, bob)
    assert pulled.body == {"messages": [first.body], "more": False, **PACE}
    acked = client.call("POST", "/v1/heartbeat", {"ack": first.body["msgid"]}, bob)
    assert acked.body == {"messages": [], "more": False, **PACE}

    # A long-poll held on one node, woken by a send on the other.
    held = hold(client, bob, bob_uid)
    started = time.monotonic()
    second = client.call("POST", "/v1/messages",
                         {"to": bob_uid, "body": "rematch?", "client_msg_id": "a-2"}, alice)
    assert second.status == 201, second.body
    woken = held()
    assert woken.status == 200 and woken.body == {"messages": [second.body], "more": False, **PACE}
    assert time.monotonic() - started < WELL_BEFORE_S, "woken by the wait's end, not a ring"
    assert client.call("POST", "/v1/heartbeat", {"ack": second.body["msgid"]},
                       bob).body == {"messages": [], "more": False, **PACE}

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


def test_a_conversation_whose_every_call_goes_to_the_other_node_than_the_last(
    nodes: Nodes,
) -> None:
    client = Client(nodes, list(nodes.ports))
    pairs = converse(client)
    ports = [answer.port for answer in sorted(client.calls, key=lambda a: a.turn)]
    assert all(a != b for a, b in itertools.pairwise(ports)), ports
    for held, cause in pairs.values():
        assert held.port != cause.port


# nginx ------------------------------------------------------------------------------


def render_nginx_conf(listen: int, upstreams: tuple[int, int]) -> str:
    """``deploy/nginx.conf`` as shipped, with its ``listen`` and its nodes replaced."""
    text = NGINX_CONF.read_text()
    servers = iter(upstreams)
    text, replaced = re.subn(r"(?m)^(\s*server\s+)127\.0\.0\.1:\d+",
                             lambda m: f"{m.group(1)}127.0.0.1:{next(servers)}", text)
    assert replaced == len(upstreams), "deploy/nginx.conf no longer lists two nodes"
    text, replaced = re.subn(r"(?m)^(\s*listen\s+)[^;]+;", rf"\g<1>127.0.0.1:{listen};",
                             text)
    assert replaced == 1, "deploy/nginx.conf no longer has one listen line"
    return text


def _nginx() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)),
        None)
    if found is None:
        reason = "nginx is not installed (apt-get install nginx; .ci/run installs it)"
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} (IM_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    return found


def _nginx_args(nginx: str, prefix: Path, conf: Path, *, daemon: bool = False) -> list[str]:
    for sub in ("logs", "temp"):
        (prefix / sub).mkdir(exist_ok=True)
    directives = f"pid {prefix / 'nginx.pid'};" + ("" if daemon else " daemon off;")
    return [nginx, "-p", f"{prefix}/", "-c", str(conf), "-g", directives]


def test_the_shipped_nginx_conf_passes_nginx_own_check(tmp_path: Path) -> None:
    checked = subprocess.run([*_nginx_args(_nginx(), tmp_path, NGINX_CONF), "-t"],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


@dataclass
class Nginx:
    port: int
    access_log: Path

    def upstreams(self, request_ids: list[str]) -> dict[str, str]:
        """The node (``upstream=``) that answered each request, from the access log.

        nginx writes a request's line just after its answer: wait for all of them.
        """
        pattern = re.compile(r"rid=(\S+) upstream=(\S+)")
        deadline = time.monotonic() + 5
        while True:
            text = self.access_log.read_text() if self.access_log.exists() else ""
            found = dict(pattern.findall(text))
            if all(rid in found for rid in request_ids):
                return {rid: found[rid] for rid in request_ids}
            assert time.monotonic() < deadline, f"requests missing from the log:\n{text}"
            threading.Event().wait(0.02)


@pytest.fixture(scope="module")
def nginx(nodes: Nodes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    """nginx on loopback, round robin over the two nodes; stopped here."""
    binary = _nginx()
    prefix = tmp_path_factory.mktemp("nginx")
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(render_nginx_conf(port, nodes.ports))
    processes = Processes()
    try:
        process = processes.start(_nginx_args(binary, prefix, conf), env=_env(), cwd=prefix,
                                  log_path=prefix / "stderr.log")
        wait_http(port, process, prefix / "stderr.log", path="/healthz", timeout=30)
        yield Nginx(port, prefix / "logs" / "access.log")
    finally:
        processes.stop_all()


def test_the_same_conversation_through_nginx_is_served_by_both_nodes(
    nodes: Nodes, nginx: Nginx
) -> None:
    client = Client(nodes, [nginx.port])
    pairs = converse(client)
    answered_by = nginx.upstreams([answer.request_id for answer in client.calls])
    node_addresses = {f"127.0.0.1:{port}" for port in nodes.ports}
    assert set(answered_by.values()) == node_addresses, answered_by
    for held, cause in pairs.values():
        # Round robin put the long-poll on one node and what ended it on the other.
        assert answered_by[held.request_id] != answered_by[cause.request_id]


def test_nginx_refuses_a_body_over_64_kib_in_the_api_own_format(
    nodes: Nodes, nginx: Nginx
) -> None:
    client = Client(nodes, [nginx.port])
    uid = nodes.uid("big")
    answer = client.call("POST", "/v1/messages", {"to": uid, "body": "x" * 70_000},
                         client.login(uid))
    assert answer.status == 413
    assert answer.body["code"] == "payload_too_large"
    assert nginx.upstreams([answer.request_id]) == {answer.request_id: "-"}  # no node saw it


def test_nginx_answers_the_api_503_with_retry_after_when_no_node_answers(
    tmp_path: Path,
) -> None:
    binary, port = _nginx(), free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx_conf(port, (free_port(), free_port())))  # nothing there
    processes = Processes()
    try:
        process = processes.start(_nginx_args(binary, tmp_path, conf), env=_env(),
                                  cwd=tmp_path, log_path=tmp_path / "stderr.log")
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "stderr.log").read_text()
            try:
                connection = HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", "/readyz")
                response = connection.getresponse()
                body, retry_after = json.loads(response.read()), response.getheader(
                    "Retry-After")
                connection.close()
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "nginx did not come up"
                threading.Event().wait(0.05)
        assert response.status == 503 and retry_after == "1"
        assert body["code"] == "storage_unavailable"
    finally:
        processes.stop_all()


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
        assert (answer.status, answer.body) == (200, {"messages": [], "more": False, **PACE})
        assert time.monotonic() - stopped_at < WELL_BEFORE_S
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and "exited with code" not in text, text
        # The session lives in Redis: the other nodes go on serving the player.
        other = Client(nodes, [nodes.ports[0]])
        assert other.call("POST", "/v1/heartbeat", {}, token).status == 200
    finally:
        processes.stop_all()
