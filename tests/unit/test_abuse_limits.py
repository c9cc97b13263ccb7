"""The use cases against abuse: rate limits, blocks, bounded lists, presence privacy."""

from __future__ import annotations

import logging

import pytest

from im_core import (
    Blocked,
    ChatService,
    InMemoryGameAuth,
    InMemoryMailbox,
    InMemoryRateLimiter,
    InMemorySessionStore,
    InvalidCredentials,
    Limits,
    ManualClock,
    RateLimit,
    RateLimited,
    Session,
    TooManyBlocks,
    TooManyContacts,
    UnknownUser,
)
from im_core.limits import PresenceScope
from im_core.service import LIMITER_PAUSE_MS


def make_chat(limits: Limits | None = None, scope: PresenceScope = "all") -> ChatService:
    return ChatService(InMemorySessionStore(), InMemoryMailbox(), InMemoryGameAuth(),
                       ManualClock(), limits=limits or Limits(), presence_scope=scope)


def log_in(chat: ChatService, uid: str, address: str | None = None) -> Session:
    auth = chat.auth
    assert isinstance(auth, InMemoryGameAuth)
    return chat.login(uid, auth.grant(uid), "pc", address)


def test_a_thousand_sends_in_one_second_are_cut_at_the_burst() -> None:
    chat = make_chat()
    alice, _ = log_in(chat, "alice"), log_in(chat, "bob")
    stored, refused = 0, []
    for n in range(1000):
        try:
            chat.send(alice, "bob", f"spam {n}")
            stored += 1
        except RateLimited as error:
            refused.append(error.retry_after_s)
    assert stored == 20
    assert refused and all(wait == 1 for wait in refused)
    assert len(chat.mailbox.pull("bob", None, 500).messages) == 20


def test_sends_earn_back_one_every_half_second() -> None:
    chat = make_chat()
    alice, _ = log_in(chat, "alice"), log_in(chat, "bob")
    for n in range(20):
        chat.send(alice, "bob", f"{n}")
    with pytest.raises(RateLimited):
        chat.send(alice, "bob", "over")
    assert isinstance(chat.clock, ManualClock)
    chat.clock.advance(500)
    chat.send(alice, "bob", "one more")
    with pytest.raises(RateLimited):
        chat.send(alice, "bob", "over again")


def test_one_players_sends_do_not_use_up_anothers() -> None:
    chat = make_chat(Limits(sends=RateLimit(1, 60_000)))
    alice, bob = log_in(chat, "alice"), log_in(chat, "bob")
    chat.send(alice, "bob", "hi")
    with pytest.raises(RateLimited) as raised:
        chat.send(alice, "bob", "hi again")
    assert raised.value.retry_after_s == 60
    chat.send(bob, "alice", "hi")


def test_logins_of_one_uid_are_limited_whatever_the_credential() -> None:
    chat = make_chat(Limits(logins=RateLimit(3, 60_000)))
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            chat.login("alice", "guess", "pc")
    log_in(chat, "alice")
    with pytest.raises(RateLimited) as raised:
        log_in(chat, "alice")
    assert raised.value.retry_after_s == 20
    log_in(chat, "bob")


def test_logins_from_one_address_are_limited_over_all_uids() -> None:
    chat = make_chat(Limits(logins_per_address=RateLimit(3, 60_000)))
    for n in range(3):
        log_in(chat, f"u{n}", "203.0.113.9")
    with pytest.raises(RateLimited):
        log_in(chat, "u3", "203.0.113.9")
    log_in(chat, "u3", "198.51.100.1")
    log_in(chat, "u4")  # no address known: only the uid's limit


def test_a_limit_of_none_is_off() -> None:
    chat = make_chat(Limits(sends=None))
    alice, _ = log_in(chat, "alice"), log_in(chat, "bob")
    for n in range(100):
        chat.send(alice, "bob", f"{n}")


def test_a_limiter_that_is_down_lets_sends_through_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    chat = make_chat(Limits(sends=RateLimit(1, 60_000)))
    alice, _ = log_in(chat, "alice"), log_in(chat, "bob")
    assert isinstance(chat.limiter, InMemoryRateLimiter)
    chat.limiter.down = True
    with caplog.at_level(logging.WARNING, "im_core"):
        for n in range(3):
            assert chat.send(alice, "bob", f"{n}")[1]
        log_in(chat, "carol")
    # Asked once, then left alone for a pause, so a hung limiter costs its timeout once.
    assert chat.limiter_failures == 1
    assert "could not check the sends limit" in caplog.text
    clock = chat.clock
    assert isinstance(clock, ManualClock)
    clock.advance(LIMITER_PAUSE_MS)
    chat.limiter.down = False
    assert chat.send(alice, "bob", "counted again")[1]
    with pytest.raises(RateLimited):
        chat.send(alice, "bob", "over the limit once more")


def test_a_blocked_player_cannot_send_to_the_blocker_until_unblocked() -> None:
    chat = make_chat()
    me, pest = log_in(chat, "me"), log_in(chat, "pest")
    chat.block(me, "pest")
    with pytest.raises(Blocked):
        chat.send(pest, "me", "hi")
    assert chat.blocks(me).uids == ("pest",)
    chat.send(me, "pest", "still allowed the other way")
    chat.unblock(me, "pest")
    chat.send(pest, "me", "sorry")
    assert [m.body for m in chat.heartbeat(me).messages] == ["sorry"]


def test_blocking_or_unblocking_an_unknown_user_is_refused() -> None:
    chat = make_chat()
    me = log_in(chat, "me")
    with pytest.raises(UnknownUser):
        chat.block(me, "ghost")
    with pytest.raises(UnknownUser):
        chat.unblock(me, "ghost")


def test_the_contact_list_is_bounded() -> None:
    chat = make_chat(Limits(max_contacts=2))
    me = log_in(chat, "me")
    for uid in ("a", "b", "c"):
        log_in(chat, uid)
    chat.add_contact(me, "a")
    chat.add_contact(me, "b")
    with pytest.raises(TooManyContacts):
        chat.add_contact(me, "c")
    chat.add_contact(me, "a")


def test_the_block_list_is_bounded() -> None:
    chat = make_chat(Limits(max_blocks=1))
    me, _, _ = log_in(chat, "me"), log_in(chat, "a"), log_in(chat, "b")
    chat.block(me, "a")
    with pytest.raises(TooManyBlocks):
        chat.block(me, "b")


def test_contacts_come_in_pages_with_the_next_after() -> None:
    chat = make_chat()
    me = log_in(chat, "me")
    for uid in ("d", "a", "c", "b", "e"):
        log_in(chat, uid)
        chat.add_contact(me, uid)
    first = chat.contacts_page(me, limit=2)
    assert first.contacts == (("a", True), ("b", True))
    assert first.next_after == "b"
    second = chat.contacts_page(me, after="b", limit=2)
    assert [uid for uid, _ in second.contacts] == ["c", "d"]
    last = chat.contacts_page(me, after=second.next_after, limit=2)
    assert [uid for uid, _ in last.contacts] == ["e"]
    assert last.next_after is None
    assert chat.contacts_page(me, after="e").contacts == ()
    assert chat.contacts_page(me, limit=5).next_after is None


def test_with_contacts_scope_a_player_is_seen_only_by_those_it_lists() -> None:
    chat = make_chat(scope="contacts")
    me, friend, stranger = log_in(chat, "me"), log_in(chat, "friend"), log_in(chat, "stranger")
    chat.add_contact(friend, "me")
    chat.add_contact(me, "friend")
    chat.add_contact(me, "stranger")
    seen = chat.presence(me, ["friend", "stranger", "me"])
    assert seen["friend"].online
    assert not seen["stranger"].online and seen["stranger"].client_type is None
    assert seen["me"].online
    assert chat.contacts(me) == [("friend", True), ("stranger", False)]
    assert chat.presence(friend, ["me"])["me"].online  # me lists friend
    assert chat.presence(stranger, ["me"])["me"].online  # me lists stranger
    lurker = log_in(chat, "lurker")
    assert not chat.presence(lurker, ["me", "friend"])["me"].online


def test_with_the_default_scope_everyone_sees_everyone() -> None:
    chat = make_chat()
    me, _ = log_in(chat, "me"), log_in(chat, "stranger")
    assert chat.presence(me, ["stranger"])["stranger"].online
