"""The two nodes behind nginx running the shipped ``deploy/nginx.conf``.

The conversation of ``test_nodes.py`` is played through nginx (rendered for this
module's ports), whose round robin must hand requests to both nodes; its access log
says which node answered each request, matched by the ``X-Request-Id`` the test
sends. nginx's own limits and its 503 when no node answers keep the API's format.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path

import pytest

from bench.processes import Processes, free_port, wait_http
from tests.conftest import REQUIRE_SERVICES
from tests.e2e.nodes_harness import (
    NGINX_CONF,
    Client,
    Nodes,
    _env,
    converse,
)

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

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
