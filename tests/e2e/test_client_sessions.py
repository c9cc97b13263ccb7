"""The SDK against a real server: sessions renewed, replaced or expired; history,
presence, contacts, blocks, and the API's errors.

The harness is in ``client_harness.py``.
"""

from __future__ import annotations

import time

import pytest
import urllib3

from im_http.client import (
    ApiError,
    Client,
    Contact,
    SessionExpired,
    SessionReplaced,
)
from im_http.client.demo import LocalServer
from tests.e2e.client_harness import FaultyProxy, opened, player, unique


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
