"""Every endpoint acts only as the caller's own uid; the session cap; on every stack.

A second player holding a valid token of its own tries everything the API lets a
client say: naming another uid in the body or the query, acking another's msgids,
reading a conversation it is not part of, changing another's contacts, grafting its
secret onto another's uid. None of it reaches the first player's data.
"""

from __future__ import annotations

import base64

import pytest

from im_core import SessionToken
from tests.e2e.conftest import ApiClient, Stack


def _inbox(api: ApiClient, token: str) -> list[str]:
    return [m["body"] for m in api.heartbeat(token).json["messages"]]


def test_a_login_beyond_the_cap_ends_the_oldest_session_with_401_session_replaced(
    stack: Stack,
) -> None:
    api = stack.api
    cap = stack.service.max_sessions_per_uid
    tokens = []
    for _ in range(cap + 1):
        tokens.append(api.login("alice"))
        stack.clock.advance(1)

    refused = api.heartbeat(tokens[0])

    assert refused.status_code == 401
    assert refused.json["code"] == "session_replaced"
    assert refused.headers["www-authenticate"] == "Bearer"
    assert all(api.heartbeat(t).status_code == 200 for t in tokens[1:])


def test_an_expired_session_is_still_401_session_expired(stack: Stack) -> None:
    short = stack.with_session_ttl(1000)
    alice = short.api.login("alice")
    short.clock.advance(2000)
    if stack.name != "memory":
        import time

        time.sleep(1.1)  # Redis expires keys on its own clock

    assert short.api.heartbeat(alice).json["code"] == "session_expired"


def test_a_second_player_can_neither_read_nor_delete_the_first_ones_inbox(
    api: ApiClient,
) -> None:
    alice, bob, carol = api.login("alice"), api.login("bob"), api.login("carol")
    sent = api.send(carol, "alice", "for alice only").json

    for body in ({"uid": "alice"}, {"uid": "alice", "ack": sent["msgid"]},
                 {"ack": sent["msgid"] + 1000}):
        stolen = api.post("/v1/heartbeat", body, token=bob, params={"uid": "alice"})
        assert stolen.status_code == 200
        assert stolen.json["messages"] == []

    assert _inbox(api, alice) == ["for alice only"]


def test_acking_someone_elses_msgids_deletes_nothing_of_theirs(api: ApiClient) -> None:
    alice, bob = api.login("alice"), api.login("bob")
    to_alice = api.send(bob, "alice", "one").json
    to_bob = api.send(alice, "bob", "two").json
    assert _inbox(api, bob) == ["two"]  # bob has pulled his own; his ack may now act

    api.heartbeat(bob, ack=max(to_alice["msgid"], to_bob["msgid"]))

    assert _inbox(api, alice) == ["one"]
    assert _inbox(api, bob) == []


def test_history_with_a_peer_returns_only_the_callers_own_conversation_with_it(
    api: ApiClient,
) -> None:
    alice, bob, carol = api.login("alice"), api.login("bob"), api.login("carol")
    api.send(alice, "bob", "alice to bob")
    api.send(bob, "alice", "bob to alice")
    api.send(carol, "bob", "carol to bob")

    for params in ({"peer": "bob"}, {"peer": "bob", "uid": "alice"}):
        seen = api.get("/v1/messages/history", params=params, token=carol).json
        assert [m["body"] for m in seen["messages"]] == ["carol to bob"]
    with_alice = api.get("/v1/messages/history", params={"peer": "alice"}, token=carol).json
    assert with_alice["messages"] == []


def test_a_send_is_always_from_the_caller_whatever_the_body_says(api: ApiClient) -> None:
    alice, bob = api.login("alice"), api.login("bob")
    api.login("carol")

    sent = api.post("/v1/messages", {"to": "carol", "body": "hi", "from": "alice",
                                     "uid": "alice"}, token=bob).json

    assert sent["from"] == "bob"
    history = api.get("/v1/messages/history", params={"peer": "carol"}, token=alice).json
    assert history["messages"] == []


def test_a_second_player_cannot_change_the_first_ones_contacts(api: ApiClient) -> None:
    alice, bob = api.login("alice"), api.login("bob")
    api.login("carol")
    assert api.request("PUT", "/v1/contacts/carol", token=alice).status_code == 204

    assert api.request("DELETE", "/v1/contacts/carol", token=bob,
                       params={"uid": "alice"}).status_code == 204
    assert api.request("PUT", "/v1/contacts/bob", token=bob, json={"uid": "alice"},
                       params={"uid": "alice"}).status_code == 204

    mine = api.get("/v1/contacts", token=alice).json["contacts"]
    assert [c["uid"] for c in mine] == ["carol"]
    theirs = api.get("/v1/contacts", token=bob, params={"uid": "alice"}).json["contacts"]
    assert [c["uid"] for c in theirs] == ["bob"]


def test_asking_for_someones_presence_does_not_touch_their_session(stack: Stack) -> None:
    api = stack.api
    api.login("alice", client_type="ios")
    logged_in_at = stack.clock.now
    bob = api.login("bob", client_type="pc")
    stack.clock.advance(500)

    seen = api.get("/v1/presence", params={"uid": ["alice", "bob"]}, token=bob).json

    assert seen["presence"]["alice"] == {"online": True, "client_type": "ios",
                                         "last_seen": logged_in_at}
    assert seen["presence"]["bob"]["last_seen"] == logged_in_at + 500


def test_a_logout_ends_only_the_callers_own_session(api: ApiClient) -> None:
    alice, bob = api.login("alice"), api.login("bob")

    assert api.post("/v1/logout", {"uid": "alice"}, token=bob).status_code == 204

    assert api.heartbeat(alice).status_code == 200
    assert api.heartbeat(bob).json["code"] == "session_expired"


@pytest.mark.parametrize("graft", ["uid", "secret"])
def test_a_token_grafted_from_two_players_tokens_is_refused(api: ApiClient, graft: str
                                                            ) -> None:
    alice = SessionToken.parse(api.login("alice"))
    bob = SessionToken.parse(api.login("bob"))
    assert alice is not None and bob is not None
    forged = SessionToken("alice", bob.secret) if graft == "uid" else SessionToken(
        "bob", alice.secret)

    refused = api.heartbeat(str(forged))

    assert refused.status_code == 401
    assert refused.json["code"] == "session_expired"
    assert base64.urlsafe_b64decode(str(forged).split(".")[0] + "==") in (b"alice", b"bob")
