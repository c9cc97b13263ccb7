"""The ``im-server`` command, run as a real process serving real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.processes import free_port
from tests.e2e.live import call

SERVER = [sys.executable, "-m", "im_http.serving.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IM_")}
    env.update(extra)
    return env


def _run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SERVER, *args], cwd=cwd, env=_env(**env), capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(autouse=True)
def _private_data_home(tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own XDG data directory, so no test touches the user's dev secret."""
    data = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    return data


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, Path, subprocess.Popen[str]]]:
    """``im-server serve`` on its embedded defaults, in an empty working directory."""
    port = free_port()
    process = subprocess.Popen([*SERVER, "serve", "--port", str(port)], cwd=tmp_path,
                               env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if call(port, "GET", "/healthz")[0] == 200:
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
        status, answer = call(port, "POST", "/v1/login",
                               {"uid": uid, "game_token": game, "client_type": "pc"})
        assert status == 200
        tokens[uid] = answer["token"]
    status, sent = call(port, "POST", "/v1/messages", {"to": "bob", "body": "hi 🎮"},
                         tokens["alice"])
    assert status == 201
    status, pulled = call(port, "POST", "/v1/heartbeat", {}, tokens["bob"])
    assert pulled["messages"] == [sent]
    assert call(port, "POST", "/v1/heartbeat", {"ack": sent["msgid"]}, tokens["bob"])[1] == {
        "messages": [], "more": False}
    assert call(port, "GET", "/readyz")[0] == 200
    assert (workdir / "im.sqlite3").exists()


def test_messages_on_the_embedded_default_survive_a_restart(tmp_path: Path) -> None:
    def conversation_step(send: bool) -> list[str]:
        port = free_port()
        process = subprocess.Popen([*SERVER, "serve", "--port", str(port)], cwd=tmp_path,
                                   env=_env(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    call(port, "GET", "/healthz")
                    break
                except OSError:
                    time.sleep(0.1)
            tokens = {}
            for uid in ("alice", "bob"):
                game = _run("token", uid, cwd=tmp_path).stdout.strip()
                tokens[uid] = call(port, "POST", "/v1/login", {
                    "uid": uid, "game_token": game, "client_type": "pc"})[1]["token"]
            if send:
                call(port, "POST", "/v1/messages", {"to": "bob", "body": "kept"},
                      tokens["alice"])
            inbox = call(port, "POST", "/v1/heartbeat", {}, tokens["bob"])[1]
            return [m["body"] for m in inbox["messages"]]
        finally:
            process.terminate()
            process.wait(timeout=10)

    assert conversation_step(send=True) == ["kept"]
    assert conversation_step(send=False) == ["kept"]


def test_serve_without_a_secret_warns_loudly_about_the_development_secret(
    served: tuple[int, Path, subprocess.Popen[str]], _private_data_home: Path
) -> None:
    _, workdir, process = served
    process.terminate()
    output, _ = process.communicate(timeout=10)
    assert "NO IM_GAME_AUTH_JWT_SECRET IS SET" in output
    kept = _private_data_home / "im-server" / "dev-secret"
    assert str(kept) in output
    assert kept.stat().st_mode & 0o077 == 0
    assert kept.read_text().strip() not in output
    assert not (workdir / ".im-dev-secret").exists()


def test_a_token_minted_in_one_directory_logs_in_to_a_server_started_in_another(
    served: tuple[int, Path, subprocess.Popen[str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    port, _, _ = served
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    game = _run("token", "alice", cwd=elsewhere)
    assert game.returncode == 0, game.stderr
    status, answer = call(port, "POST", "/v1/login", {
        "uid": "alice", "game_token": game.stdout.strip(), "client_type": "pc"})
    assert status == 200, answer


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"IM_PORT": "eighty"}, "IM_PORT"),
        ({"IM_SESSION_TTL": "-1"}, "IM_SESSION_TTL"),
        ({"IM_HEARTBEAT_INTERVAL": "20"}, "IM_HEARTBEAT_INTERVAL"),
        ({"IM_SESSION_STORE_URL": "memcached://x"}, "IM_SESSION_STORE_URL"),
        ({"IM_DATABASE_URL": "oracle://db/x"}, "oracle"),
        ({"IM_GAME_AUTH_JWT_SECRET": "short"}, "32"),
        ({"IM_SQL_EXECUTOR": "sqlalchemy"}, "IM_SQL_EXECUTOR is gone"),
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


@pytest.mark.parametrize(("flags", "says"), [
    (["--port", "70000"], "--port 70000 must be between 0 and 65535"),
    (["--port", "http"], "--port http is not a number"),
    (["--workers", "0"], "--workers 0 must be between 1 and 64"),
])
def test_a_bad_flag_stops_serve_with_one_clear_line(
    tmp_path: Path, flags: list[str], says: str
) -> None:
    result = _run("serve", *flags, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"im-server: {says}"


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


@pytest.mark.parametrize(("env", "says"), [
    ({"IM_DATABASE_URL": "postgresql://nobody:hunter22@127.0.0.1:1/x"},
     "the database at postgresql://nobody:***@127.0.0.1:1/x does not answer: "),
    ({"IM_SESSION_STORE_URL": "redis://:hunter22@127.0.0.1:1/0"},
     "the session store at redis://:***@127.0.0.1:1/0 does not answer: "),
])
def test_serve_stops_in_one_line_naming_the_store_that_does_not_answer(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    result = _run("serve", cwd=tmp_path, IM_GAME_AUTH_JWT_SECRET="s" * 32, **env)
    assert result.returncode == 1
    assert result.stderr.startswith(f"im-server: cannot start: {says}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "hunter22" not in result.stderr


def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run("serve", "--port", str(port), cwd=tmp_path,
                      IM_GAME_AUTH_JWT_SECRET="s" * 32)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"im-server: cannot start: cannot listen on 127.0.0.1:{port}: the port is in use")


def test_sigterm_stops_serve_cleanly_and_leaves_no_sqlite_side_files(
    served: tuple[int, Path, subprocess.Popen[str]],
) -> None:
    port, workdir, process = served
    game = _run("token", "alice", cwd=workdir).stdout.strip()
    assert call(port, "POST", "/v1/login", {"uid": "alice", "game_token": game,
                                              "client_type": "pc"})[0] == 200
    assert (workdir / "im.sqlite3-wal").exists()
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert "im-server stopped" in output
    assert sorted(p.name for p in workdir.iterdir()) == ["im.sqlite3"]


def test_sigterm_answers_a_held_long_poll_at_once_instead_of_cutting_it(
    served: tuple[int, Path, subprocess.Popen[str]],
) -> None:
    port, workdir, process = served
    game = _run("token", "bob", cwd=workdir).stdout.strip()
    bob = call(port, "POST", "/v1/login", {"uid": "bob", "game_token": game,
                                            "client_type": "pc"})[1]["token"]
    answers: list[tuple[int, Any]] = []
    held = threading.Thread(target=lambda: answers.append(
        call(port, "POST", "/v1/heartbeat", {"wait": 8}, bob)))
    held.start()
    time.sleep(0.5)  # the heartbeat is now held
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    held.join(timeout=10)
    assert answers == [(200, {"messages": [], "more": False})]
    assert time.monotonic() - stopped_at < 3  # not the 8 s wait, nor a cut connection
    assert process.wait(timeout=15) == 0


def test_migrate_names_the_database_it_migrated_and_says_nothing_else(tmp_path: Path) -> None:
    result = _run("migrate", cwd=tmp_path, IM_DATABASE_URL="sqlite:///chat.sqlite3")
    assert result.returncode == 0
    assert result.stdout == "database sqlite:///chat.sqlite3 is at the latest schema\n"
    assert result.stderr == ""


def test_migrate_without_a_database_url_says_it_migrated_the_default(tmp_path: Path) -> None:
    result = _run("migrate", cwd=tmp_path)
    assert result.stdout == ("database sqlite:///im.sqlite3 is at the latest schema"
                             " (the default: IM_DATABASE_URL is not set)\n")


def test_migrate_says_why_when_the_database_does_not_exist(
    tmp_path: Path, postgres_url: str
) -> None:
    missing = postgres_url + "_missing"
    result = _run("migrate", cwd=tmp_path, IM_DATABASE_URL=missing)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("im-server: cannot migrate ")
    assert "does not exist" in lines[0]


def test_migrate_says_why_when_the_credentials_are_refused_without_the_password(
    tmp_path: Path, mysql_url: str
) -> None:
    from sqlalchemy.engine import make_url

    wrong = make_url(mysql_url).set(username="nobody", password="hunter22")
    result = _run("migrate", cwd=tmp_path,
                  IM_DATABASE_URL=wrong.render_as_string(hide_password=False))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Access denied" in lines[0]
    assert "hunter22" not in result.stderr + result.stdout


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


def test_the_token_command_mints_no_longer_than_the_servers_max_age(tmp_path: Path) -> None:
    import jwt

    secret = "k" * 40
    default = _run("token", "alice", cwd=tmp_path, IM_GAME_AUTH_JWT_SECRET=secret)
    claims = jwt.decode(default.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600

    too_long = _run("token", "alice", "--ttl", "7200", cwd=tmp_path,
                    IM_GAME_AUTH_JWT_SECRET=secret)
    assert too_long.returncode == 2
    assert "IM_GAME_TOKEN_MAX_AGE" in too_long.stderr

    allowed = _run("token", "alice", "--ttl", "7200", cwd=tmp_path,
                   IM_GAME_AUTH_JWT_SECRET=secret, IM_GAME_TOKEN_MAX_AGE="7200")
    assert allowed.returncode == 0, allowed.stderr
