"""The HTTP API v1, endpoint by endpoint, on every stack (memory, Redis + SQL)."""

from __future__ import annotations

import time
from unittest.mock import ANY

import pytest

from im_core import Limits
from im_core.models import HISTORY_LIMIT_DEFAULT, PULL_LIMIT_DEFAULT
from tests.e2e.conftest import ApiClient, Stack

PACE = {"next_heartbeat_ms": ANY}  # a heartbeat answer's pacing, whatever it is


def test_login_returns_a_token_and_the_session_timings(api: ApiClient) -> None:
    game_token = api.auth.grant("alice")
    result = api.post("/v1/login", {"uid": "alice", "game_token": game_token,
                                    "client_type": "android"})
    assert result.status_code == 200
    assert result.json["uid"] == "alice"
    assert result.json["session_ttl"] == 10
    assert result.json["heartbeat_interval"] == 2
    assert len(result.json["token"]) >= 30


def test_login_tells_the_session_ttl_that_the_service_enforces(memory_stack: Stack) -> None:
    short = memory_stack.with_session_ttl(1500)
    short.auth.grant("alice", "t")
    result = short.api.post("/v1/login", {"uid": "alice", "game_token": "t",
                                          "client_type": "pc"})
    assert result.json["session_ttl"] == 1.5


def test_two_logins_of_one_player_get_different_tokens(api: ApiClient) -> None:
    assert api.login("alice") != api.login("alice")


def test_login_with_a_credential_the_game_refuses_is_401_invalid_credentials(
    api: ApiClient,
) -> None:

    api.auth.grant("alice", "the-real-one")
    result = api.post("/v1/login", {"uid": "alice", "game_token": "a-forged-one",
                                    "client_type": "ios"})
    assert result.status_code == 401
    assert result.json["code"] == "invalid_credentials"


def test_a_message_reaches_the_recipients_inbox_and_history(api: ApiClient) -> None:
    alice, bob = api.login("alice"), api.login("bob")
    sent = api.send(alice, "bob", "hello bob 👋", "c-1")
    assert sent.status_code == 201
    message = sent.json
    assert (message["from"], message["to"], message["body"], message["client_msg_id"]) == (
        "alice", "bob", "hello bob 👋", "c-1")
    pulled = api.heartbeat(bob)
    assert pulled.json == {"messages": [message], "more": False, **PACE}
    history = api.get("/v1/messages/history", params={"peer": "alice"}, token=bob)
    assert history.json == {"messages": [message], "next_before": None}


def test_a_message_waits_for_a_recipient_who_is_offline(api: ApiClient) -> None:
    api.login("bob")
    alice = api.login("alice")
    api.send(alice, "bob", "while you were away")
    bob = api.login("bob")
    assert [m["body"] for m in api.heartbeat(bob).json["messages"]] == ["while you were away"]


def test_heartbeat_returns_messages_until_they_are_acknowledged(api: ApiClient) -> None:
    alice, bob = api.login("alice"), api.login("bob")
    ids = [api.send(alice, "bob", f"m{i}").json["msgid"] for i in range(3)]
    assert [m["msgid"] for m in api.heartbeat(bob).json["messages"]] == ids
    assert [m["msgid"] for m in api.heartbeat(bob).json["messages"]] == ids
    assert [m["msgid"] for m in api.heartbeat(bob, ack=ids[1]).json["messages"]] == ids[2:]
    assert api.heartbeat(bob, ack=ids[2]).json == {"messages": [], "more": False, **PACE}


def test_heartbeat_with_no_body_at_all_is_a_plain_pull(api: ApiClient) -> None:
    alice, bob = api.login("alice"), api.login("bob")
    api.send(alice, "bob", "x")
    result = api.request("POST", "/v1/heartbeat", token=bob)
    assert result.status_code == 200
    assert len(result.json["messages"]) == 1


def test_heartbeat_limit_pages_the_inbox_and_says_more(api: ApiClient) -> None:
    alice, bob = api.login("alice"), api.login("bob")
    ids = [api.send(alice, "bob", f"m{i}").json["msgid"] for i in range(5)]
    first = api.heartbeat(bob, limit=2).json
    assert [m["msgid"] for m in first["messages"]] == ids[:2] and first["more"] is True
    second = api.heartbeat(bob, ack=ids[1], limit=3).json
    assert [m["msgid"] for m in second["messages"]] == ids[2:] and second["more"] is False


def test_a_retried_send_with_the_same_client_msg_id_is_stored_once(api: ApiClient) -> None:
    alice, bob = api.login("alice"), api.login("bob")
    first = api.send(alice, "bob", "once", "retry-me")
    again = api.send(alice, "bob", "once", "retry-me")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert api.heartbeat(bob).json["messages"] == [first.json]


@pytest.mark.parametrize("change", ["recipient", "body"])
def test_a_client_msg_id_reused_for_another_message_is_409_and_stores_nothing(
    api: ApiClient, change: str
) -> None:
    alice, bob, carol = api.login("alice"), api.login("bob"), api.login("carol")
    first = api.send(alice, "bob", "once", "k1")
    to, body = ("carol", "once") if change == "recipient" else ("bob", "twice")
    reused = api.send(alice, to, body, "k1")
    assert reused.status_code == 409
    assert reused.json["code"] == "client_msg_id_reused"
    assert api.heartbeat(bob).json["messages"] == [first.json]
    assert api.heartbeat(carol).json["messages"] == []
    for peer in ("bob", "carol"):
        history = api.get("/v1/messages/history", params={"peer": peer}, token=alice)
        assert history.json["messages"] == ([first.json] if peer == "bob" else [])
    assert api.send(alice, "bob", "once", "k1").status_code == 200  # still a retry


def test_history_pages_from_newest_to_oldest(api: ApiClient) -> None:
    alice, bob = api.login("alice"), api.login("bob")
    ids = []
    for i in range(5):
        ids.append(api.send(alice, "bob", f"a{i}").json["msgid"])
        ids.append(api.send(bob, "alice", f"b{i}").json["msgid"])
    page = api.get("/v1/messages/history", params={"peer": "bob", "limit": "4"}, token=alice)
    assert [m["msgid"] for m in page.json["messages"]] == ids[::-1][:4]
    assert page.json["next_before"] == ids[-4]
    older = api.get("/v1/messages/history", token=alice,
                    params={"peer": "bob", "limit": "100", "before": str(ids[-4])})
    assert [m["msgid"] for m in older.json["messages"]] == ids[::-1][4:]
    assert older.json["next_before"] is None
    newer = api.get("/v1/messages/history", token=bob,
                    params={"peer": "alice", "after": str(ids[6])})
    assert [m["msgid"] for m in newer.json["messages"]] == ids[::-1][:3]


def test_history_is_the_same_from_any_device(api: ApiClient) -> None:
    alice, bob = api.login("alice", "ios"), api.login("bob")
    api.send(bob, "alice", "roaming")
    alice_pc = api.login("alice", "pc")
    for token in (alice, alice_pc):
        page = api.get("/v1/messages/history", params={"peer": "bob"}, token=token)
        assert [m["body"] for m in page.json["messages"]] == ["roaming"]


def test_history_with_a_peer_never_spoken_to_is_empty(api: ApiClient) -> None:
    alice = api.login("alice")
    api.login("carol")
    page = api.get("/v1/messages/history", params={"peer": "carol"}, token=alice)
    assert page.json == {"messages": [], "next_before": None}


def test_presence_tells_who_is_online_and_from_what(api: ApiClient) -> None:
    alice = api.login("alice")
    api.login("bob", "pc")
    result = api.get("/v1/presence", params={"uid": ["bob", "nobody"]}, token=alice)
    assert result.json["presence"]["bob"]["online"] is True
    assert result.json["presence"]["bob"]["client_type"] == "pc"
    assert isinstance(result.json["presence"]["bob"]["last_seen"], int)
    assert result.json["presence"]["nobody"] == {"online": False, "client_type": None,
                                                 "last_seen": None}


def test_logout_makes_the_player_offline_and_the_token_dead(api: ApiClient) -> None:
    alice, bob = api.login("alice"), api.login("bob")
    assert api.post("/v1/logout", token=bob).status_code == 204
    dead = api.heartbeat(bob)
    assert dead.status_code == 401
    assert dead.json["code"] == "session_expired"
    assert dead.headers["www-authenticate"] == "Bearer"
    presence = api.get("/v1/presence", params={"uid": "bob"}, token=alice).json["presence"]
    assert presence["bob"] == {"online": False, "client_type": None, "last_seen": None}


def test_contacts_can_be_added_listed_with_presence_and_removed(api: ApiClient) -> None:
    alice = api.login("alice")
    api.login("bob")
    api.login("carol")
    api.post("/v1/logout", token=api.login("dave"))
    for uid in ("dave", "bob", "bob"):
        assert api.request("PUT", f"/v1/contacts/{uid}", token=alice).status_code == 204
    listed = api.get("/v1/contacts", token=alice).json["contacts"]
    assert listed == [{"uid": "bob", "online": True}, {"uid": "dave", "online": False}]
    assert api.request("DELETE", "/v1/contacts/bob", token=alice).status_code == 204
    assert api.request("DELETE", "/v1/contacts/bob", token=alice).status_code == 204
    assert api.get("/v1/contacts", token=alice).json["contacts"] == [
        {"uid": "dave", "online": False}]


@pytest.mark.parametrize("path", ["/v1/contacts/stranger"])
@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_contact_who_never_logged_in_is_404_unknown_user(
    api: ApiClient, method: str, path: str
) -> None:
    result = api.request(method, path, token=api.login("alice"))
    assert result.status_code == 404
    assert result.json["code"] == "unknown_user"


def test_sending_to_or_reading_history_with_a_stranger_is_404_unknown_user(
    api: ApiClient,
) -> None:
    alice = api.login("alice")
    assert api.send(alice, "stranger", "hi").json["code"] == "unknown_user"
    history = api.get("/v1/messages/history", params={"peer": "stranger"}, token=alice)
    assert (history.status_code, history.json["code"]) == (404, "unknown_user")


def test_an_idle_session_expires_and_is_refused(stack: Stack) -> None:
    short = stack.with_session_ttl(300)
    token = short.api.login("alice")
    assert short.api.heartbeat(token).status_code == 200
    short.clock.advance(400)
    time.sleep(0.45)
    result = short.api.heartbeat(token)
    assert (result.status_code, result.json["code"]) == (401, "session_expired")


def test_every_authenticated_call_keeps_the_session_alive(stack: Stack) -> None:
    short = stack.with_session_ttl(600)
    token = short.api.login("alice")
    for _ in range(4):
        short.clock.advance(300)
        time.sleep(0.3)
        assert short.api.get("/v1/contacts", token=token).status_code == 200


def test_health_and_readiness_answer_when_everything_is_up(api: ApiClient) -> None:
    assert api.get("/healthz").json == {"status": "ok"}
    assert api.get("/readyz").json == {"status": "ready"}


def test_without_a_limit_heartbeat_and_history_use_the_cores_defaults(
    memory_stack: Stack,
) -> None:
    api = memory_stack.api
    memory_stack.service.limits = Limits(sends=None)
    alice, bob = api.login("alice"), api.login("bob")
    for i in range(PULL_LIMIT_DEFAULT + 1):
        api.send(alice, "bob", f"m{i}")
    pulled = api.heartbeat(bob).json
    assert (len(pulled["messages"]), pulled["more"]) == (PULL_LIMIT_DEFAULT, True)
    page = api.get("/v1/messages/history", params={"peer": "alice"}, token=bob).json
    assert len(page["messages"]) == HISTORY_LIMIT_DEFAULT
    assert page["next_before"] is not None
