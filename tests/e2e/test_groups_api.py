"""Groups and conversations over HTTP, on every stack (memory, Redis + SQL).

Every answer is validated against the OpenAPI document (``tests/e2e/conftest.py``).
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from im_core import Limits, RateLimit
from tests.e2e.conftest import ApiClient, Stack
from tests.e2e.test_long_poll import in_background, wait_until_held


def make_group(api: ApiClient, owner: str, *members: str, name: str = "Knights") -> str:
    made = api.post("/v1/groups", {"name": name, "members": list(members)}, token=owner)
    assert made.status_code == 201, made.json
    gid: str = made.json["id"]
    return gid


def say(api: ApiClient, token: str, gid: str, body: str,
        client_msg_id: str | None = None) -> dict[str, Any]:
    sent = api.post(f"/v1/groups/{gid}/messages",
                    {"body": body, "client_msg_id": client_msg_id}, token=token)
    assert sent.status_code == 201, sent.json
    message: dict[str, Any] = sent.json
    return message


def test_a_group_message_reaches_every_member_and_says_its_group(api: ApiClient) -> None:
    ann, bob, cid = api.login("ann"), api.login("bob"), api.login("cid")
    gid = make_group(api, ann, "bob", "cid")
    message = say(api, ann, gid, "raid at 9 ⚔", "g-1")
    assert (message["from"], message["to"], message["group"], message["body"]) == (
        "ann", None, gid, "raid at 9 ⚔")
    for token in (bob, cid):
        answer = api.heartbeat(token).json
        assert (answer["messages"], answer["more"]) == ([message], False)
    assert api.heartbeat(ann).json["messages"] == []
    history = api.get(f"/v1/groups/{gid}/messages", token=cid)
    assert history.json == {"messages": [message], "next_before": None}
    private = api.send(bob, "cid", "psst").json
    assert (private["to"], private["group"]) == ("cid", None)


def test_a_group_is_shown_to_its_members_only(api: ApiClient) -> None:
    ann, bob, eve = api.login("ann"), api.login("bob"), api.login("eve")
    made = api.post("/v1/groups", {"name": "Knights", "members": ["bob"]}, token=ann)
    assert made.json["role"] == "owner" and made.json["members"] == 2
    gid = made.json["id"]
    got = api.get(f"/v1/groups/{gid}", token=bob)
    assert got.status_code == 200
    assert {k: got.json[k] for k in ("name", "owner", "members", "role")} == {
        "name": "Knights", "owner": "ann", "members": 2, "role": "member"}
    assert api.get(f"/v1/groups/{gid}", token=eve).json["code"] == "not_a_member"
    missing = api.get("/v1/groups/nothing-here", token=eve)
    assert (missing.status_code, missing.json["code"]) == (404, "unknown_group")
    refused = api.post(f"/v1/groups/{gid}/messages", {"body": "hi"}, token=eve)
    assert (refused.status_code, refused.json["code"]) == (403, "not_a_member")
    assert api.get(f"/v1/groups/{gid}/messages", token=eve).status_code == 403


@pytest.mark.parametrize("body", [
    {"name": "x" * 65}, {"name": ""}, {"name": "   "}, {"name": "a\nb"}, {},
    {"name": "ok", "members": "bob"}, {"name": "ok", "members": ["not a uid"]},
])
def test_a_malformed_group_is_400_and_makes_nothing(api: ApiClient, body: Any) -> None:
    ann = api.login("ann")
    api.login("bob")
    result = api.post("/v1/groups", body, token=ann)
    assert (result.status_code, result.json["code"]) == (400, "invalid_request")
    assert api.get("/v1/conversations", token=ann).json["conversations"] == []


def test_a_group_with_an_unknown_member_is_404_and_is_not_made(api: ApiClient) -> None:
    ann = api.login("ann")
    result = api.post("/v1/groups", {"name": "x", "members": ["ghost"]}, token=ann)
    assert (result.status_code, result.json["code"]) == (404, "unknown_user")
    assert api.get("/v1/conversations", token=ann).json["conversations"] == []


def test_a_group_beyond_the_member_cap_is_409_group_full(memory_stack: Stack) -> None:
    memory_stack.service.limits = attrs.evolve(memory_stack.service.limits,
                                               max_group_members=3)
    api = memory_stack.api
    ann, *_ = (api.login(u) for u in ("ann", "bob", "cid", "dan"))
    too_many = api.post("/v1/groups", {"name": "x", "members": ["bob", "cid", "dan"]},
                        token=ann)
    assert (too_many.status_code, too_many.json["code"]) == (409, "group_full")
    gid = make_group(api, ann, "bob", "cid")
    full = api.post(f"/v1/groups/{gid}/members", {"uids": ["dan"]}, token=ann)
    assert (full.status_code, full.json["code"]) == (409, "group_full")
    assert api.get(f"/v1/groups/{gid}", token=ann).json["members"] == 3


def test_a_removed_member_gets_no_later_message_nor_history(api: ApiClient) -> None:
    ann, bob = api.login("ann"), api.login("bob")
    gid = make_group(api, ann, "bob")
    first = say(api, ann, gid, "before")
    assert api.request("DELETE", f"/v1/groups/{gid}/members/bob", token=ann
                       ).status_code == 204
    say(api, ann, gid, "after")
    assert api.heartbeat(bob).json["messages"] == [first]
    assert api.get(f"/v1/groups/{gid}/messages", token=bob).json["code"] == "not_a_member"
    listed = api.get("/v1/conversations", token=bob).json["conversations"]
    assert [c["id"] for c in listed] == []


def test_roles_decide_who_changes_the_group(api: ApiClient) -> None:
    ann, bob, cid = (api.login(u) for u in ("ann", "bob", "cid"))
    api.login("dan")
    gid = make_group(api, ann, "bob", "cid")
    members = f"/v1/groups/{gid}/members"
    denied = api.post(members, {"uids": ["dan"]}, token=bob)
    assert (denied.status_code, denied.json["code"]) == (403, "not_allowed")
    assert api.request("PUT", f"{members}/bob/role", json={"role": "admin"},
                       token=cid).json["code"] == "not_allowed"
    assert api.request("PUT", f"{members}/bob/role", json={"role": "admin"},
                       token=ann).status_code == 204
    assert api.post(members, {"uids": ["dan"]}, token=bob).status_code == 204
    bad_role = api.request("PUT", f"{members}/bob/role", json={"role": "king"}, token=ann)
    assert bad_role.status_code == 400
    assert api.request("DELETE", f"{members}/ann", token=ann).json["code"] == "not_allowed"
    assert api.request("DELETE", f"{members}/cid", token=cid).status_code == 204  # leaves
    page = api.get(members, token=bob, params={"limit": 2})
    assert [(m["uid"], m["role"], m["online"]) for m in page.json["members"]] == [
        ("ann", "owner", True), ("bob", "admin", True)]
    rest = api.get(members, token=bob, params={"after": page.json["next_after"]})
    assert [m["uid"] for m in rest.json["members"]] == ["dan"]
    assert rest.json["next_after"] is None
    assert api.request("DELETE", f"/v1/groups/{gid}", token=bob).status_code == 403
    assert api.request("DELETE", f"/v1/groups/{gid}", token=ann).status_code == 204
    assert api.get(f"/v1/groups/{gid}", token=ann).json["code"] == "unknown_group"


def test_a_member_who_blocked_the_sender_does_not_get_its_group_message(
    api: ApiClient,
) -> None:
    ann, bob, cid = api.login("ann"), api.login("bob"), api.login("cid")
    gid = make_group(api, ann, "bob", "cid")
    api.request("PUT", "/v1/blocks/ann", token=bob)
    message = say(api, ann, gid, "hello all")
    assert api.heartbeat(bob).json["messages"] == []
    assert api.heartbeat(cid).json["messages"] == [message]


def test_a_group_retry_is_stored_once_and_a_reused_id_is_409(api: ApiClient) -> None:
    ann, bob = api.login("ann"), api.login("bob")
    gid = make_group(api, ann, "bob")
    first = say(api, ann, gid, "once", "c-1")
    again = api.post(f"/v1/groups/{gid}/messages", {"body": "once", "client_msg_id": "c-1"},
                     token=ann)
    assert (again.status_code, again.json) == (200, first)
    other = api.post(f"/v1/groups/{gid}/messages", {"body": "twice", "client_msg_id": "c-1"},
                     token=ann)
    assert (other.status_code, other.json["code"]) == (409, "client_msg_id_reused")
    private = api.send(ann, "bob", "once", "c-1")
    assert (private.status_code, private.json["code"]) == (409, "client_msg_id_reused")
    assert api.heartbeat(bob).json["messages"] == [first]


def test_group_sends_count_against_the_send_rate(memory_stack: Stack) -> None:
    memory_stack.service.limits = attrs.evolve(memory_stack.service.limits,
                                               sends=RateLimit(2, 60_000))
    api = memory_stack.api
    ann = api.login("ann")
    api.login("bob")
    gid = make_group(api, ann, "bob")
    say(api, ann, gid, "1")
    limited = api.post(f"/v1/groups/{gid}/messages", {"body": "2"}, token=ann)
    assert (limited.status_code, limited.json["code"]) == (429, "rate_limited")
    assert isinstance(memory_stack.service.limits, Limits)


def test_a_group_message_too_long_is_413_and_stored_nowhere(api: ApiClient) -> None:
    ann, bob = api.login("ann"), api.login("bob")
    gid = make_group(api, ann, "bob")
    result = api.post(f"/v1/groups/{gid}/messages", {"body": "x" * 4097}, token=ann)
    assert (result.status_code, result.json["code"]) == (413, "payload_too_large")
    assert api.heartbeat(bob).json["messages"] == []


def test_conversations_list_peers_and_groups_with_unread_counts(api: ApiClient) -> None:
    ann, bob, cid = api.login("ann"), api.login("bob"), api.login("cid")
    gid = make_group(api, bob, "ann", "cid", name="Guild")
    api.send(bob, "ann", "p1")
    api.send(bob, "ann", "p2")
    g1 = say(api, cid, gid, "g1")
    listed = api.get("/v1/conversations", token=ann).json
    assert listed["more"] is False
    assert [(c["id"], c["unread"], c["name"]) for c in listed["conversations"]] == [
        (f"group:{gid}", 1, "Guild"), ("peer:bob", 2, None)]
    assert listed["conversations"][0]["last_message"] == g1
    read = api.post(f"/v1/conversations/group:{gid}/read", {"msgid": g1["msgid"]}, token=ann)
    assert read.json == {"conversation": f"group:{gid}", "unread": 0}
    assert api.post("/v1/conversations/peer:bob/read", {"msgid": 2**62}, token=ann
                    ).json["unread"] == 0
    assert api.heartbeat(ann).json["messages"] != []  # reading is not acknowledging
    first = api.get("/v1/conversations", token=ann, params={"limit": 1}).json
    assert first["more"] is True and len(first["conversations"]) == 1


@pytest.mark.parametrize("conversation,body,status", [
    ("bob", {"msgid": 1}, 400), ("group:", {"msgid": 1}, 400), ("peer:bob", {}, 400),
    ("peer:bob", {"msgid": -1}, 400), ("peer:ghost", {"msgid": 1}, 404),
    ("group:missing", {"msgid": 1}, 404),
])
def test_a_bad_read_is_refused(api: ApiClient, conversation: str, body: Any,
                               status: int) -> None:
    ann = api.login("ann")
    api.login("bob")
    assert api.post(f"/v1/conversations/{conversation}/read", body, token=ann
                    ).status_code == status


def test_a_group_send_wakes_every_members_held_heartbeat(memory_stack: Stack) -> None:
    api = memory_stack.api
    ann = api.login("ann")
    tokens = [api.login(f"m{i}") for i in range(5)]
    gid = make_group(api, ann, *(f"m{i}" for i in range(5)))
    held = [in_background(lambda t=t: api.post("/v1/heartbeat", {"wait": 5}, token=t))
            for t in tokens]
    wait_until_held(memory_stack, 5)
    message = say(api, ann, gid, "go")
    for result in held:
        assert result().json["messages"] == [message]
