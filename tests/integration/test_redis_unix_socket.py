"""A Redis reached over a unix socket: ``unix://`` URLs work in the store and in serve.

The test starts a ``redis-server`` of its own that listens on a socket in a temporary
directory only (``--port 0``), and stops it afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from im_adapters.redis_sessions import RedisSessionStore
from im_core.models import Presence, Session, SessionToken
from im_http.serving.bootstrap import build_service
from im_http.serving.settings import Settings
from tests.conftest import unreachable

pytestmark = pytest.mark.redis

TTL = 60_000


@pytest.fixture
def unix_redis_url(tmp_path: Path) -> Iterator[str]:
    """The ``unix://`` URL of a private ``redis-server``, killed after the test."""
    binary = shutil.which("redis-server")
    if binary is None:
        unreachable("redis-server", FileNotFoundError("redis-server is not on PATH"))
    socket_path = tmp_path / "redis.sock"
    process = subprocess.Popen(
        [str(binary), "--port", "0", "--unixsocket", str(socket_path), "--save", "",
         "--appendonly", "no", "--daemonize", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=0.5)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    break
                except (redis.RedisError, OSError) as error:
                    if time.monotonic() > deadline or process.poll() is not None:
                        unreachable("the unix-socket redis-server", error)
                    time.sleep(0.05)
        finally:
            client.close()
        yield f"unix://{socket_path}?db=3"
    finally:
        process.kill()
        process.wait(timeout=10)


def test_a_unix_socket_url_gives_a_working_store(unix_redis_url: str) -> None:
    store = RedisSessionStore.from_url(unix_redis_url, namespace="unix", timeout=1.0)
    try:
        alice, at = SessionToken("alice", "s" * 22), time.time_ns() // 1_000_000
        store.ping()
        store.create(Session(alice, "pc", "login", at), TTL)

        assert store.touch(alice, "pull", at + 1, TTL) == Session(alice, "pc", "pull", at + 1)
        assert store.presence(["alice", "bob"], at + 2) == {"alice": Presence(True, "pc", at + 1)}
    finally:
        store.close()


def test_the_url_s_database_number_is_used(unix_redis_url: str) -> None:
    store = RedisSessionStore.from_url(unix_redis_url, namespace="unix")
    client = redis.Redis(unix_socket_path=unix_redis_url.split("//")[1].split("?")[0], db=3)
    try:
        store.create(Session(SessionToken("alice", "s" * 22), "pc", "login", 1), TTL)

        assert client.exists("unix:{alice}:z") == 1
    finally:
        client.close()
        store.close()


def test_serve_builds_its_session_store_from_a_unix_socket_url(
    unix_redis_url: str, tmp_path: Path
) -> None:
    settings = Settings(session_store_url=unix_redis_url, database_url="memory://",
                        game_auth_jwt_secret="x" * 32,
                        dev_secret_file=str(tmp_path / "dev-secret"))
    built = build_service(settings)
    try:
        assert isinstance(built.service.sessions, RedisSessionStore)
        built.service.sessions.ping()
        alice = SessionToken("alice", "s" * 22)
        built.service.sessions.create(Session(alice, "ios", "login", 1), TTL)

        assert built.service.sessions.presence(["alice"], 2) == {
            "alice": Presence(True, "ios", 1)
        }
    finally:
        built.close()
