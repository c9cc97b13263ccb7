"""The ``MailboxRepository`` contract, run against every implementation.

The in-memory mailbox is the reference; the SQL mailbox runs on SQLite, PostgreSQL
and MariaDB/MySQL, each on a freshly migrated scratch database; on PostgreSQL over
both executors (direct to psycopg, and through SQLAlchemy). A test that passes
on one and fails on another has found a difference the port does not allow.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from im_adapters.sql import SqlMailbox
from im_core.memory import InMemoryMailbox
from im_core.models import BODY_MAX_CHARS, Message
from im_core.ports import (
    Blocked,
    MailboxRepository,
    TooManyBlocks,
    TooManyContacts,
    UnknownUser,
)

IMPLEMENTATIONS = [
    pytest.param("memory"),
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("postgres-sqlalchemy", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]

# Hypothesis runs many examples on one (function-scoped) database: every example
# uses users of its own, so examples never see each other's messages.
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_fresh = itertools.count()

# What a body may be on every backend: any Unicode scalar value but NUL, which a
# PostgreSQL text cannot hold (see the report on ``check_body``).
bodies = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=300)
client_msg_ids = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=64
)


@pytest.fixture(params=IMPLEMENTATIONS)
def mailbox(
    request: pytest.FixtureRequest, sql_mailbox: Callable[[str], SqlMailbox]
) -> MailboxRepository:
    if request.param == "memory":
        return InMemoryMailbox()
    box = sql_mailbox(request.param)
    assert box.executor == ("sqlalchemy" if request.param != "postgres" else "direct")
    return box


def users(mailbox: MailboxRepository, *names: str) -> list[str]:
    """Log in users that no other example uses; return their uids."""
    run = next(_fresh)
    uids = [f"{name}.{run}" for name in names]
    for uid in uids:
        mailbox.record_login(uid, "ios", 1_700_000_000_000)
    return uids


def send(
    mailbox: MailboxRepository,
    sender: str,
    recipient: str,
    body: str = "hi",
    client_msg_id: str | None = None,
) -> Message:
    message, created = mailbox.send(sender, recipient, body, client_msg_id, 1_700_000_000_001)
    assert created
    return message


# --- users -------------------------------------------------------------------------


def test_a_user_is_known_once_logged_in_and_not_before(mailbox: MailboxRepository) -> None:
    assert mailbox.known_users(["alice", "bob"]) == set()
    mailbox.record_login("alice", "ios", 1)
    assert mailbox.known_users(["alice", "bob", "alice"]) == {"alice"}
    assert mailbox.known_users([]) == set()


def test_logging_in_again_keeps_one_known_user(mailbox: MailboxRepository) -> None:
    mailbox.record_login("alice", "ios", 1)
    mailbox.record_login("alice", "pc", 2)
    assert mailbox.known_users(["alice"]) == {"alice"}


def test_known_users_answers_for_many_uids_at_once(mailbox: MailboxRepository) -> None:
    for i in range(0, 1200, 3):
        mailbox.record_login(f"u{i}", "pc", 1)
    assert mailbox.known_users(f"u{i}" for i in range(1200)) == {f"u{i}" for i in range(0, 1200, 3)}


def test_uids_differing_only_in_case_are_different_users(mailbox: MailboxRepository) -> None:
    mailbox.record_login("Bob", "ios", 1)
    assert mailbox.known_users(["bob", "BOB", "Bob"]) == {"Bob"}
    mailbox.record_login("bob", "ios", 1)
    mailbox.record_login("alice", "ios", 1)
    send(mailbox, "alice", "Bob", "to Bob")
    send(mailbox, "alice", "bob", "to bob")
    assert [m.body for m in mailbox.pull("Bob", None, 10).messages] == ["to Bob"]
    assert [m.body for m in mailbox.pull("bob", None, 10).messages] == ["to bob"]
    assert [m.body for m in mailbox.history("alice", "Bob", None, None, 10)] == ["to Bob"]


# --- send and pull -------------------------------------------------------------------


def test_a_message_to_an_unknown_user_is_refused_and_not_stored(
    mailbox: MailboxRepository,
) -> None:
    mailbox.record_login("alice", "ios", 1)
    with pytest.raises(UnknownUser) as raised:
        mailbox.send("alice", "nobody", "hello?", "c1", 2)
    assert raised.value.uid == "nobody"
    assert mailbox.history("alice", "nobody", None, None, 10) == []
    mailbox.record_login("nobody", "ios", 3)
    assert mailbox.pull("nobody", None, 10).messages == ()


def test_a_sent_message_is_returned_whole(mailbox: MailboxRepository) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    message, created = mailbox.send(alice, bob, "hello", "c-1", 1_700_000_000_123)
    assert created
    assert message == Message(message.msgid, alice, bob, "hello", 1_700_000_000_123, "c-1")
    assert mailbox.pull(bob, None, 10).messages == (message,)


def test_messages_arrive_in_the_order_they_were_sent(mailbox: MailboxRepository) -> None:
    alice, carol, bob = users(mailbox, "alice", "carol", "bob")
    sent = [send(mailbox, alice if i % 2 else carol, bob, f"m{i}") for i in range(10)]
    assert [m.msgid for m in sent] == sorted({m.msgid for m in sent})
    inbox = mailbox.pull(bob, None, 100)
    assert inbox.messages == tuple(sent)
    assert not inbox.more


def test_pulling_never_deletes(mailbox: MailboxRepository) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    sent = [send(mailbox, alice, bob, f"m{i}") for i in range(3)]
    for _ in range(3):
        assert mailbox.pull(bob, None, 10).messages == tuple(sent)


def test_an_inbox_holds_only_its_owners_messages(mailbox: MailboxRepository) -> None:
    alice, bob, carol = users(mailbox, "alice", "bob", "carol")
    to_bob = send(mailbox, alice, bob)
    to_carol = send(mailbox, alice, carol)
    assert mailbox.pull(bob, None, 10).messages == (to_bob,)
    assert mailbox.pull(carol, None, 10).messages == (to_carol,)
    assert mailbox.pull(alice, None, 10).messages == ()


@EXAMPLES
@given(count=st.integers(0, 12), position=st.integers(0, 12), past=st.integers(0, 2))
def test_an_ack_deletes_exactly_the_messages_up_to_it(
    mailbox: MailboxRepository, count: int, position: int, past: int
) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    sent = [send(mailbox, alice, bob, f"m{i}") for i in range(count)]
    ids = [0] + [m.msgid for m in sent]
    ack = ids[min(position, count)] + past
    assert mailbox.pull(bob, None, 100).messages == tuple(sent)  # an ack needs a pull first
    inbox = mailbox.pull(bob, ack, 100)
    assert inbox.messages == tuple(m for m in sent if m.msgid > ack)
    assert mailbox.pull(bob, None, 100) == inbox


def test_an_ack_of_zero_deletes_nothing(mailbox: MailboxRepository) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    sent = send(mailbox, alice, bob)
    assert mailbox.pull(bob, 0, 10).messages == (sent,)


# --- an ack deletes only what a pull returned ---------------------------------------

TOP = 2**63 - 1


def test_an_ack_before_any_pull_deletes_nothing(mailbox: MailboxRepository) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    sent = [send(mailbox, alice, bob, f"m{i}") for i in range(3)]
    assert mailbox.pull(bob, TOP, 10).messages == tuple(sent)
    assert mailbox.pull(bob, None, 10).messages == tuple(sent)


def test_an_ack_after_a_partial_pull_deletes_only_what_that_pull_returned(
    mailbox: MailboxRepository,
) -> None:
    # Five messages; a pull of one returns the first; an ack of the fourth then deletes
    # only the first: the second to fourth were never returned.
    alice, erin = users(mailbox, "alice", "erin")
    sent = [send(mailbox, alice, erin, f"m{i}") for i in range(5)]
    first = mailbox.pull(erin, None, 1)
    assert first.messages == (sent[0],) and first.more
    assert mailbox.pull(erin, sent[3].msgid, 10).messages == tuple(sent[1:])


def test_an_ack_beyond_what_was_pulled_deletes_only_what_was_pulled(
    mailbox: MailboxRepository,
) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    pulled = [send(mailbox, alice, bob, f"m{i}") for i in range(2)]
    assert mailbox.pull(bob, None, 10).messages == tuple(pulled)
    unseen = [send(mailbox, alice, bob, f"n{i}") for i in range(2)]
    assert mailbox.pull(bob, TOP, 10).messages == tuple(unseen)
    assert mailbox.pull(bob, None, 10).messages == tuple(unseen)


def test_an_ack_of_a_msgid_the_user_sent_deletes_only_what_was_pulled(
    mailbox: MailboxRepository,
) -> None:
    # msgids are global: bob's own message has a higher id than those waiting for him.
    alice, bob, carol = users(mailbox, "alice", "bob", "carol")
    seen = send(mailbox, alice, bob, "seen")
    assert mailbox.pull(bob, None, 10).messages == (seen,)
    unseen = [send(mailbox, alice, bob, "unseen"), send(mailbox, carol, bob, "unseen too")]
    own = send(mailbox, bob, alice, "bob's own")
    assert own.msgid > unseen[-1].msgid
    assert mailbox.pull(bob, own.msgid, 10).messages == tuple(unseen)


def test_an_ack_below_what_was_pulled_deletes_exactly_up_to_it(
    mailbox: MailboxRepository,
) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    sent = [send(mailbox, alice, bob, f"m{i}") for i in range(4)]
    assert mailbox.pull(bob, None, 3).messages == tuple(sent[:3])
    # The ack of the first returns one page from the second: the mark stays at the third.
    assert mailbox.pull(bob, sent[0].msgid, 1).messages == (sent[1],)
    assert mailbox.pull(bob, TOP, 10).messages == (sent[3],)
    assert mailbox.pull(bob, None, 10).messages == (sent[3],)


def test_an_ack_of_zero_deletes_nothing_and_leaves_the_mark(mailbox: MailboxRepository) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    sent = [send(mailbox, alice, bob, f"m{i}") for i in range(3)]
    assert mailbox.pull(bob, None, 2).messages == tuple(sent[:2])
    assert mailbox.pull(bob, 0, 2).messages == tuple(sent[:2])
    assert mailbox.pull(bob, TOP, 2).messages == (sent[2],)


@EXAMPLES
@given(count=st.integers(0, 9), limit=st.integers(1, 10))
def test_a_pull_returns_at_most_limit_and_says_whether_more_wait(
    mailbox: MailboxRepository, count: int, limit: int
) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    sent = [send(mailbox, alice, bob, f"m{i}") for i in range(count)]
    inbox = mailbox.pull(bob, None, limit)
    assert inbox.messages == tuple(sent[:limit])
    assert inbox.more == (count > limit)


def test_paging_through_an_inbox_with_acks_reads_every_message_once(
    mailbox: MailboxRepository,
) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    sent = [send(mailbox, alice, bob, f"m{i}") for i in range(7)]
    received: list[Message] = []
    ack = None
    while True:
        inbox = mailbox.pull(bob, ack, 3)
        received.extend(inbox.messages)
        if inbox.messages:
            ack = inbox.messages[-1].msgid
        if not inbox.more:
            break
    assert received == sent
    assert mailbox.pull(bob, ack, 3).messages == ()


# --- idempotent send -------------------------------------------------------------------


def test_resending_a_client_msg_id_returns_the_first_message(mailbox: MailboxRepository) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    first, created = mailbox.send(alice, bob, "hello", "retry-1", 10)
    again, created_again = mailbox.send(alice, bob, "hello (retried)", "retry-1", 20)
    assert created and not created_again
    assert again == first
    assert mailbox.pull(bob, None, 10).messages == (first,)
    assert mailbox.history(alice, bob, None, None, 10) == [first]


def test_a_retry_is_recognised_even_after_the_ack(mailbox: MailboxRepository) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    first = send(mailbox, alice, bob, "hello", "retry-1")
    mailbox.pull(bob, None, 10)
    mailbox.pull(bob, first.msgid, 10)
    assert mailbox.send(alice, bob, "hello", "retry-1", 20) == (first, False)
    assert mailbox.pull(bob, None, 10).messages == ()


def test_another_sender_may_reuse_a_client_msg_id(mailbox: MailboxRepository) -> None:
    alice, carol, bob = users(mailbox, "alice", "carol", "bob")
    from_alice = send(mailbox, alice, bob, "from alice", "same-id")
    from_carol = send(mailbox, carol, bob, "from carol", "same-id")
    assert from_alice.msgid != from_carol.msgid
    assert mailbox.pull(bob, None, 10).messages == (from_alice, from_carol)


def test_messages_without_client_msg_id_are_never_merged(mailbox: MailboxRepository) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    one = send(mailbox, alice, bob, "same")
    two = send(mailbox, alice, bob, "same")
    assert one.msgid != two.msgid
    assert len(mailbox.pull(bob, None, 10).messages) == 2


def test_client_msg_ids_differing_in_case_or_trailing_space_are_different(
    mailbox: MailboxRepository,
) -> None:
    # MySQL's utf8mb4_bin ignores trailing spaces: "c1" and "c1 " must not be one key.
    alice, bob = users(mailbox, "alice", "bob")
    ids = ["c1", "c1 ", "C1", " c1"]
    sent = [send(mailbox, alice, bob, f"body {i}", i) for i in ids]
    assert len({m.msgid for m in sent}) == len(ids)
    assert [m.client_msg_id for m in mailbox.pull(bob, None, 10).messages] == ids


@EXAMPLES
@given(first=client_msg_ids, second=client_msg_ids)
def test_client_msg_ids_match_only_when_equal(
    mailbox: MailboxRepository, first: str, second: str
) -> None:
    # Includes ids that differ in case or by trailing spaces, which some collations merge.
    alice, bob = users(mailbox, "alice", "bob")
    one = send(mailbox, alice, bob, "one", first)
    two, created = mailbox.send(alice, bob, "two", second, 2)
    assert created == (first != second)
    assert (two == one) == (first == second)
    assert two.client_msg_id == second if created else first


# --- bodies ------------------------------------------------------------------------


@EXAMPLES
@given(body=bodies)
def test_any_unicode_body_round_trips_exactly(mailbox: MailboxRepository, body: str) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    sent = send(mailbox, alice, bob, body)
    assert mailbox.pull(bob, None, 1).messages[0].body == body
    assert mailbox.history(alice, bob, None, None, 1) == [sent]


def test_four_byte_characters_round_trip(mailbox: MailboxRepository) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    body = "gg 😀🎮👍🏽 𝄞 家族 👨‍👩‍👧"
    send(mailbox, alice, bob, body)
    assert mailbox.pull(bob, None, 1).messages[0].body == body


def test_a_body_of_the_maximum_length_round_trips(mailbox: MailboxRepository) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    body = ("😀" + "x" * 9) * (BODY_MAX_CHARS // 10) + "😀" * (BODY_MAX_CHARS % 10)
    assert len(body) == BODY_MAX_CHARS
    send(mailbox, alice, bob, body)
    assert mailbox.pull(bob, None, 1).messages[0].body == body


# --- history ------------------------------------------------------------------------


def test_history_holds_both_directions_newest_first(mailbox: MailboxRepository) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    sent = [send(mailbox, *((alice, bob) if i % 3 else (bob, alice)), f"m{i}") for i in range(6)]
    expected = list(reversed(sent))
    assert mailbox.history(alice, bob, None, None, 10) == expected
    assert mailbox.history(bob, alice, None, None, 10) == expected


def test_history_outlives_the_ack(mailbox: MailboxRepository) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    sent = send(mailbox, alice, bob)
    mailbox.pull(bob, None, 10)
    assert mailbox.pull(bob, sent.msgid, 10).messages == ()
    assert mailbox.history(bob, alice, None, None, 10) == [sent]


def test_history_does_not_mix_conversations(mailbox: MailboxRepository) -> None:
    alice, bob, carol = users(mailbox, "alice", "bob", "carol")
    ab = send(mailbox, alice, bob)
    send(mailbox, alice, carol)
    send(mailbox, carol, bob)
    ba = send(mailbox, bob, alice)
    assert mailbox.history(alice, bob, None, None, 10) == [ba, ab]
    assert mailbox.history(alice, alice, None, None, 10) == []


# A bound is a position among the sent ids, nudged by -1, 0 or +1; or open (None).
bounds = st.none() | st.tuples(st.integers(0, 8), st.integers(-1, 1))


@EXAMPLES
@given(count=st.integers(0, 8), before=bounds, after=bounds, limit=st.integers(1, 10))
def test_history_returns_the_newest_messages_strictly_between_the_bounds(
    mailbox: MailboxRepository,
    count: int,
    before: tuple[int, int] | None,
    after: tuple[int, int] | None,
    limit: int,
) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    sent = [
        send(mailbox, *((alice, bob) if i % 2 else (bob, alice)), f"m{i}") for i in range(count)
    ]
    ids = [1] + [m.msgid for m in sent]

    def bound(choice: tuple[int, int] | None) -> int | None:
        return None if choice is None else ids[min(choice[0], count)] + choice[1]

    high, low = bound(before), bound(after)
    expected = [
        m
        for m in reversed(sent)
        if (high is None or m.msgid < high) and (low is None or m.msgid > low)
    ][:limit]
    assert mailbox.history(alice, bob, high, low, limit) == expected


# --- contacts -----------------------------------------------------------------------


def test_contacts_are_listed_sorted_by_uid(mailbox: MailboxRepository) -> None:
    for uid in ("me", "zed", "Bob", "alice", "_x"):
        mailbox.record_login(uid, "pc", 1)
    for contact in ("zed", "alice", "Bob", "_x"):
        mailbox.add_contact("me", contact)
    assert mailbox.contacts("me") == sorted(["zed", "alice", "Bob", "_x"])
    assert mailbox.contacts("alice") == []


def test_adding_a_contact_twice_keeps_one(mailbox: MailboxRepository) -> None:
    me, friend = users(mailbox, "me", "friend")
    mailbox.add_contact(me, friend)
    mailbox.add_contact(me, friend)
    assert mailbox.contacts(me) == [friend]


def test_an_unknown_user_cannot_be_added_as_a_contact(mailbox: MailboxRepository) -> None:
    (me,) = users(mailbox, "me")
    with pytest.raises(UnknownUser) as raised:
        mailbox.add_contact(me, "ghost")
    assert raised.value.uid == "ghost"
    assert mailbox.contacts(me) == []


def test_removing_a_contact_is_idempotent(mailbox: MailboxRepository) -> None:
    me, friend, other = users(mailbox, "me", "friend", "other")
    mailbox.add_contact(me, friend)
    mailbox.add_contact(me, other)
    mailbox.remove_contact(me, friend)
    mailbox.remove_contact(me, friend)
    mailbox.remove_contact(me, "never-added")
    assert mailbox.contacts(me) == [other]


def test_contacts_are_one_way(mailbox: MailboxRepository) -> None:
    me, friend = users(mailbox, "me", "friend")
    mailbox.add_contact(me, friend)
    assert mailbox.contacts(friend) == []


def test_a_full_contact_list_refuses_a_new_contact_and_keeps_the_old(
    mailbox: MailboxRepository,
) -> None:
    me, a, b, c = users(mailbox, "me", "a", "b", "c")
    mailbox.add_contact(me, a, 2)
    mailbox.add_contact(me, b, 2)
    with pytest.raises(TooManyContacts) as raised:
        mailbox.add_contact(me, c, 2)
    assert raised.value.limit == 2
    mailbox.add_contact(me, a, 2)  # already there: still idempotent
    assert mailbox.contacts(me) == sorted([a, b])
    mailbox.remove_contact(me, a)
    mailbox.add_contact(me, c, 2)
    assert mailbox.contacts(me) == sorted([b, c])


def test_listed_by_names_the_owners_that_have_the_user_as_a_contact(
    mailbox: MailboxRepository,
) -> None:
    me, fan, stranger, other = users(mailbox, "me", "fan", "stranger", "other")
    mailbox.add_contact(fan, me)
    mailbox.add_contact(stranger, other)
    mailbox.add_contact(me, stranger)  # one way: stranger does not list me
    assert mailbox.listed_by(me, [fan, stranger, other, "ghost", fan]) == {fan}
    assert mailbox.listed_by(me, []) == set()


# --- blocks -------------------------------------------------------------------------


def test_a_blocked_sender_is_refused_and_nothing_is_stored(mailbox: MailboxRepository) -> None:
    me, pest, friend = users(mailbox, "me", "pest", "friend")
    mailbox.block(me, pest)
    with pytest.raises(Blocked) as raised:
        mailbox.send(pest, me, "hi", "c1", 1)
    assert raised.value.recipient == me
    send(mailbox, friend, me, "hello")
    assert [m.sender for m in mailbox.pull(me, None, 10).messages] == [friend]
    assert mailbox.history(me, pest, None, None, 10) == []
    # Nothing stored, not even the client_msg_id: after an unblock it sends anew.
    mailbox.unblock(me, pest)
    assert mailbox.send(pest, me, "hi", "c1", 2)[1] is True


def test_a_block_is_one_way(mailbox: MailboxRepository) -> None:
    me, pest = users(mailbox, "me", "pest")
    mailbox.block(me, pest)
    send(mailbox, me, pest, "stop it")
    assert [m.body for m in mailbox.pull(pest, None, 10).messages] == ["stop it"]


def test_a_retry_of_a_message_stored_before_the_block_returns_it(
    mailbox: MailboxRepository,
) -> None:
    me, pest = users(mailbox, "me", "pest")
    first = send(mailbox, pest, me, "hi", "c1")
    mailbox.block(me, pest)
    assert mailbox.send(pest, me, "hi", "c1", 5) == (first, False)
    with pytest.raises(Blocked):
        mailbox.send(pest, me, "again", "c2", 6)


def test_blocks_are_listed_sorted_and_changed_idempotently(mailbox: MailboxRepository) -> None:
    me, b, a = users(mailbox, "me", "b", "a")
    mailbox.block(me, b)
    mailbox.block(me, a)
    mailbox.block(me, b)
    assert mailbox.blocks(me) == sorted([a, b])
    mailbox.unblock(me, b)
    mailbox.unblock(me, b)
    mailbox.unblock(me, "never-blocked")
    assert mailbox.blocks(me) == [a]
    assert mailbox.blocks(a) == []


def test_an_unknown_user_cannot_be_blocked(mailbox: MailboxRepository) -> None:
    (me,) = users(mailbox, "me")
    with pytest.raises(UnknownUser) as raised:
        mailbox.block(me, "ghost")
    assert raised.value.uid == "ghost"
    assert mailbox.blocks(me) == []


def test_a_full_block_list_refuses_a_new_block(mailbox: MailboxRepository) -> None:
    me, a, b = users(mailbox, "me", "a", "b")
    mailbox.block(me, a, 1)
    mailbox.block(me, a, 1)
    with pytest.raises(TooManyBlocks):
        mailbox.block(me, b, 1)
    assert mailbox.blocks(me) == [a]
    send(mailbox, b, me)  # not blocked


# --- health -------------------------------------------------------------------------


def test_ping_answers_when_the_database_does_and_changes_nothing(
    mailbox: MailboxRepository,
) -> None:
    alice, bob = users(mailbox, "alice", "bob")
    sent = send(mailbox, alice, bob)
    assert mailbox.ping() is None
    assert mailbox.pull(bob, None, 10).messages == (sent,)
    assert mailbox.known_users([alice, bob]) == {alice, bob}
