"""Abuse over HTTP: 429 with Retry-After, blocks, bounded and paged contacts, and
whose address a login is counted against."""

from __future__ import annotations

import pytest

from im_core import InMemoryRateLimiter, Limits, RateLimit
from tests.e2e.conftest import Stack


def test_a_thousand_sends_in_one_second_get_429_with_retry_after_beyond_the_burst(
    stack: Stack,
) -> None:
    api = stack.api
    alice, _ = api.login("alice"), api.login("bob")
    statuses = [api.send(alice, "bob", f"spam {n}").status_code for n in range(1000)]
    assert statuses.count(201) == 20
    refused = api.send(alice, "bob", "one more")
    assert refused.status_code == 429
    assert refused.json["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    stack.clock.advance(int(refused.headers["retry-after"]) * 1000)
    assert api.send(alice, "bob", "later").status_code == 201


def test_logins_beyond_the_limit_get_429(memory_stack: Stack) -> None:
    api = memory_stack.api
    for _ in range(10):
        api.login("alice")
    game_token = api.auth.grant("alice")
    result = api.post("/v1/login", {"uid": "alice", "game_token": game_token,
                                    "client_type": "pc"})
    assert result.status_code == 429
    assert result.headers["retry-after"] == "6"


def _login_from(stack: Stack, uid: str, remote: str, forwarded: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    result = stack.api.post("/v1/login", {"uid": uid, "game_token": stack.auth.grant(uid),
                                          "client_type": "pc"},
                            headers=headers, remote_addr=remote)
    return result.status_code


def test_logins_are_counted_per_client_address_behind_a_trusted_proxy(
    memory_stack: Stack,
) -> None:
    memory_stack.service.limits = Limits(logins_per_address=RateLimit(2, 60_000))
    # nginx on loopback (trusted by default) forwards two players' logins.
    assert _login_from(memory_stack, "a", "127.0.0.1", "198.51.100.7") == 200
    assert _login_from(memory_stack, "b", "127.0.0.1", "10.1.1.1, 198.51.100.7") == 200
    assert _login_from(memory_stack, "c", "127.0.0.1", "198.51.100.7") == 429
    assert _login_from(memory_stack, "c", "127.0.0.1", "198.51.100.8") == 200


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(memory_stack: Stack) -> None:
    memory_stack.service.limits = Limits(logins_per_address=RateLimit(2, 60_000))
    assert _login_from(memory_stack, "a", "203.0.113.5", "198.51.100.1") == 200
    assert _login_from(memory_stack, "b", "203.0.113.5", "198.51.100.2") == 200
    assert _login_from(memory_stack, "c", "203.0.113.5", "198.51.100.3") == 429


def test_ipv6_clients_are_counted_per_64(memory_stack: Stack) -> None:
    memory_stack.service.limits = Limits(logins_per_address=RateLimit(1, 60_000))
    assert _login_from(memory_stack, "a", "2001:db8:1:2::1") == 200
    assert _login_from(memory_stack, "b", "2001:db8:1:2::ffff") == 429
    assert _login_from(memory_stack, "c", "2001:db8:1:3::1") == 200


def test_a_limiter_outage_does_not_stop_the_chat(memory_stack: Stack) -> None:
    limiter = memory_stack.service.limiter
    assert isinstance(limiter, InMemoryRateLimiter)
    api = memory_stack.api
    alice, _ = api.login("alice"), api.login("bob")
    limiter.down = True
    assert all(api.send(alice, "bob", f"{n}").status_code == 201 for n in range(30))
    assert api.login("carol")
    # Asked once, then let through for a pause: a hung limiter costs its timeout once.
    assert memory_stack.service.limiter_failures == 1


def test_a_blocked_player_gets_403_and_the_message_is_never_stored(stack: Stack) -> None:
    api = stack.api
    me, pest = api.login("me"), api.login("pest")
    assert api.request("PUT", "/v1/blocks/pest", token=me).status_code == 204
    assert api.request("PUT", "/v1/blocks/pest", token=me).status_code == 204
    refused = api.send(pest, "me", "hi", "c-1")
    assert refused.status_code == 403
    assert refused.json["code"] == "blocked"
    assert api.heartbeat(me).json["messages"] == []
    listed = api.get("/v1/blocks", token=me)
    assert listed.json == {"blocks": [{"uid": "pest"}], "next_after": None}
    assert api.request("DELETE", "/v1/blocks/pest", token=me).status_code == 204
    assert api.send(pest, "me", "sorry", "c-1").status_code == 201
    assert api.get("/v1/blocks", token=me).json["blocks"] == []


def test_blocking_an_unknown_player_is_404(api: object) -> None:
    from tests.e2e.conftest import ApiClient

    assert isinstance(api, ApiClient)
    me = api.login("me")
    assert api.request("PUT", "/v1/blocks/ghost", token=me).json["code"] == "unknown_user"
    assert api.request("DELETE", "/v1/blocks/ghost", token=me).status_code == 404


def test_a_full_contact_list_answers_409_too_many_contacts(memory_stack: Stack) -> None:
    memory_stack.service.limits = Limits(max_contacts=2)
    api = memory_stack.api
    me = api.login("me")
    for uid in ("a", "b", "c"):
        api.login(uid)
    assert api.request("PUT", "/v1/contacts/a", token=me).status_code == 204
    assert api.request("PUT", "/v1/contacts/b", token=me).status_code == 204
    full = api.request("PUT", "/v1/contacts/c", token=me)
    assert full.status_code == 409
    assert full.json["code"] == "too_many_contacts"
    assert api.request("PUT", "/v1/contacts/a", token=me).status_code == 204


def test_the_default_contact_bound_is_a_thousand(memory_stack: Stack) -> None:
    assert memory_stack.service.limits.max_contacts == 1000


def test_contacts_come_in_pages(stack: Stack) -> None:
    api = stack.api
    me = api.login("me")
    for uid in ("e", "a", "d", "b", "c"):
        api.login(uid)
        api.request("PUT", f"/v1/contacts/{uid}", token=me)
    first = api.get("/v1/contacts", token=me, params={"limit": "2"}).json
    assert first == {"contacts": [{"uid": "a", "online": True}, {"uid": "b", "online": True}],
                     "next_after": "b"}
    rest = api.get("/v1/contacts", token=me, params={"after": "b", "limit": "5"}).json
    assert [c["uid"] for c in rest["contacts"]] == ["c", "d", "e"]
    assert rest["next_after"] is None
    assert len(api.get("/v1/contacts", token=me).json["contacts"]) == 5


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "501"}, {"limit": "x"},
                                    {"after": "not a uid"}])
def test_a_bad_page_is_400(memory_stack: Stack, params: dict[str, str]) -> None:
    me = memory_stack.api.login("me")
    for path in ("/v1/contacts", "/v1/blocks"):
        result = memory_stack.api.get(path, token=me, params=params)
        assert result.status_code == 400


def test_with_contacts_scope_presence_is_shown_only_to_listed_players(
    memory_stack: Stack,
) -> None:
    memory_stack.service.presence_scope = "contacts"
    api = memory_stack.api
    me, friend, _ = api.login("me"), api.login("friend"), api.login("lurker")
    api.request("PUT", "/v1/contacts/me", token=friend)
    seen = api.get("/v1/presence", token=me, params={"uid": ["friend", "lurker"]}).json
    assert seen["presence"]["friend"]["online"] is True
    assert seen["presence"]["lurker"] == {"online": False, "client_type": None,
                                          "last_seen": None}
