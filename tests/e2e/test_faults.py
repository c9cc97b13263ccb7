"""A store that stops answering (a network black hole) cannot take a node down.

A small TCP relay sits between a real ``im-server serve`` and one of its stores
(PostgreSQL, MariaDB or Redis). Frozen, it keeps every connection open and forwards
nothing: no reply, no reset, as when a network path dies. Every call that needs that
store must answer 503 within ``IM_STORAGE_TIMEOUT`` plus a small margin, including the
ones already holding a connection; ``/healthz`` answers within 1 s throughout and
``/readyz`` says 503; once the relay thaws, the node recovers without a restart.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bench.processes import free_port
from tests.e2e.fault_kit import Relay
from tests.e2e.live import timed_call

TIMEOUT_S = 1.0
MARGIN_S = 1.0
SECRET = "fault-test-secret-" + "x" * 32


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], int]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(extra: dict[str, str]) -> int:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("IM_")}
        env.update(XDG_DATA_HOME=str(tmp_path), IM_GAME_AUTH_JWT_SECRET=SECRET,
                   IM_STORAGE_TIMEOUT=str(TIMEOUT_S), **extra)
        process = subprocess.Popen([sys.executable, "-m", "im_http.serving.cli", "serve", "--port",
                                    str(port)], env=env, cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if timed_call(port, "GET", "/healthz", timeout=1)[0] == 200:
                    return port
            except OSError:
                time.sleep(0.1)
        pytest.fail("im-server did not come up")

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _login(port: int, uid: str) -> str:
    from im_adapters.game_auth import mint_game_token

    status, answer, _ = timed_call(port, "POST", "/v1/login", {
        "uid": uid, "game_token": mint_game_token(SECRET, uid, ttl_s=600),
        "client_type": "pc"})
    assert status == 200, answer
    token: str = answer["token"]
    return token


def _migrate(url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IM_")}
    env["IM_DATABASE_URL"] = url
    done = subprocess.run([sys.executable, "-m", "im_http.serving.cli", "migrate"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _through(relay: Relay, url: str) -> str:
    parsed = make_url(url)
    return parsed.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)


@pytest.fixture(params=["postgres", "mysql", "redis"])
def frozen_store(request: pytest.FixtureRequest, redis_url: str,
                 start_server: Callable[[dict[str, str]], int]) -> Iterator[tuple[str, Relay, int]]:
    """A server whose chosen store sits behind a relay; the others are reached directly."""
    namespace = f"imfault-{secrets.token_hex(4)}"
    redis = make_url(redis_url)
    if request.param == "redis":
        database = request.getfixturevalue("postgres_url")
        _migrate(database)
        relay = Relay((redis.host or "127.0.0.1", redis.port or 6379))
        session_url = f"redis://127.0.0.1:{relay.port}/{redis.database or 0}"
    else:
        database = request.getfixturevalue(f"{request.param}_url")
        _migrate(database)
        parsed = make_url(database)
        relay = Relay((parsed.host or "127.0.0.1", int(parsed.port or 0)))
        database = _through(relay, database)
        session_url = redis_url
    try:
        port = start_server({"IM_DATABASE_URL": database, "IM_SESSION_STORE_URL": session_url,
                             "IM_REDIS_NAMESPACE": namespace})
        yield request.param, relay, port
    finally:
        relay.thaw()
        relay.close()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.mysql
def test_a_store_that_stops_answering_gets_503s_in_bounded_time_and_the_node_recovers(
    frozen_store: tuple[str, Relay, int],
) -> None:
    store, relay, port = frozen_store
    alice, bob = _login(port, "alice"), _login(port, "bob")
    before = timed_call(port, "POST", "/v1/messages", {"to": "bob", "body": "before"}, alice)
    assert before[0] == 201

    relay.freeze()
    # Calls that need the frozen store, several at once (some hold a connection).
    from im_adapters.game_auth import mint_game_token

    carol = {"uid": "carol", "game_token": mint_game_token(SECRET, "carol", ttl_s=600),
             "client_type": "pc"}
    if store == "redis":
        calls = [("POST", "/v1/heartbeat", {}, bob), ("POST", "/v1/login", carol, None)]
    else:
        calls = [("POST", "/v1/messages", {"to": "bob", "body": "during"}, alice),
                 ("GET", "/v1/messages/history?peer=bob", None, alice)]
    with ThreadPoolExecutor(8) as pool:
        pending = [pool.submit(timed_call, port, *request) for request in calls * 4]
        # The process stays responsive meanwhile.
        for _ in range(3):
            status, _, took = timed_call(port, "GET", "/healthz", timeout=5)
            assert status == 200 and took < 1.0
        status, answer, took = timed_call(port, "GET", "/readyz")
        assert status == 503 and took < TIMEOUT_S + MARGIN_S + 1
        results = [future.result(timeout=60) for future in pending]
    for status, answer, took in results:
        assert (status, answer["code"]) == (503, "storage_unavailable"), answer
        assert took < TIMEOUT_S + MARGIN_S, took

    relay.thaw()
    deadline = time.monotonic() + 20
    while True:
        status, _, _ = timed_call(port, "POST", "/v1/messages", {"to": "bob", "body": "after"},
                             alice) if store != "redis" else timed_call(
            port, "POST", "/v1/heartbeat", {}, bob)
        if status in (200, 201):
            break
        assert time.monotonic() < deadline, "the node did not recover after the thaw"
        time.sleep(0.2)
    assert timed_call(port, "GET", "/readyz")[0] == 200


def test_a_hanging_game_login_service_gets_503s_in_bounded_time_and_starves_nothing(
    start_server: Callable[[dict[str, str]], int],
) -> None:
    # Accepts connections and never answers.
    silent = socket.create_server(("127.0.0.1", 0), backlog=256)
    try:
        port = start_server({"IM_GAME_AUTH_URL": f"http://127.0.0.1:{silent.getsockname()[1]}/",
                             "IM_GAME_AUTH_TIMEOUT": "1", "IM_MAX_LOGINS_IN_FLIGHT": "8"})
        bodies = [{"uid": f"player{i}", "game_token": "whatever", "client_type": "pc"}
                  for i in range(32)]  # one login each: under the per-uid login limit
        with ThreadPoolExecutor(32) as pool:
            pending = [pool.submit(timed_call, port, "POST", "/v1/login", body)
                       for body in bodies]
            for _ in range(3):
                status, _, took = timed_call(port, "GET", "/healthz", timeout=5)
                assert status == 200 and took < 1.0
            results = [future.result(timeout=60) for future in pending]
        for status, answer, took in results:
            assert (status, answer["code"]) == (503, "auth_unavailable"), answer
            assert took < 1.0 + MARGIN_S, took
    finally:
        silent.close()
