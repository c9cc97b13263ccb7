"""What the crash and outage tests share: real server processes, a cutting relay, a
private Redis, and a small HTTP client.

Everything here talks to 127.0.0.1 only and stops what it started, by pid.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.processes import free_port
from tests.e2e.live import timed_call

SECRET = "reliability-test-secret-" + "x" * 32
TIMEOUT_S = 1.0


class ServerDown(Exception):
    """The connection failed or no answer came: the node may be gone."""


def call(port: int, method: str, path: str, body: Any = None, token: str | None = None,
         timeout: float = 10) -> tuple[int, Any, float]:
    """One HTTP call: (status, JSON answer, seconds it took); ``ServerDown`` if none."""
    try:
        return timed_call(port, method, path, body, token, timeout)
    except (OSError, urllib.error.URLError, http.client.HTTPException) as error:
        # A node that dies mid-answer: refused, reset, closed, or a truncated body.
        raise ServerDown(f"{method} {path} on {port}: {error!r}") from error


def game_token(uid: str) -> str:
    from im_adapters.game_auth import mint_game_token

    return mint_game_token(SECRET, uid, ttl_s=600)


def login(port: int, uid: str) -> str:
    deadline = time.monotonic() + 15
    while True:
        status, answer, _ = call(port, "POST", "/v1/login", {
            "uid": uid, "game_token": game_token(uid), "client_type": "pc"})
        if status == 200:
            token: str = answer["token"]
            return token
        assert status == 503 and time.monotonic() < deadline, (status, answer)
        time.sleep(0.2)


def clean_env(extra: dict[str, str], workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IM_")}
    # The loads here test faults, not the rate limits: those are off.
    env.update(XDG_DATA_HOME=str(workdir), IM_GAME_AUTH_JWT_SECRET=SECRET,
               IM_STORAGE_TIMEOUT=str(TIMEOUT_S), IM_RATE_SENDS="off", IM_RATE_LOGINS="off",
               IM_RATE_LOGINS_PER_ADDRESS="off")
    env.update(extra)
    return env


def migrate(url: str, workdir: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "im_http.serving.cli", "migrate"],
                          env=clean_env({"IM_DATABASE_URL": url}, workdir),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


class Node:
    """One ``im-server serve`` process (in a process group of its own).

    Start nodes through ``nodes`` (a context manager), so that every node started is
    stopped even when a later one fails to start.
    """

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / f"im-{self.port}.log"
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "im_http.serving.cli", "serve", "--port", str(self.port)],
                env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while True:
                assert self.process.poll() is None, self.log.read_text()[-3000:]
                with contextlib.suppress(ServerDown):
                    if call(self.port, "GET", "/healthz", timeout=1)[0] == 200:
                        return
                assert time.monotonic() < deadline, "im-server did not come up"
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    def kill_hard(self) -> None:
        """kill -9 of the node: its gunicorn master and worker, no goodbye."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill_hard()
        # A worker left behind by a dead master goes with its group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


class Relay:
    """A TCP relay in front of a store that can fail the two ways networks do.

    ``freeze``: a black hole. Every connection stays open and nothing moves, no reply
    and no reset, as when a network path dies; ``thaw`` lets the bytes flow again.

    ``cut``: "the store stopped", without touching the shared server. Every open
    connection is closed with a reset (RST) and every new one is accepted and reset at
    once, as a stopped server's port does; ``resume`` lets connections through again,
    as a restarted server does.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._cut = threading.Event()
        self._frozen = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def cut(self) -> None:
        with self._lock:
            self._cut.set()
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            _reset(a)
            _reset(b)

    def resume(self) -> None:
        self._cut.clear()

    def freeze(self) -> None:
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        self.cut()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self._stop.is_set():
                if self._frozen.is_set():
                    self._stop.wait(0.05)  # hold everything: the black hole
                    continue
                readable, _, _ = select.select(list(peers), [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            _reset(a)
            _reset(b)


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class PrivateRedis:
    """A redis-server of the test's own, on a free port, that can be restarted empty."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Stop it and start it again, empty (no persistence): every session is gone."""
        self.stop()
        self.start()


@contextlib.contextmanager
def nodes(count: int, env: dict[str, str], workdir: Path) -> Iterator[list[Node]]:
    """``count`` nodes on the same settings, all stopped on the way out."""
    started: list[Node] = []
    try:
        for _ in range(count):
            started.append(Node(env, workdir))
        yield started
    finally:
        for node in started:
            node.stop()
