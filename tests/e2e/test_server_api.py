"""The server API (``/v1/server/...``): keys, system messages, kicks, mutes and bans."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from im_core import SYSTEM_UID
from im_http.api.server_api import SERVER_ROUTES
from tests.e2e.conftest import SERVER_KEYS, ApiClient, Stack

# One call of each operation, with arguments a valid key would make work.
CALLS: list[tuple[str, str, Any]] = [
    ("POST", "/v1/server/messages", {"to": ["bob"], "body": "hi", "client_msg_id": "c"}),
    ("DELETE", "/v1/server/players/bob/sessions", None),
    ("GET", "/v1/server/players/bob/mutes", None),
    ("PUT", "/v1/server/players/bob/mutes/global", {"reason": "spam"}),
    ("DELETE", "/v1/server/players/bob/mutes/global", None),
]


def test_the_calls_below_cover_every_server_route_and_method() -> None:
    covered = {(method, path) for method, path, _ in CALLS}
    for route, resource in SERVER_ROUTES.items():
        for method in ("get", "post", "put", "delete"):
            if hasattr(resource, f"on_{method}"):
                concrete = route.replace("{uid}", "bob").replace("{scope}", "global")
                assert (method.upper(), concrete) in covered, (method, route)


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
def test_every_server_route_refuses_a_missing_key_a_wrong_key_and_a_players_token(
    memory_stack: Stack, method: str, path: str, body: Any
) -> None:
    api = memory_stack.api
    player = api.login("bob")
    for headers in ({}, {"Authorization": f"Bearer {SERVER_KEYS[0][:-1]}x"},
                    {"Authorization": f"Bearer {player}"},
                    {"Authorization": SERVER_KEYS[0]},  # no scheme
                    {"Authorization": "Basic " + SERVER_KEYS[0]}):
        kwargs = {} if body is None else {"json": body}
        result = api.request(method, path, headers=headers, **kwargs)
        assert result.status_code == 401, (headers, result.json)
        assert result.json["code"] == "invalid_api_key"
    # Nothing was done by the refused calls: bob's session lives, no mute, no message.
    assert api.heartbeat(player).json["messages"] == []
    assert memory_stack.service.mutes_of("bob") == []


def test_both_keys_of_a_rotation_work(memory_stack: Stack) -> None:
    for key in SERVER_KEYS:
        assert memory_stack.api.server("GET", "/v1/server/players/bob/mutes",
                                       key=key).status_code == 200


def test_an_unknown_path_under_the_server_prefix_says_nothing_without_a_key(
    memory_stack: Stack,
) -> None:
    result = memory_stack.api.request("GET", "/v1/server/no-such-thing")
    assert (result.status_code, result.json["code"]) == (401, "invalid_api_key")


def test_a_server_with_no_keys_refuses_every_server_call(memory_stack: Stack) -> None:
    import falcon.testing

    from im_http.api.app import create_app

    app = create_app(memory_stack.service, heartbeat_interval=2)
    client = falcon.testing.TestClient(app)
    result = client.simulate_get("/v1/server/players/bob/mutes",
                                 headers={"Authorization": f"Bearer {SERVER_KEYS[0]}"})
    assert (result.status_code, result.json["code"]) == (401, "invalid_api_key")


def test_keys_never_reach_the_log(memory_stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api = memory_stack.api
    api.server("GET", "/v1/server/players/bob/mutes")
    wrong = "a-wrong-key-that-must-not-be-logged-either-0123"
    api.request("GET", "/v1/server/players/bob/mutes", token=wrong)
    assert caplog.records  # the access log ran
    for secret in (*SERVER_KEYS, wrong):
        assert secret not in caplog.text


# ------------------------------------------------------------------ system messages


def test_a_system_message_reaches_each_players_inbox_and_history(api: ApiClient) -> None:
    alice, bob = api.login("alice"), api.login("bob")
    sent = api.server("POST", "/v1/server/messages", {
        "to": ["alice", "bob", "ghost", "bob"], "body": "The raid starts in 5 minutes",
        "client_msg_id": "raid-1"})
    assert sent.status_code == 200, sent.json
    assert [(d["to"], d["created"]) for d in sent.json["delivered"]] == [
        ("alice", True), ("bob", True)]
    assert sent.json["unknown_users"] == ["ghost"]
    for token in (alice, bob):
        (message,) = api.heartbeat(token).json["messages"]
        assert (message["from"], message["body"]) == (SYSTEM_UID, "The raid starts in 5 minutes")
        history = api.get("/v1/messages/history", params={"peer": SYSTEM_UID}, token=token)
        assert [m["msgid"] for m in history.json["messages"]] == [message["msgid"]]


def test_a_retried_system_message_stores_nothing_more(api: ApiClient) -> None:
    bob = api.login("bob")
    body = {"to": ["bob"], "body": "maintenance at 04:00", "client_msg_id": "m-1"}
    first = api.server("POST", "/v1/server/messages", body)
    again = api.server("POST", "/v1/server/messages", body)
    assert again.json["delivered"] == [{**first.json["delivered"][0], "created": False}]
    assert len(api.heartbeat(bob).json["messages"]) == 1
    reused = api.server("POST", "/v1/server/messages", {**body, "body": "another text"})
    assert (reused.status_code, reused.json["code"]) == (409, "client_msg_id_reused")


@pytest.mark.parametrize("body", [
    {"to": ["bob"], "body": "no id"},
    {"to": [], "body": "x", "client_msg_id": "c"},
    {"to": "bob", "body": "x", "client_msg_id": "c"},
    {"to": [f"p{i}" for i in range(1001)], "body": "x", "client_msg_id": "c"},
    {"to": ["bob", "not a uid"], "body": "x", "client_msg_id": "c"},
    {"to": ["bob"], "body": "", "client_msg_id": "c"},
])
def test_a_bad_system_message_is_refused_and_stores_nothing(
    memory_stack: Stack, body: dict[str, Any]
) -> None:
    api = memory_stack.api
    bob = api.login("bob")
    result = api.server("POST", "/v1/server/messages", body)
    assert (result.status_code, result.json["code"]) == (400, "invalid_request")
    assert api.heartbeat(bob).json["messages"] == []


def test_nobody_can_log_in_as_the_system_sender(api: ApiClient) -> None:
    game_token = api.auth.grant(SYSTEM_UID)
    result = api.post("/v1/login", {"uid": SYSTEM_UID, "game_token": game_token,
                                    "client_type": "pc"})
    assert (result.status_code, result.json["code"]) == (400, "invalid_request")


# ------------------------------------------------------------------ mutes and bans


def test_a_muted_player_is_told_until_when_and_why_and_nothing_is_stored(
    stack: Stack,
) -> None:
    api = stack.api
    alice, bob = api.login("alice"), api.login("bob")
    until = stack.clock.now + 5_000  # below the session TTL: the session outlives it
    muted = api.server("PUT", "/v1/server/players/alice/mutes/global",
                       {"until": until, "reason": "spam reported by players"})
    assert muted.status_code == 200
    assert (muted.json["scope"], muted.json["until"]) == ("global", until)
    refused = api.send(alice, "bob", "buy gold")
    assert refused.status_code == 403
    assert (refused.json["code"], refused.json["until"], refused.json["reason"]) == (
        "muted", until, "spam reported by players")
    assert api.heartbeat(bob).json["messages"] == []
    listed = api.server("GET", "/v1/server/players/alice/mutes").json["mutes"]
    assert [m["scope"] for m in listed] == ["global"]
    stack.clock.advance(5_000)  # the mute lapses by itself
    assert api.send(alice, "bob", "sorry").status_code == 201


def test_unmuting_lets_the_player_speak_again(stack: Stack) -> None:
    api = stack.api
    alice, _ = api.login("alice"), api.login("bob")
    api.server("PUT", "/v1/server/players/alice/mutes/global", {"reason": "cool down"})
    assert api.send(alice, "bob", "hey").status_code == 403
    assert api.server("DELETE", "/v1/server/players/alice/mutes/global").json == {
        "lifted": True}
    assert api.send(alice, "bob", "hey").status_code == 201
    assert api.server("DELETE", "/v1/server/players/alice/mutes/global").json == {
        "lifted": False}


def test_a_retry_of_a_message_stored_before_the_mute_still_answers_it(stack: Stack) -> None:
    api = stack.api
    alice, _ = api.login("alice"), api.login("bob")
    first = api.send(alice, "bob", "gg", "c-1")
    api.server("PUT", "/v1/server/players/alice/mutes/global", {"reason": "r"})
    retry = api.send(alice, "bob", "gg", "c-1")
    assert (retry.status_code, retry.json) == (200, first.json)
    assert api.send(alice, "bob", "gg again", "c-2").status_code == 403
    assert api.send(alice, "carol", "gg", "c-1").status_code == 403  # not a retry: refused


def test_a_mute_in_a_group_does_not_silence_direct_messages(stack: Stack) -> None:
    api = stack.api
    alice, _ = api.login("alice"), api.login("bob")
    assert api.server("PUT", "/v1/server/players/alice/mutes/group:g7",
                      {"reason": "flood"}).status_code == 200
    assert api.send(alice, "bob", "hi").status_code == 201


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/server/players/alice/mutes/everywhere", {"reason": "x"}),
    ("/v1/server/players/alice/mutes/global", {"until": 1}),  # in the past
    ("/v1/server/players/alice/mutes/global", {"until": "tomorrow"}),
    ("/v1/server/players/alice/mutes/global", {"reason": "x" * 501}),
    ("/v1/server/players/system/mutes/global", {"reason": "x"}),
])
def test_a_bad_mute_is_refused_and_changes_nothing(
    memory_stack: Stack, path: str, body: dict[str, Any]
) -> None:
    api = memory_stack.api
    result = api.server("PUT", path, body)
    assert (result.status_code, result.json["code"]) == (400, "invalid_request")
    assert memory_stack.service.mutes_of("alice") == []


def test_a_ban_ends_the_sessions_and_refuses_logins_until_lifted(stack: Stack) -> None:
    api = stack.api
    alice = api.login("alice")
    banned = api.server("PUT", "/v1/server/players/alice/mutes/login",
                        {"until": None, "reason": "cheating"})
    assert banned.status_code == 200
    ended = api.heartbeat(alice)
    assert (ended.status_code, ended.json["code"]) == (401, "session_ended")
    refused = api.post("/v1/login", {"uid": "alice", "game_token": api.auth.grant("alice"),
                                     "client_type": "ios"})
    assert (refused.status_code, refused.json["code"], refused.json["reason"],
            refused.json["until"]) == (403, "banned", "cheating", None)
    api.server("DELETE", "/v1/server/players/alice/mutes/login")
    assert api.login("alice")


# ------------------------------------------------------------------ ending sessions


def test_ending_a_players_sessions_ends_every_device_and_no_one_else(stack: Stack) -> None:
    api = stack.api
    phone, desktop, bob = api.login("alice", "ios"), api.login("alice", "pc"), api.login("bob")
    result = api.server("DELETE", "/v1/server/players/alice/sessions")
    assert result.json == {"ended": 2}
    for token in (phone, desktop):
        answer = api.heartbeat(token)
        assert (answer.status_code, answer.json["code"]) == (401, "session_ended")
    assert api.heartbeat(bob).status_code == 200


def held_heartbeat(api: ApiClient, token: str, into: list[Any]) -> threading.Thread:
    def run() -> None:
        into.append(api.post("/v1/heartbeat", {"wait": 5}, token=token))

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.3)  # let it reach its wait (a ring before it would only re-read)
    return thread


def test_a_held_long_poll_of_an_ended_session_answers_401_at_once(memory_stack: Stack) -> None:
    api = memory_stack.api
    alice = api.login("alice")
    answers: list[Any] = []
    thread = held_heartbeat(api, alice, answers)
    started = time.monotonic()
    api.server("DELETE", "/v1/server/players/alice/sessions")
    thread.join(5)
    assert time.monotonic() - started < 2
    assert (answers[0].status_code, answers[0].json["code"]) == (401, "session_ended")


def test_system_message_copies_are_counted_once_in_the_metrics(memory_stack: Stack) -> None:
    api = memory_stack.api
    for uid in ("alice", "bob"):
        api.login(uid)
    body = {"to": ["alice", "bob"], "body": "patch notes", "client_msg_id": "p-1"}
    api.server("POST", "/v1/server/messages", body)
    api.server("POST", "/v1/server/messages", body)  # a retry: nothing new
    scrape = api.get("/metrics").text
    assert "im_system_messages_sent_total 2.0" in scrape
    assert "im_webhook_events_dropped 0.0" in scrape
