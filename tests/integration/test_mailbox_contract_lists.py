"""The ``MailboxRepository`` contract: contacts, blocks and health.

Run against every implementation (``mailbox_contract.py``).
"""

from __future__ import annotations

import pytest

from im_core.ports import (
    Blocked,
    MailboxRepository,
    TooManyBlocks,
    TooManyContacts,
    UnknownUser,
)
from tests.integration.mailbox_contract import send, users

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
