"""The ``im-server`` command, run as a real process serving real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SERVER = [sys.executable, "-m", "im_http.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IM_")}
    env.update(extra)
    return env


def _run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SERVER, *args], cwd=cwd, env=_env(**env), capture_output=True,
                          text=True, timeout=60)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _call(port: int, method: str, path: str, body: Any = None,
          token: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, Path, subprocess.Popen[str]]]:
    """``im-server serve`` on its embedded defaults, in an empty working directory."""
    port = _free_port()
    process = subprocess.Popen([*SERVER, "serve", "--port", str(port)], cwd=tmp_path,
                               env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if _call(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("im-server serve did not come up")
        yield port, tmp_path, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_on_the_defaults_answers_a_whole_conversation(
    served: tuple[int, Path, subprocess.Popen[str]],
) -> None:
    port, workdir, _ = served
    tokens = {}
    for uid in ("alice", "bob"):
        game = _run("token", uid, cwd=workdir).stdout.strip()
        status, answer = _call(port, "POST", "/v1/login",
                               {"uid": uid, "game_token": game, "client_type": "pc"})
        assert status == 200
        tokens[uid] = answer["token"]
    status, sent = _call(port, "POST", "/v1/messages", {"to": "bob", "body": "hi 🎮"},
                         tokens["alice"])
    assert status == 201
    status, pulled = _call(port, "POST", "/v1/heartbeat", {}, tokens["bob"])
    assert pulled["messages"] == [sent]
    assert _call(port, "POST", "/v1/heartbeat", {"ack": sent["msgid"]}, tokens["bob"])[1] == {
        "messages": [], "more": False}
    assert _call(port, "GET", "/readyz")[0] == 200
    assert (workdir / "im.sqlite3").exists()


def test_messages_on_the_embedded_default_survive_a_restart(tmp_path: Path) -> None:
    def conversation_step(send: bool) -> list[str]:
        port = _free_port()
        process = subprocess.Popen([*SERVER, "serve", "--port", str(port)], cwd=tmp_path,
                                   env=_env(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    _call(port, "GET", "/healthz")
                    break
                except OSError:
                    time.sleep(0.1)
            tokens = {}
            for uid in ("alice", "bob"):
                game = _run("token", uid, cwd=tmp_path).stdout.strip()
                tokens[uid] = _call(port, "POST", "/v1/login", {
                    "uid": uid, "game_token": game, "client_type": "pc"})[1]["token"]
            if send:
                _call(port, "POST", "/v1/messages", {"to": "bob", "body": "kept"},
                      tokens["alice"])
            inbox = _call(port, "POST", "/v1/heartbeat", {}, tokens["bob"])[1]
            return [m["body"] for m in inbox["messages"]]
        finally:
            process.terminate()
            process.wait(timeout=10)

    assert conversation_step(send=True) == ["kept"]
    assert conversation_step(send=False) == ["kept"]


def test_serve_without_a_secret_warns_loudly_about_the_development_secret(
    served: tuple[int, Path, subprocess.Popen[str]],
) -> None:
    _, workdir, process = served
    process.terminate()
    output, _ = process.communicate(timeout=10)
    assert "NO IM_GAME_AUTH_JWT_SECRET IS SET" in output
    assert (workdir / ".im-dev-secret").stat().st_mode & 0o077 == 0
    secret = (workdir / ".im-dev-secret").read_text().strip()
    assert secret not in output


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"IM_PORT": "eighty"}, "IM_PORT"),
        ({"IM_SESSION_TTL": "-1"}, "IM_SESSION_TTL"),
        ({"IM_HEARTBEAT_INTERVAL": "20"}, "IM_HEARTBEAT_INTERVAL"),
        ({"IM_SESSION_STORE_URL": "memcached://x"}, "IM_SESSION_STORE_URL"),
        ({"IM_DATABASE_URL": "oracle://db/x"}, "oracle"),
        ({"IM_GAME_AUTH_JWT_SECRET": "short"}, "32"),
        ({"IM_SQL_EXECUTOR": "psycopg"}, "IM_SQL_EXECUTOR"),
        ({"IM_GAME_AUTH_JWT_PUBLIC_KEY": "/nonexistent.pem"}, "nonexistent.pem"),
    ],
)
def test_bad_configuration_stops_serve_with_one_clear_line(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    result = _run("serve", cwd=tmp_path, **env)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("im-server: ") and says in lines[0]
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_shared_database_that_was_not_migrated(
    tmp_path: Path, postgres_url: str
) -> None:
    result = _run("serve", cwd=tmp_path, IM_DATABASE_URL=postgres_url,
                  IM_GAME_AUTH_JWT_SECRET="s" * 32)
    assert result.returncode == 2
    assert "im-server migrate" in result.stderr
    migrated = _run("migrate", cwd=tmp_path, IM_DATABASE_URL=postgres_url)
    assert migrated.returncode == 0, migrated.stderr
    again = _run("migrate", cwd=tmp_path, IM_DATABASE_URL=postgres_url)
    assert again.returncode == 0, again.stderr


def test_serve_says_so_in_one_line_when_the_database_is_unreachable(tmp_path: Path) -> None:
    result = _run("serve", cwd=tmp_path, IM_DATABASE_URL="postgresql://nobody@127.0.0.1:1/x",
                  IM_GAME_AUTH_JWT_SECRET="s" * 32)
    assert result.returncode == 1
    assert result.stderr.startswith("im-server: cannot start:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_token_from_the_token_command_is_accepted_only_for_its_uid(tmp_path: Path) -> None:
    from im_adapters.game_auth import JwtGameAuth
    from im_core import InvalidCredentials

    secret = "k" * 40
    token = _run("token", "alice", cwd=tmp_path, IM_GAME_AUTH_JWT_SECRET=secret).stdout.strip()
    auth = JwtGameAuth.from_secret(secret)
    auth.verify("alice", token)
    with pytest.raises(InvalidCredentials):
        auth.verify("bob", token)
    bad = _run("token", "not a uid", cwd=tmp_path, IM_GAME_AUTH_JWT_SECRET=secret)
    assert bad.returncode == 2 and "uid" in bad.stderr
