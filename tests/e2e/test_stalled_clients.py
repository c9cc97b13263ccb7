"""Stalled clients cannot lock out a normal one.

2,000 connections each send half a request header, then one more byte every few
seconds (a slowloris). Each costs the server a greenlet, not a thread, and every
request's headers must arrive within the keep-alive deadline, so a normal client's
``/healthz`` and login still answer within 1 s while they trickle.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.real_server import isolated_env, serving

STALLED = 2_000
SECRET = "stall-test-secret-" + "y" * 32


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    env = isolated_env(XDG_DATA_HOME=str(tmp_path), IM_GAME_AUTH_JWT_SECRET=SECRET)
    with serving(cwd=tmp_path, env=env) as port:
        yield port


def _timed(port: int, path: str, body: dict[str, str] | None = None) -> tuple[int, float]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()
        return response.status, time.monotonic() - started


def test_two_thousand_trickling_connections_do_not_lock_out_a_normal_client(
    server: int,
) -> None:
    from im_adapters.game_auth import mint_game_token

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < STALLED + 200:
        pytest.fail(f"the open-file hard limit {hard} is below what the test needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536) if hard > 0 else 65536,
                                                hard))
    stalled: list[socket.socket] = []
    try:
        for _ in range(STALLED):
            sock = socket.create_connection(("127.0.0.1", server), timeout=5)
            sock.sendall(b"POST /v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
            stalled.append(sock)
        game = mint_game_token(SECRET, "alice", ttl_s=600)
        worst = 0.0
        trickle_until = time.monotonic() + 6
        while time.monotonic() < trickle_until:
            for sock in stalled:
                # One more byte, never the end of the headers; the server may already
                # have cut the connection, which is fine too.
                with contextlib.suppress(OSError):
                    sock.send(b"p")
            status, took = _timed(server, "/healthz")
            assert status == 200
            worst = max(worst, took)
            status, took = _timed(server, "/v1/login", {"uid": "alice", "game_token": game,
                                                        "client_type": "pc"})
            assert status == 200
            worst = max(worst, took)
            time.sleep(2)
        assert worst < 1.0, worst
    finally:
        for sock in stalled:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
