"""The ``GameAuth`` contract, run against every implementation; then HTTP specifics.

Every implementation comes with a way to get a good credential for a uid, the way
the game would hand one out: a grant in memory, a JWT signed with the game's key, a
token the (fake) login service remembers. The fake service is a real HTTP server on
the loopback, so the adapter is exercised through real sockets.
"""

from __future__ import annotations

import json
import socket
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

from im_adapters import ConfigurationError
from im_adapters.game_auth import HttpGameAuth, JwtGameAuth, mint_game_token
from im_core.memory import InMemoryGameAuth
from im_core.ports.auth import AuthUnavailable, GameAuth, InvalidCredentials

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


# --- the contract ----------------------------------------------------------------------


def test_a_good_credential_for_the_uid_passes(implementation: Implementation) -> None:
    token = implementation.credential_for("alice")

    implementation.auth.verify("alice", token)


def test_the_same_credential_for_another_uid_is_refused(implementation: Implementation) -> None:
    token = implementation.credential_for("alice")
    implementation.credential_for("bob")

    with pytest.raises(InvalidCredentials):
        implementation.auth.verify("bob", token)


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "e30.e30.", "\u00e9\u00e9\u00e9"])
def test_garbage_is_refused(implementation: Implementation, garbage: str) -> None:
    implementation.credential_for("alice")

    with pytest.raises(InvalidCredentials):
        implementation.auth.verify("alice", garbage)


def test_a_refusal_never_quotes_the_token(implementation: Implementation) -> None:
    token = implementation.credential_for("alice")

    with pytest.raises(InvalidCredentials) as refused:
        implementation.auth.verify("mallory", token)

    assert token not in str(refused.value)


def test_ping_answers_and_the_verifier_still_works_after_it(
    implementation: Implementation,
) -> None:
    assert implementation.auth.ping() is None
    implementation.auth.verify("alice", implementation.credential_for("alice"))
    with pytest.raises(InvalidCredentials):
        implementation.auth.verify("bob", implementation.credential_for("alice"))


# --- JWT specifics: every algorithm family enforces short-lived tokens -----------------


@dataclass
class Signer:
    auth: JwtGameAuth
    sign: Callable[[dict[str, Any]], str]


@pytest.fixture(params=["hs256", "rs256", "es256"])
def signer(request: pytest.FixtureRequest, tmp_path: Path) -> Signer:
    """A JWT verifier (default max age, an hour) and the game's way to sign claims."""
    if request.param == "hs256":
        return Signer(JwtGameAuth.from_secret(SECRET),
                      lambda claims: jwt.encode(claims, SECRET.encode(), "HS256"))
    key = request.getfixturevalue("rsa_key" if request.param == "rs256" else "ec_key")
    auth = JwtGameAuth.from_public_key_file(_write_public_pem(tmp_path, key))
    return Signer(auth, lambda claims: jwt.encode(claims, key, request.param.upper()))


def test_a_jwt_without_exp_is_refused(signer: Signer) -> None:
    with pytest.raises(InvalidCredentials, match="exp"):
        signer.auth.verify("alice", signer.sign({"sub": "alice", "iat": int(time.time())}))


@pytest.mark.parametrize("with_iat", [True, False])
def test_a_jwt_lasting_longer_than_an_hour_is_refused(signer: Signer, with_iat: bool) -> None:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "alice", "exp": now + 2 * 3600}
    if with_iat:
        claims["iat"] = now

    with pytest.raises(InvalidCredentials, match="longer than"):
        signer.auth.verify("alice", signer.sign(claims))


def test_a_jwt_lasting_an_hour_is_accepted(signer: Signer) -> None:
    now = int(time.time())

    signer.auth.verify("alice", signer.sign({"sub": "alice", "iat": now, "exp": now + 3600}))


# --- HTTP specifics --------------------------------------------------------------------


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/verify"


def test_http_a_500_from_the_service_is_unavailable_not_a_verdict(
    login_service: tuple[FakeLoginService, str],
) -> None:
    service, url = login_service
    token = service.grant("alice")
    service.status = 500

    with pytest.raises(AuthUnavailable):
        HttpGameAuth.from_url(url).verify("alice", token)


@pytest.mark.parametrize(
    ("status", "error"),
    [(403, InvalidCredentials), (302, AuthUnavailable), (404, AuthUnavailable),
     (429, AuthUnavailable), (503, AuthUnavailable)],
)
def test_http_a_403_is_refused_and_any_other_non_2xx_status_is_unavailable(
    login_service: tuple[FakeLoginService, str], status: int, error: type[Exception]
) -> None:
    service, url = login_service
    service.status = status

    with pytest.raises(error):
        HttpGameAuth.from_url(url).verify("alice", service.grant("alice"))


def test_http_a_service_that_never_answers_is_unavailable_within_the_timeout(
    login_service: tuple[FakeLoginService, str],
) -> None:
    service, url = login_service
    service.hang_s = 5.0
    auth = HttpGameAuth.from_url(url, timeout_s=0.3)

    started = time.monotonic()
    with pytest.raises(AuthUnavailable):
        auth.verify("alice", service.grant("alice"))
    elapsed = time.monotonic() - started

    assert elapsed < 0.3 + 0.4


def test_http_ping_of_a_service_that_never_answers_is_unavailable_within_the_timeout(
    login_service: tuple[FakeLoginService, str],
) -> None:
    service, url = login_service
    service.hang_s = 5.0
    auth = HttpGameAuth.from_url(url, timeout_s=0.3)

    started = time.monotonic()
    with pytest.raises(AuthUnavailable):
        auth.ping()

    assert time.monotonic() - started < 0.3 + 0.4


def test_http_a_closed_port_is_unavailable() -> None:
    auth = HttpGameAuth.from_url(_closed_port_url(), timeout_s=0.3)

    with pytest.raises(AuthUnavailable):
        auth.verify("alice", "whatever")
    with pytest.raises(AuthUnavailable):
        auth.ping()


@pytest.mark.parametrize("status", [200, 404, 405, 500])
def test_http_ping_counts_any_http_answer_as_reachable(
    login_service: tuple[FakeLoginService, str], status: int
) -> None:
    service, url = login_service
    service.status = status

    HttpGameAuth.from_url(url).ping()


def test_http_the_service_receives_exactly_uid_and_game_token_as_json(
    login_service: tuple[FakeLoginService, str],
) -> None:
    service, url = login_service
    token = service.grant("alice")

    HttpGameAuth.from_url(url).verify("alice", token)

    assert [json.loads(body) for body in service.bodies] == [{"uid": "alice", "game_token": token}]
    assert service.content_types == ["application/json"]


def test_http_connections_are_reused_across_requests(
    login_service: tuple[FakeLoginService, str],
) -> None:
    service, url = login_service
    token = service.grant("alice")
    auth = HttpGameAuth.from_url(url)

    for _ in range(5):
        auth.verify("alice", token)
    with pytest.raises(InvalidCredentials):
        auth.verify("alice", "wrong")

    assert len(service.client_ports) == 6
    assert len(set(service.client_ports)) < len(service.client_ports)


def test_http_credentials_in_the_url_never_appear_in_errors() -> None:
    url = _closed_port_url().replace("http://", "http://user:hunter2@")
    auth = HttpGameAuth.from_url(url, timeout_s=0.3)

    with pytest.raises(AuthUnavailable) as unavailable:
        auth.verify("alice", "the-token")

    assert "hunter2" not in str(unavailable.value)
    assert "the-token" not in str(unavailable.value)


@pytest.mark.parametrize(
    "url", ["ftp://login.example.com/verify", "http:///verify", "login.example.com", ""]
)
def test_http_a_url_that_cannot_reach_a_login_service_is_a_configuration_error(
    url: str,
) -> None:
    with pytest.raises(ConfigurationError):
        HttpGameAuth.from_url(url)
