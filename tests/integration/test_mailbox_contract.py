"""The ``MailboxRepository`` contract (users, pulls, acks), run against every implementation.

The implementations and helpers are in ``mailbox_contract.py``; the rest of the
contract is in ``test_mailbox_contract_sends.py`` and ``test_mailbox_contract_lists.py``.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from im_core.models import Message
from im_core.ports import (
    MailboxRepository,
    UnknownUser,
)
from tests.integration.mailbox_contract import EXAMPLES, send, users

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
