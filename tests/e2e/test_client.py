"""The SDK (``im_http.client.sdk``) against a real ``im-server serve`` over real HTTP.

Login, retries that store a message once, acks, and the long-poll iterator; the
harness (``FaultyProxy``, the server, players) is in ``client_harness.py``; sessions,
history, presence, contacts, blocks and errors are in ``test_client_sessions.py``.
"""

from __future__ import annotations

import queue
import threading
import time

import pytest

from im_http.client import (
    Client,
    ConnectionFailed,
    Message,
    Unavailable,
)
from im_http.client.demo import LocalServer, free_port
from tests.e2e.client_harness import FaultyProxy, opened, player, unique


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
