"""The ``MailboxRepository`` contract: idempotent sends, bodies and history.

Run against every implementation (``mailbox_contract.py``).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from im_core.models import BODY_MAX_CHARS
from im_core.ports import MailboxRepository
from tests.integration.mailbox_contract import EXAMPLES, bodies, client_msg_ids, send, users

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
