"""The HTTP game-login adapter's specifics, against a fake login service over real HTTP.

The fake service and its fixture are in ``game_auth_contract.py``.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from im_adapters import ConfigurationError
from im_adapters.game_auth import HttpGameAuth
from im_core.ports.auth import AuthUnavailable, InvalidCredentials
from tests.integration.game_auth_contract import FakeLoginService

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
