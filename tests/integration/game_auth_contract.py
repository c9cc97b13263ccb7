"""The ``GameAuth`` contract's implementations, fake login service and fixtures.

Every implementation comes with a way to get a good credential for a uid, the way
the game would hand one out: a grant in memory, a JWT signed with the game's key, a
token the (fake) login service remembers. The fake service is a real HTTP server on
the loopback, so the adapter is exercised through real sockets.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from im_adapters.game_auth import HttpGameAuth, JwtGameAuth, mint_game_token
from im_core.memory import InMemoryGameAuth
from im_core.ports.auth import GameAuth

SECRET = "a-development-secret-of-at-least-32-bytes"


# --- a fake game login service, over real HTTP ---------------------------------------


@dataclass
class FakeLoginService:
    """The game's login service: says 200 for the token it granted a uid, 401 otherwise.

    ``status`` forces every POST to get that status; ``hang`` makes every request wait
    (up to ``hang_s``) before answering, like a service that is stuck.
    """

    granted: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    hang_s: float = 0.0
    bodies: list[bytes] = field(default_factory=list)
    content_types: list[str | None] = field(default_factory=list)
    client_ports: list[int] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def grant(self, uid: str) -> str:
        token = f"opaque-session-{uid}-{len(self.granted)}"
        self.granted[uid] = token
        return token

    def answer(self, body: bytes) -> int:
        if self.status is not None:
            return self.status
        try:
            request = json.loads(body)
        except ValueError:
            return 400
        if not isinstance(request, dict):
            return 400
        uid, token = request.get("uid"), request.get("game_token")
        return 200 if isinstance(uid, str) and self.granted.get(uid) == token else 401


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse can be observed
    server: _Server

    def do_POST(self) -> None:
        service = self.server.service
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        service.bodies.append(body)
        service.content_types.append(self.headers.get("Content-Type"))
        service.client_ports.append(self.client_address[1])
        self._wait_if_hanging()
        self._reply(service.answer(body))

    def do_HEAD(self) -> None:
        self._wait_if_hanging()
        self._reply(self.server.service.status or 405)

    def _wait_if_hanging(self) -> None:
        service = self.server.service
        if service.hang_s:
            service.release.wait(service.hang_s)

    def _reply(self, status: int) -> None:
        payload = b"{}" if self.command != "HEAD" else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, service: FakeLoginService) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.service = service

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up on a hanging request is expected here, not a failure."""


@pytest.fixture
def login_service() -> Iterator[tuple[FakeLoginService, str]]:
    """A running fake login service and its verify URL."""
    service = FakeLoginService()
    server = _Server(service)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield service, f"http://127.0.0.1:{server.server_address[1]}/verify"
    finally:
        service.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- every implementation, with a way to get a good credential -------------------------


@dataclass
class Implementation:
    auth: GameAuth
    credential_for: Callable[[str], str]


def _write_public_pem(
    tmp_path: Path, private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
) -> Path:
    path = tmp_path / "game-public.pem"
    path.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def _signed_by(private_key: Any, algorithm: str) -> Callable[[str], str]:
    def credential_for(uid: str) -> str:
        now = int(time.time())
        return jwt.encode({"sub": uid, "iat": now, "exp": now + 600}, private_key, algorithm)

    return credential_for


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(params=["memory", "jwt-hs256", "jwt-rs256", "jwt-es256", "http"])
def implementation(request: pytest.FixtureRequest, tmp_path: Path) -> Implementation:
    """One ``GameAuth`` per parameter, each with the game's way to vouch for a uid."""
    kind = request.param
    if kind == "memory":
        memory = InMemoryGameAuth()
        return Implementation(memory, memory.grant)
    if kind == "jwt-hs256":
        return Implementation(
            JwtGameAuth.from_secret(SECRET), lambda uid: mint_game_token(SECRET, uid)
        )
    if kind == "jwt-rs256":
        key = request.getfixturevalue("rsa_key")
        auth = JwtGameAuth.from_public_key_file(_write_public_pem(tmp_path, key))
        return Implementation(auth, _signed_by(key, "RS256"))
    if kind == "jwt-es256":
        key = request.getfixturevalue("ec_key")
        auth = JwtGameAuth.from_public_key_file(_write_public_pem(tmp_path, key))
        return Implementation(auth, _signed_by(key, "ES256"))
    service, url = request.getfixturevalue("login_service")
    return Implementation(HttpGameAuth.from_url(url), service.grant)
