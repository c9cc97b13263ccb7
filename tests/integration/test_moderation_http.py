"""``HttpMessageFilter`` against a real HTTP moderation service on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from im_adapters.moderation_http import HttpMessageFilter
from im_core.errors import ConfigurationError
from im_core.ports import ALLOW, ModerationUnavailable, Verdict


class Service:
    """What the fake service answers next, and what it was asked."""

    def __init__(self) -> None:
        self.status = 200
        self.answer: Any = {"action": "allow"}
        self.delay_s = 0.0
        self.asked: list[dict[str, Any]] = []


@pytest.fixture
def service() -> Iterator[tuple[Service, str]]:
    state = Service()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            state.asked.append(json.loads(self.rfile.read(length)))
            time.sleep(state.delay_s)
            data = json.dumps(state.answer).encode()
            try:
                self.send_response(state.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the filter gave up waiting

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/moderate"
    finally:
        server.shutdown()
        server.server_close()


def test_the_services_verdicts_are_followed(service: tuple[Service, str]) -> None:
    state, url = service
    moderation = HttpMessageFilter.from_url(url, timeout_s=2)
    assert moderation.check("alice", "bob", "hello") == ALLOW
    assert state.asked == [{"sender": "alice", "target": "bob", "body": "hello"}]
    state.answer = {"action": "replace", "body": "h***o"}
    assert moderation.check("alice", "bob", "hello") == Verdict("replace", body="h***o")
    state.answer = {"action": "reject", "reason": "no links"}
    assert moderation.check("alice", "bob", "x") == Verdict("reject", reason="no links")


@pytest.mark.parametrize("trouble", ["slow", "status", "garbage"])
def test_a_service_that_cannot_answer_fails_open_or_closed_as_configured(
    service: tuple[Service, str], trouble: str, caplog: pytest.LogCaptureFixture
) -> None:
    state, url = service
    if trouble == "slow":
        state.delay_s = 1.0
    elif trouble == "status":
        state.status = 500
    else:
        state.answer = {"action": "shrug"}
    opened = HttpMessageFilter.from_url(url, timeout_s=0.2, fail="open")
    started = time.monotonic()
    assert opened.check("alice", "bob", "secret body text") == ALLOW
    closed = HttpMessageFilter.from_url(url, timeout_s=0.2, fail="closed")
    with pytest.raises(ModerationUnavailable):
        closed.check("alice", "bob", "secret body text")
    assert time.monotonic() - started < 1.5  # bounded by the timeout, twice
    assert opened.failures == closed.failures == 1
    assert "secret body text" not in caplog.text


def test_a_bad_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        HttpMessageFilter.from_url("ftp://example/x")
