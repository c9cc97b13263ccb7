"""The SDK tests' harness: a real ``im-server serve``, players, and ``FaultyProxy``.

Faults the server never makes on its own (a 503 after the message was stored, a
connection cut after the commit, a lost ack, ``session_replaced``, 429) are made
by ``FaultyProxy``, a small HTTP proxy between the client and the server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import urllib3

from im_http.client import Client
from im_http.client.demo import LocalServer

_JSON = {"Content-Type": "application/json"}


class FaultyProxy:
    """Forwards to ``upstream``, recording each request, except where told to fail.

    ``faults`` holds ``(path, action)`` pairs; the first pair whose path a request
    matches is used up by it. Actions: ``"503"``/``"429"``/``"replaced"`` answer
    without forwarding; ``"503-after"`` forwards, then answers 503 instead of the
    server's answer; ``"drop-after"`` forwards, then cuts the connection.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[tuple[str, str]] = []
        self.seen: list[tuple[str, str, Any]] = []
        self.rewrite: Callable[[str, Any], Any] | None = None
        self._http = urllib3.PoolManager(maxsize=8)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw) if raw else None
                path = self.path.partition("?")[0]
                if proxy.rewrite is not None and body is not None:
                    body = proxy.rewrite(path, body)
                    raw = json.dumps(body).encode()
                with proxy._lock:
                    proxy.seen.append((self.command, path, body))
                    fault = next((f for f in proxy.faults if f[0] == path), None)
                    if fault is not None:
                        proxy.faults.remove(fault)
                action = fault[1] if fault else ""
                if action == "503":
                    return self._answer(503, {"code": "storage_unavailable"}, "0")
                if action == "429":
                    return self._answer(429, {"code": "rate_limited"}, "1")
                if action == "replaced":
                    return self._answer(401, {"title": "Session replaced", "code":
                                              "session_replaced", "description": "elsewhere"})
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("authorization", "content-type")}
                answer = proxy._http.request(self.command, proxy.upstream + self.path,
                                             body=raw or None, headers=headers,
                                             retries=False, timeout=30)
                if action == "503-after":
                    return self._answer(503, {"code": "storage_unavailable"}, "0")
                if action == "drop-after":
                    self.close_connection = True
                    return None
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.data)))
                self.end_headers()
                self.wfile.write(answer.data)
                return None

            def _answer(self, status: int, body: dict[str, str],
                        retry_after: str | None = None) -> None:
                data = json.dumps({"title": "t", "description": "d", **body}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def requests(self, path: str) -> list[Any]:
        with self._lock:
            return [body for _, p, body in self.seen if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._http.clear()


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as served:
        yield served


@pytest.fixture(scope="module")
def short_lived() -> Iterator[LocalServer]:
    """Sessions that expire one second after their last call."""
    with LocalServer(env={"IM_SESSION_TTL": "1", "IM_HEARTBEAT_INTERVAL": "0.5"}) as served:
        yield served


@pytest.fixture
def proxy(server: LocalServer) -> Iterator[FaultyProxy]:
    faulty = FaultyProxy(server.url)
    yield faulty
    faulty.close()


_counter = iter(range(1_000_000))
_opened: list[Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Close each test's kept-alive connections: the server's stop waits for them."""
    yield
    while _opened:
        _opened.pop().close()


def unique(name: str) -> str:
    """A uid no other test in this module uses (they share one server)."""
    return f"{name}-{next(_counter)}"


def player(server: LocalServer, uid: str, *, url: str | None = None,
           asked: list[str] | None = None, **options: Any) -> Client:
    def credentials() -> str:
        if asked is not None:
            asked.append(uid)
        return server.game_token(uid)

    client = opened(Client(url or server.url, credentials=credentials, backoff=0.01,
                           **options))
    client.login(uid)
    return client


def opened(client: Client) -> Client:
    _opened.append(client)
    return client
