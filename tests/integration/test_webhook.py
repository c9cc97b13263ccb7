"""``WebhookEvents`` against a real HTTP endpoint on loopback: signed, retried, never blocking."""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from im_adapters.webhook import WebhookEvents, signature
from im_core import (
    ChatService,
    InMemoryGameAuth,
    InMemoryMailbox,
    InMemorySessionStore,
    ManualClock,
    Message,
)
from im_core.errors import ConfigurationError

SECRET = "webhook-secret-0123456789abcdef0123456789"


class Endpoint:
    def __init__(self) -> None:
        self.statuses: list[int] = []  # answered in turn; then 200
        self.delay_s = 0.0
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.got = threading.Event()


@pytest.fixture
def endpoint() -> Iterator[tuple[Endpoint, str]]:
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(state.delay_s)
            status = state.statuses.pop(0) if state.statuses else 200
            if status == 200:
                state.received.append((dict(self.headers), body))
                state.got.set()
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/im-events"
    finally:
        server.shutdown()
        server.server_close()


def message(msgid: int = 1) -> Message:
    return Message(msgid, "alice", "bob", "gg 🎮", 1_700_000_000_000, "c-1")


def wait_for(condition: Any, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert condition()


def test_an_event_arrives_signed_so_the_receiver_can_check_it(
    endpoint: tuple[Endpoint, str],
) -> None:
    state, url = endpoint
    events = WebhookEvents.from_url(url, SECRET)
    events.start()
    try:
        events.message_sent(message())
        assert state.got.wait(5)
    finally:
        events.close()
    headers, body = state.received[0]
    expected = signature(SECRET, headers["X-IM-Timestamp"], body)
    assert hmac.compare_digest(headers["X-IM-Signature"], expected)
    assert signature("another-secret-0123456789abcdef0123456789", headers["X-IM-Timestamp"],
                     body) != expected
    assert json.loads(body) == {"events": [{"type": "message.sent", "message": {
        "msgid": 1, "from": "alice", "to": "bob", "body": "gg 🎮",
        "sent_at": 1_700_000_000_000, "client_msg_id": "c-1"}}]}


def test_a_failing_endpoint_is_retried_with_backoff_until_it_takes_the_batch(
    endpoint: tuple[Endpoint, str],
) -> None:
    state, url = endpoint
    state.statuses = [500, 503]
    pauses: list[float] = []
    events = WebhookEvents.from_url(url, SECRET, sleep=pauses.append)
    events.start()
    try:
        events.message_sent(message())
        wait_for(lambda: events.delivered == 1)
    finally:
        events.close()
    assert pauses == [0.5, 1.0]
    assert events.dropped == 0


def test_a_batch_is_dropped_and_counted_after_its_last_attempt(
    endpoint: tuple[Endpoint, str],
) -> None:
    state, url = endpoint
    state.statuses = [500] * 3
    events = WebhookEvents.from_url(url, SECRET, attempts=3, sleep=lambda _: None)
    events.start()
    try:
        events.message_sent(message())
        wait_for(lambda: events.dropped == 1)
    finally:
        events.close()
    assert events.delivered == 0


def test_a_hung_endpoint_never_slows_a_send_and_a_full_queue_drops(
    endpoint: tuple[Endpoint, str],
) -> None:
    state, url = endpoint
    state.delay_s = 2.0
    events = WebhookEvents.from_url(url, SECRET, capacity=5, timeout_s=0.2, attempts=1)
    events.start()
    mailbox, auth = InMemoryMailbox(), InMemoryGameAuth()
    chat = ChatService(InMemorySessionStore(), mailbox, auth, ManualClock(), events=events)
    try:
        alice = chat.login("alice", auth.grant("alice"), "pc")
        chat.login("bob", auth.grant("bob"), "pc")
        started = time.monotonic()
        for i in range(15):
            chat.send(alice, "bob", f"message {i}", f"c-{i}")
        assert time.monotonic() - started < 0.5  # 15 sends, none waited on the webhook
        assert events.dropped >= 15 - 5 - 1  # beyond the queue and the batch in flight
    finally:
        events.close(flush_s=0.5)


def test_a_retried_send_tells_no_second_event() -> None:
    seen: list[int] = []

    class Recording:
        def message_sent(self, message: Message) -> None:
            seen.append(message.msgid)

    mailbox, auth = InMemoryMailbox(), InMemoryGameAuth()
    chat = ChatService(InMemorySessionStore(), mailbox, auth, ManualClock(),
                       events=Recording())
    alice = chat.login("alice", auth.grant("alice"), "pc")
    chat.login("bob", auth.grant("bob"), "pc")
    first, _ = chat.send(alice, "bob", "gg", "c-1")
    chat.send(alice, "bob", "gg", "c-1")
    chat.system_send(["bob"], "news", "n-1")
    chat.system_send(["bob"], "news", "n-1")
    assert len(seen) == 2 and seen[0] == first.msgid


def test_a_bad_url_or_a_short_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        WebhookEvents.from_url("ftp://game/x", SECRET)
    with pytest.raises(ConfigurationError, match="IM_WEBHOOK_SECRET"):
        WebhookEvents.from_url("http://game/x", "short")
