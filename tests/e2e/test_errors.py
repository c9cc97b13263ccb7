"""Every row of the API's error table: status, stable code, JSON body, nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from im_core import InMemoryGameAuth, InMemoryMailbox, InMemorySessionStore
from tests.e2e.conftest import ApiClient, Stack

LONG = "x" * 4097


def _code(result: Any) -> tuple[int, str]:
    assert set(result.json) == {"title", "description", "code"}
    assert result.json["description"]
    return result.status_code, result.json["code"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"uid": "bad uid!", "game_token": "t", "client_type": "ios"}, "uid alphabet"),
        ({"uid": "", "game_token": "t", "client_type": "ios"}, "empty uid"),
        ({"uid": "a" * 65, "game_token": "t", "client_type": "ios"}, "uid too long"),
        ({"uid": 7, "game_token": "t", "client_type": "ios"}, "uid type"),
        ({"game_token": "t", "client_type": "ios"}, "uid missing"),
        ({"uid": "alice", "client_type": "ios"}, "game_token missing"),
        ({"uid": "alice", "game_token": "", "client_type": "ios"}, "empty game_token"),
        ({"uid": "alice", "game_token": "t", "client_type": "iOS"}, "client_type alphabet"),
        ({"uid": "alice", "game_token": "t", "client_type": "x" * 17}, "client_type long"),
        ({"uid": "alice", "game_token": "t"}, "client_type missing"),
    ],
)
def test_a_malformed_login_is_400_invalid_request(
    memory_stack: Stack, body: dict[str, Any], why: str
) -> None:
    memory_stack.auth.grant("alice", "t")
    assert _code(memory_stack.api.post("/v1/login", body)) == (400, "invalid_request"), why
    assert memory_stack.mailbox.known_users(["alice"]) == set()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"to": "bob"}, "body missing"),
        ({"to": "bob", "body": ""}, "empty body"),
        ({"to": "bob", "body": 5}, "body type"),
        ({"body": "hi"}, "to missing"),
        ({"to": "b o b", "body": "hi"}, "to alphabet"),
        ({"to": "bob", "body": "hi", "client_msg_id": ""}, "empty client_msg_id"),
        ({"to": "bob", "body": "hi", "client_msg_id": "é"}, "client_msg_id not ASCII"),
        ({"to": "bob", "body": "hi", "client_msg_id": "x" * 65}, "client_msg_id long"),
        ({"to": "bob", "body": "hi", "client_msg_id": 12}, "client_msg_id type"),
    ],
)
def test_a_malformed_send_is_400_and_stores_nothing(
    memory_stack: Stack, body: dict[str, Any], why: str
) -> None:
    api = memory_stack.api
    alice, bob = api.login("alice"), api.login("bob")
    assert _code(api.post("/v1/messages", body, token=alice)) == (400, "invalid_request"), why
    assert api.heartbeat(bob).json["messages"] == []


@pytest.mark.parametrize(
    "body",
    [{"ack": -1}, {"ack": "5"}, {"ack": 1.5}, {"ack": True}, {"ack": 2**63}, {"limit": 0},
     {"limit": 501}, {"limit": "10"}, {"limit": None}],
)
def test_a_heartbeat_with_a_bad_ack_or_limit_is_400_and_deletes_nothing(
    memory_stack: Stack, body: dict[str, Any]
) -> None:
    api = memory_stack.api
    alice, bob = api.login("alice"), api.login("bob")
    api.send(alice, "bob", "keep me")
    assert _code(api.post("/v1/heartbeat", body, token=bob)) == (400, "invalid_request")
    assert len(api.heartbeat(bob).json["messages"]) == 1


@pytest.mark.parametrize(
    "params",
    [{}, {"peer": "bad peer"}, {"peer": "bob", "limit": "0"}, {"peer": "bob", "limit": "101"},
     {"peer": "bob", "limit": "ten"}, {"peer": "bob", "before": "-3"},
     {"peer": "bob", "after": "1e3"}],
)
def test_a_history_query_out_of_range_is_400(memory_stack: Stack, params: dict[str, str]
                                             ) -> None:
    api = memory_stack.api
    alice = api.login("alice")
    api.login("bob")
    result = api.get("/v1/messages/history", params=params, token=alice)
    assert _code(result) == (400, "invalid_request")


@pytest.mark.parametrize("uids", [[], ["bad uid"], [f"u{i}" for i in range(101)]])
def test_presence_of_no_uid_a_bad_uid_or_too_many_is_400(memory_stack: Stack,
                                                         uids: list[str]) -> None:
    alice = memory_stack.api.login("alice")
    result = memory_stack.api.get("/v1/presence", params={"uid": uids}, token=alice)
    assert _code(result) == (400, "invalid_request")


def test_asking_presence_of_too_many_uids_says_so_in_plain_words(memory_stack: Stack) -> None:
    alice = memory_stack.api.login("alice")
    uids = [f"u{i}" for i in range(101)]
    result = memory_stack.api.get("/v1/presence", params={"uid": uids}, token=alice)
    assert result.json["description"] == "uid must be given 1 to 100 times"


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b'"text"', b"\xff\xfe", b"null",
                                 b'{"uid": "\\ud800"}', b'{"ack": 1e999}'])
def test_a_body_that_is_not_a_json_object_is_400(memory_stack: Stack, raw: bytes) -> None:
    result = memory_stack.api.request(
        "POST", "/v1/login", body=raw, headers={"Content-Type": "application/json"}
    )
    assert _code(result) == (400, "invalid_request")


def test_a_body_over_4096_characters_is_413_and_stores_nothing(memory_stack: Stack) -> None:
    api = memory_stack.api
    alice, bob = api.login("alice"), api.login("bob")
    assert _code(api.send(alice, "bob", LONG)) == (413, "payload_too_large")
    assert api.send(alice, "bob", "é" * 4096).status_code == 201
    assert len(api.heartbeat(bob).json["messages"]) == 1


def test_a_request_over_64_kib_is_413(memory_stack: Stack) -> None:
    api = memory_stack.api
    alice = api.login("alice")
    padding = {"to": "bob", "body": "hi", "pad": "x" * 70_000}
    assert _code(api.post("/v1/messages", padding, token=alice)) == (413, "payload_too_large")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          None])
def test_a_body_that_is_not_json_is_415(memory_stack: Stack, content_type: str | None
                                        ) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    result = memory_stack.api.request("POST", "/v1/login", body=b'{"uid": "a"}',
                                      headers=headers)
    assert _code(result) == (415, "unsupported_media_type")


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer nonsense", "Basic YWxpY2U6c2VjcmV0",
     "Bearer YWxpY2U.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
     # Non-ASCII bytes (as WSGI hands them over: latin-1) once reached the base64
     # decoder and answered 500; so did padding and stray dots.
     "Bearer \xc3\xa9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
     "Bearer YWxpY2U\xc3\xa9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
     "Bearer YWxpY2U=.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
     "Bearer YWxp.Y2U.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
)
def test_no_or_an_unknown_token_is_401_session_expired(memory_stack: Stack,
                                                       authorization: str | None) -> None:
    memory_stack.api.login("alice")
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in [("POST", "/v1/heartbeat"), ("POST", "/v1/messages"),
                         ("GET", "/v1/messages/history"), ("GET", "/v1/presence"),
                         ("GET", "/v1/contacts"), ("PUT", "/v1/contacts/alice"),
                         ("DELETE", "/v1/contacts/alice"), ("POST", "/v1/logout")]:
        result = memory_stack.api.request(method, path, headers=headers)
        assert _code(result) == (401, "session_expired"), (method, path)
        assert result.headers["www-authenticate"] == "Bearer"


def test_an_unknown_path_is_404_not_found(api: ApiClient) -> None:
    assert _code(api.get("/v2/everything")) == (404, "not_found")


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/login"), ("DELETE", "/v1/heartbeat"),
                                              ("POST", "/v1/contacts")])
def test_a_wrong_method_is_405_method_not_allowed(api: ApiClient, method: str, path: str
                                                  ) -> None:
    assert _code(api.request(method, path)) == (405, "method_not_allowed")


def test_a_game_login_that_is_down_is_503_auth_unavailable(memory_stack: Stack) -> None:
    auth: InMemoryGameAuth = memory_stack.auth
    game_token = auth.grant("alice")
    auth.down = True
    result = memory_stack.api.post("/v1/login", {"uid": "alice", "game_token": game_token,
                                                 "client_type": "ios"})
    assert _code(result) == (503, "auth_unavailable")
    assert result.headers["retry-after"] == "1"
    assert _code(memory_stack.api.get("/readyz")) == (503, "auth_unavailable")


def test_a_session_store_that_is_down_is_503_storage_unavailable(memory_stack: Stack) -> None:
    api = memory_stack.api
    alice = api.login("alice")
    sessions = memory_stack.sessions
    assert isinstance(sessions, InMemorySessionStore)
    sessions.down = True
    assert _code(api.heartbeat(alice)) == (503, "storage_unavailable")
    assert _code(api.get("/readyz")) == (503, "storage_unavailable")
    assert api.get("/healthz").status_code == 200
    sessions.down = False
    assert api.heartbeat(alice).status_code == 200


def test_a_database_that_is_down_is_503_and_nothing_is_half_written(memory_stack: Stack
                                                                    ) -> None:
    api = memory_stack.api
    alice, bob = api.login("alice"), api.login("bob")
    mailbox = memory_stack.mailbox
    assert isinstance(mailbox, InMemoryMailbox)
    mailbox.down = True
    assert _code(api.send(alice, "bob", "lost?", "k1")) == (503, "storage_unavailable")
    assert _code(api.heartbeat(bob)) == (503, "storage_unavailable")
    mailbox.down = False
    assert api.heartbeat(bob).json["messages"] == []
    assert api.send(alice, "bob", "lost?", "k1").status_code == 201


def test_an_unexpected_failure_is_a_json_500_without_a_stack_trace(memory_stack: Stack) -> None:
    class Broken(InMemoryMailbox):
        def contacts(self, uid: str) -> list[str]:
            raise RuntimeError("secret internals")

    memory_stack.service.mailbox = Broken()
    memory_stack.service.mailbox.record_login("alice", "ios", 0)
    alice = memory_stack.api.login("alice")
    result = memory_stack.api.client.simulate_get(
        "/v1/contacts", headers={"Authorization": f"Bearer {alice}"})
    assert result.status_code == 500
    assert result.json["code"] == "internal_error"
    assert "secret internals" not in result.text
