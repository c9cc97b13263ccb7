"""The SDK (``im_http.client.sdk``) against a real ``im-server serve`` over real HTTP.

Faults the server never makes on its own (a 503 after the message was stored, a
connection cut after the commit, a lost ack, ``session_replaced``, 429) are made
by ``FaultyProxy``, a small HTTP proxy between the client and the server.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import urllib3

from im_http.client import (
    ApiError,
    Client,
    ConnectionFailed,
    Contact,
    Message,
    SessionExpired,
    SessionReplaced,
    Unavailable,
)
from im_http.client.demo import LocalServer, free_port

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


def test_login_keeps_the_token_and_the_timings_the_server_told(server: LocalServer) -> None:
    client = opened(Client(server.url))
    info = client.login("ann", server.game_token("ann"), "ios")
    assert (info.uid, info.session_ttl, info.heartbeat_interval) == ("ann", 10, 2)
    assert 0 < info.max_wait < info.session_ttl
    assert client.session == info and info.token


def test_a_send_answered_503_after_it_was_stored_is_retried_and_stored_once(
    server: LocalServer, proxy: FaultyProxy
) -> None:
    alice, bob = unique("alice"), unique("bob")
    receiver = player(server, bob)
    sender = player(server, alice, url=proxy.url)
    proxy.faults.append(("/v1/messages", "503-after"))
    sent = sender.send(bob, "once")
    posted = proxy.requests("/v1/messages")
    assert len(posted) == 2 and posted[0]["client_msg_id"] == posted[1]["client_msg_id"]
    assert [m.msgid for m in receiver.history(alice)] == [sent.msgid]
    assert receiver.heartbeat().messages == [sent]


def test_a_send_whose_connection_drops_after_the_commit_is_retried_and_stored_once(
    server: LocalServer, proxy: FaultyProxy
) -> None:
    alice, bob = unique("alice"), unique("bob")
    receiver = player(server, bob)
    sender = player(server, alice, url=proxy.url)
    proxy.faults.append(("/v1/messages", "drop-after"))
    sent = sender.send(bob, "once")
    assert len(proxy.requests("/v1/messages")) == 2
    assert [m.body for m in receiver.history(alice)] == ["once"]
    assert sent.body == "once"


def test_a_429_is_retried_after_the_retry_after_it_carries(
    server: LocalServer, proxy: FaultyProxy
) -> None:
    alice, bob = unique("alice"), unique("bob")
    player(server, bob)
    sender = player(server, alice, url=proxy.url)
    proxy.faults.append(("/v1/messages", "429"))
    started = time.monotonic()
    sender.send(bob, "patient")
    assert time.monotonic() - started >= 1.0  # Retry-After: 1, not the 0.01 s backoff
    assert len(proxy.requests("/v1/messages")) == 2


def test_retries_are_bounded_and_then_unavailable_is_raised(
    server: LocalServer, proxy: FaultyProxy
) -> None:
    alice, bob = unique("alice"), unique("bob")
    player(server, bob)
    sender = player(server, alice, url=proxy.url, retries=2)
    proxy.faults.extend([("/v1/messages", "503")] * 5)
    with pytest.raises(Unavailable) as raised:
        sender.send(bob, "never")
    assert (raised.value.status, raised.value.code) == (503, "storage_unavailable")
    assert len(proxy.requests("/v1/messages")) == 3


def test_a_server_that_does_not_answer_raises_connection_failed() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", retries=1, backoff=0.01)
    with pytest.raises(ConnectionFailed):
        client.login("ann", "token")


def test_the_iterator_acks_only_the_messages_it_yielded_never_more(
    server: LocalServer, proxy: FaultyProxy
) -> None:
    alice, bob = unique("alice"), unique("bob")
    receiver = player(server, bob, url=proxy.url)
    sender = player(server, alice)
    sent = [sender.send(bob, f"m{i}") for i in range(3)]
    for message in receiver.messages():
        assert message == sent[0]
        break  # the caller took one of the three
    assert receiver.acked == sent[0].msgid
    own = receiver.send(alice, "mine")  # a higher msgid, never the receiver's to ack
    assert own.msgid > sent[2].msgid
    assert receiver.heartbeat().messages == sent[1:]
    assert proxy.requests("/v1/heartbeat")[-1]["ack"] == sent[0].msgid
    receiver.heartbeat()
    assert proxy.requests("/v1/heartbeat")[-1]["ack"] == sent[2].msgid
    assert receiver.acked == sent[2].msgid


def test_logout_acks_what_was_handed_out_so_the_next_device_is_not_given_it_again(
    server: LocalServer,
) -> None:
    alice, bob = unique("alice"), unique("bob")
    phone = player(server, bob)
    player(server, alice).send(bob, "seen on the phone")
    assert [m.body for m in phone.heartbeat().messages] == ["seen on the phone"]
    phone.logout()
    assert player(server, bob).heartbeat().messages == []


def test_a_message_delivered_again_after_a_lost_ack_is_not_handed_out_twice(
    server: LocalServer, proxy: FaultyProxy
) -> None:
    alice, bob = unique("alice"), unique("bob")
    receiver = player(server, bob, url=proxy.url)
    first = player(server, alice).send(bob, "only once")
    assert receiver.heartbeat().messages == [first]
    proxy.rewrite = lambda path, body: {**body, "ack": None} if path == "/v1/heartbeat" else body
    assert receiver.heartbeat().messages == []  # the server sent it again: dropped
    assert proxy.requests("/v1/heartbeat")[-1]["ack"] is None


def test_the_long_poll_iterator_receives_a_message_sent_while_it_waits(
    server: LocalServer,
) -> None:
    alice, bob = unique("alice"), unique("bob")
    receiver = player(server, bob)
    sender = player(server, alice)
    got: queue.Queue[Message] = queue.Queue()
    stop = threading.Event()

    def listen() -> None:
        for message in receiver.messages(stop=stop):
            got.put(message)
            stop.set()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    sent = sender.send(bob, "live")
    assert got.get(timeout=5) == sent
    listener.join(timeout=5)
    assert not listener.is_alive()


def test_an_expired_session_is_renewed_through_the_credentials_callback(
    short_lived: LocalServer,
) -> None:
    alice, bob = unique("alice"), unique("bob")
    asked: list[str] = []
    sender = player(short_lived, alice, asked=asked)
    watcher = player(short_lived, bob)
    deadline = time.monotonic() + 10
    while watcher.presence(alice)[alice].online:  # keeps only the watcher alive
        assert time.monotonic() < deadline, "the session never expired"
        time.sleep(0.1)  # between two polls
    sent = sender.send(bob, "after a nap")
    assert asked == [alice, alice]  # the login, then the re-login
    assert watcher.heartbeat().messages == [sent]


def test_without_credentials_an_expired_session_raises_session_expired(
    server: LocalServer,
) -> None:
    uid = unique("ann")
    client = opened(Client(server.url))
    client.login(uid, server.game_token(uid))
    # Ended behind the client's back: the server answers as it does for an expiry.
    with urllib3.PoolManager() as http:
        http.request("POST", server.url + "/v1/logout",
                     headers={"Authorization": f"Bearer {client.session.token}",
                              "Connection": "close"})
    with pytest.raises(SessionExpired) as raised:
        client.contacts()
    assert (raised.value.status, raised.value.code) == (401, "session_expired")


def test_session_replaced_stops_the_client_and_says_why(
    server: LocalServer, proxy: FaultyProxy
) -> None:
    uid = unique("ann")
    asked: list[str] = []
    client = player(server, uid, url=proxy.url, asked=asked)
    proxy.faults.append(("/v1/contacts", "replaced"))
    with pytest.raises(SessionReplaced, match="logged in elsewhere") as raised:
        client.contacts()
    assert (raised.value.status, raised.value.code) == (401, "session_replaced")
    with pytest.raises(SessionReplaced):
        client.contacts()  # stopped: no request, no re-login
    assert len(proxy.requests("/v1/contacts")) == 1
    assert asked == [uid]


def test_history_pages_run_newest_first_following_next_before(server: LocalServer) -> None:
    alice, bob = unique("alice"), unique("bob")
    player(server, bob)
    sender = player(server, alice)
    sent = [sender.send(bob, f"m{i}").msgid for i in range(5)]
    pages = [[m.msgid for m in page.messages]
             for page in sender.history_pages(bob, page_size=2)]
    assert pages == [sent[:2:-1], sent[2:0:-1], sent[:1]]
    assert [m.msgid for m in sender.history(bob, after=sent[1])] == sent[:1:-1]


def test_presence_and_contacts_show_who_is_online(server: LocalServer) -> None:
    alice, bob, gone = unique("alice"), unique("bob"), unique("gone")
    me = player(server, alice)
    player(server, bob)
    player(server, gone).logout()
    me.add_contact(bob)
    me.add_contact(gone)
    assert me.contacts() == sorted([Contact(bob, True), Contact(gone, False)],
                                   key=lambda c: c.uid)
    seen = me.presence(bob, gone)
    assert seen[bob].online and seen[bob].client_type == "pc"
    assert not seen[gone].online
    me.remove_contact(gone)
    assert [c.uid for c in me.contacts()] == [bob]


def test_api_errors_carry_the_status_and_the_stable_code(server: LocalServer) -> None:
    alice, bob = unique("alice"), unique("bob")
    sender = player(server, alice)
    with pytest.raises(ApiError) as unknown:
        sender.send(unique("nobody"), "hello?")
    assert (unknown.value.status, unknown.value.code) == (404, "unknown_user")
    player(server, bob)
    sender.send(bob, "one", client_msg_id="x-1")
    with pytest.raises(ApiError) as reused:
        sender.send(bob, "another", client_msg_id="x-1")
    assert (reused.value.status, reused.value.code) == (409, "client_msg_id_reused")


def test_blocks_are_listed_added_and_removed(server: LocalServer) -> None:
    alice, bob = unique("alice"), unique("bob")
    me = player(server, alice)
    player(server, bob)
    try:
        me.blocks()
    except ApiError as error:
        if error.status == 404:
            pytest.skip("NOT TESTED HERE: this server has no /v1/blocks yet (another "
                        "branch adds it); the SDK follows the documented shape")
        raise
    me.block(bob)
    assert me.blocks() == [bob]
    me.unblock(bob)
    assert me.blocks() == []


def test_the_sdk_runs_a_guild_from_making_it_to_reading_its_chat_list(
    server: LocalServer,
) -> None:
    ann, bob, cid = (opened(player(server, unique(n))) for n in ("ann", "bob", "cid"))
    guild = ann.create_group("Guild", [bob.uid])
    assert (guild.name, guild.owner, guild.members, guild.role) == ("Guild", ann.uid, 2, "owner")
    ann.add_members(guild.id, cid.uid)
    ann.set_role(guild.id, bob.uid, "admin")
    assert [(m.uid, m.role, m.online) for m in ann.group_members(guild.id)] == sorted(
        [(ann.uid, "owner", True), (bob.uid, "admin", True), (cid.uid, "member", True)])
    sent = [ann.send_to_group(guild.id, f"g{i}") for i in range(3)]
    assert all(m.group == guild.id and m.recipient is None for m in sent)
    assert bob.heartbeat().messages == sent
    assert list(cid.group_history(guild.id, page_size=2)) == sent[::-1]
    listed = bob.conversations()
    assert [(c.id, c.group, c.unread, c.last_message) for c in listed] == [
        (f"group:{guild.id}", guild.id, 3, sent[-1])]
    assert bob.mark_read(f"group:{guild.id}", sent[1].msgid) == 1
    cid.leave_group(guild.id)
    with pytest.raises(ApiError) as raised:
        cid.group(guild.id)
    assert (raised.value.status, raised.value.code) == (403, "not_a_member")
    ann.dissolve_group(guild.id)
    assert bob.conversations() == []
