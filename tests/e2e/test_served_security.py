"""Security of a real ``im-server serve`` process: framing, limits, what its log holds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.processes import free_port
from tests.e2e.conftest import Stack
from tests.e2e.live import call

SERVER = [sys.executable, "-m", "im_http.serving.cli"]
SECRET = "security-test-secret-" + "s" * 16


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """``im-server serve`` on its embedded defaults; its whole output captured."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IM_")}
    env.update(IM_GAME_AUTH_JWT_SECRET=SECRET, XDG_DATA_HOME=str(tmp_path / "xdg"))
    process = subprocess.Popen([*SERVER, "serve", "--port", str(port)], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if call(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("im-server serve did not come up")
                time.sleep(0.1)
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def _raw(port: int, request: bytes) -> bytes:
    """Send ``request`` as is on a fresh connection; return all the server answers.

    A server that refuses a request may close with some of it unread, which resets
    the connection after its answer: what arrived before the reset is the answer.
    """
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        try:
            connection.sendall(request)
            while chunk := connection.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


def _statuses(answer: bytes) -> list[bytes]:
    return [line.split(b" ")[1] for line in answer.split(b"\r\n")
            if line.startswith(b"HTTP/1.")]


def test_a_request_with_both_content_length_and_transfer_encoding_is_refused_unheard(
    served: tuple[int, subprocess.Popen[str]],
) -> None:
    port, _ = served
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"0\r\n\r\n" + smuggled
    answer = _raw(port, b"POST /v1/heartbeat HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/json\r\n"
                        b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%s"
                        % (len(body), body))

    assert _statuses(answer) == [b"400"]  # and the smuggled request is never answered


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET /healthz?" + b"a" * 10_240 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
     + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n", b"431"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_480 + b"\r\n\r\n", b"431"),
    (b"POST /v1/heartbeat HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
     b"Content-Length: 3\r\n\r\n{}", b"400"),
], ids=["request-line-10k", "200-headers", "header-20k", "two-content-lengths"])
def test_requests_the_http_server_refuses_itself_get_the_statuses_the_docs_name(
    served: tuple[int, subprocess.Popen[str]], request_bytes: bytes, status: bytes
) -> None:
    port, _ = served

    answer = _raw(port, request_bytes)

    assert _statuses(answer) == [status]
    assert b"Connection: close" in answer
    assert b"application/json" not in answer  # gunicorn's own page, not the API's JSON


def test_the_app_refuses_both_lengths_as_json_under_any_wsgi_server(
    memory_stack: Stack,
) -> None:
    token = memory_stack.api.login("alice")

    refused = memory_stack.api.post(
        "/v1/heartbeat", body=b"{}", token=token,
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})

    assert refused.status_code == 400
    assert refused.json["code"] == "invalid_request"
    assert "Transfer-Encoding" in refused.json["description"]


def test_the_log_of_a_whole_session_holds_no_token_secret_game_token_or_body(
    served: tuple[int, subprocess.Popen[str]],
) -> None:
    from im_adapters.game_auth import mint_game_token
    from im_core import SessionToken

    port, process = served
    game = {uid: mint_game_token(SECRET, uid) for uid in ("alice", "bob")}
    tokens = {}
    for uid in ("alice", "bob"):
        status, answer = call(port, "POST", "/v1/login",
                               {"uid": uid, "game_token": game[uid], "client_type": "pc"})
        assert status == 200
        tokens[uid] = answer["token"]
    body = "the-recognizable-body-" + os.urandom(8).hex()
    assert call(port, "POST", "/v1/heartbeat", {}, tokens["alice"])[0] == 200
    assert call(port, "POST", "/v1/messages", {"to": "bob", "body": body},
                 tokens["alice"])[0] == 201
    assert call(port, "GET", "/v1/messages/history?peer=alice", None, tokens["bob"])[0] == 200
    assert call(port, "GET", "/v1/presence?uid=alice", None, tokens["bob"])[0] == 200
    assert call(port, "POST", "/v1/heartbeat", {}, tokens["alice"] + "x")[0] == 401
    assert call(port, "POST", "/v1/login", {"uid": "bob", "game_token": game["alice"],
                                             "client_type": "pc"})[0] == 401
    assert call(port, "POST", "/v1/logout", {}, tokens["alice"])[0] == 204
    process.terminate()
    log, _ = process.communicate(timeout=15)

    assert "im-server stopped" in log  # the log was captured whole
    secrets = [*tokens.values(), *game.values(), body]
    secrets += [SessionToken.parse(t).secret for t in tokens.values()]  # type: ignore[union-attr]
    assert [s for s in secrets if s in log] == []
