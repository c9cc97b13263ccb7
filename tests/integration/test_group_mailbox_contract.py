"""The ``GroupMailbox`` half of the mailbox contract, run against every implementation.

As ``test_mailbox_contract.py``: the in-memory mailbox is the reference, the SQL
mailbox runs on SQLite, PostgreSQL (both executors) and MariaDB, each freshly migrated.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from im_adapters.sql import SqlMailbox
from im_core.memory import InMemoryMailbox
from im_core.models import Message
from im_core.ports import (
    GroupFull,
    MailboxRepository,
    NotAllowed,
    NotAMember,
    UnknownGroup,
    UnknownUser,
)

IMPLEMENTATIONS = [
    pytest.param("memory"),
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("postgres-sqlalchemy", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]
AT = 1_700_000_000_000
_gids = itertools.count(1)


@pytest.fixture(params=IMPLEMENTATIONS)
def mailbox(
    request: pytest.FixtureRequest, sql_mailbox: Callable[[str], SqlMailbox]
) -> MailboxRepository:
    if request.param == "memory":
        return InMemoryMailbox()
    return sql_mailbox(request.param)


def users(mailbox: MailboxRepository, *names: str) -> list[str]:
    for name in names:
        mailbox.record_login(name, "ios", AT)
    return list(names)


def group(mailbox: MailboxRepository, owner: str, *members: str, cap: int = 500) -> str:
    gid = f"g{next(_gids)}"
    mailbox.create_group(gid, "Knights", owner, list(members), cap, AT)
    return gid


def say(mailbox: MailboxRepository, sender: str, gid: str, body: str = "hi",
        client_msg_id: str | None = None) -> Message:
    message, created, _ = mailbox.send_to_group(sender, gid, body, client_msg_id, AT + 1)
    assert created
    return message


def inbox(mailbox: MailboxRepository, uid: str) -> list[int]:
    return [m.msgid for m in mailbox.pull(uid, None, 500).messages]


# --- making groups and reading them -------------------------------------------------


def test_a_group_is_made_with_its_owner_and_members(mailbox: MailboxRepository) -> None:
    users(mailbox, "ann", "bob", "cid")
    made = mailbox.create_group("g-1", "Knights ⚔", "ann", ["bob", "cid", "bob"], 500, AT)
    assert (made.gid, made.name, made.owner, made.created_at, made.members) == (
        "g-1", "Knights ⚔", "ann", AT, 3)
    assert mailbox.group("g-1") == made
    assert [(m.uid, m.role) for m in mailbox.members("g-1")] == [
        ("ann", "owner"), ("bob", "member"), ("cid", "member")]
    assert mailbox.role("g-1", "ann") == "owner"
    assert mailbox.role("g-1", "dan") is None
    assert mailbox.group("nope") is None


def test_a_group_with_an_unknown_member_is_not_made(mailbox: MailboxRepository) -> None:
    users(mailbox, "ann")
    with pytest.raises(UnknownUser):
        mailbox.create_group("g-2", "x", "ann", ["ghost"], 500, AT)
    assert mailbox.group("g-2") is None


def test_a_group_over_the_cap_is_not_made(mailbox: MailboxRepository) -> None:
    users(mailbox, "ann", "bob", "cid")
    with pytest.raises(GroupFull) as raised:
        mailbox.create_group("g-3", "x", "ann", ["bob", "cid"], 2, AT)
    assert raised.value.limit == 2
    assert mailbox.group("g-3") is None


# --- sending --------------------------------------------------------------------------


def test_a_group_message_reaches_every_member_but_the_sender(
    mailbox: MailboxRepository,
) -> None:
    users(mailbox, "ann", "bob", "cid", "dan")
    gid = group(mailbox, "ann", "bob", "cid")
    message, created, ring = mailbox.send_to_group("ann", gid, "gg", "c-1", AT + 5)
    assert created
    assert message == Message(message.msgid, "ann", None, "gg", AT + 5, "c-1", gid)
    assert sorted(ring) == ["bob", "cid"]
    assert mailbox.pull("bob", None, 10).messages == (message,)
    assert mailbox.pull("cid", None, 10).messages == (message,)
    assert inbox(mailbox, "ann") == [] and inbox(mailbox, "dan") == []


def test_a_retried_group_send_is_stored_once(mailbox: MailboxRepository) -> None:
    users(mailbox, "ann", "bob")
    gid = group(mailbox, "ann", "bob")
    first = say(mailbox, "ann", gid, "once", "c-9")
    again, created, _ = mailbox.send_to_group("ann", gid, "once", "c-9", AT + 9)
    assert (again, created) == (first, False)
    assert inbox(mailbox, "bob") == [first.msgid]
    assert mailbox.group_history(gid, "bob", None, None, 10) == [first]


def test_only_members_send_to_a_group_that_exists(mailbox: MailboxRepository) -> None:
    users(mailbox, "ann", "bob", "eve")
    gid = group(mailbox, "ann", "bob")
    with pytest.raises(NotAMember):
        mailbox.send_to_group("eve", gid, "let me in", None, AT)
    with pytest.raises(UnknownGroup):
        mailbox.send_to_group("ann", "missing", "hello?", None, AT)
    assert inbox(mailbox, "bob") == []


def test_a_member_who_blocked_the_sender_does_not_get_its_group_messages(
    mailbox: MailboxRepository,
) -> None:
    users(mailbox, "ann", "bob", "cid")
    gid = group(mailbox, "ann", "bob", "cid")
    mailbox.block("bob", "ann")
    message = say(mailbox, "ann", gid)
    assert inbox(mailbox, "bob") == []
    assert inbox(mailbox, "cid") == [message.msgid]
    assert mailbox.group_history(gid, "bob", None, None, 10) == [message]


def test_group_and_private_messages_share_one_ordered_inbox(
    mailbox: MailboxRepository,
) -> None:
    users(mailbox, "ann", "bob", "cid")
    gid = group(mailbox, "ann", "bob", "cid")
    sent = []
    for i in range(6):
        if i % 2:
            sent.append(say(mailbox, "ann", gid, f"g{i}"))
        else:
            sent.append(mailbox.send("cid", "bob", f"p{i}", None, AT)[0])
    assert inbox(mailbox, "bob") == [m.msgid for m in sent] == sorted(m.msgid for m in sent)
    assert mailbox.pull("bob", sent[2].msgid, 10).messages == tuple(sent[3:])


def test_group_history_pages_newest_first(mailbox: MailboxRepository) -> None:
    users(mailbox, "ann", "bob")
    gid = group(mailbox, "ann", "bob")
    sent = [say(mailbox, "ann" if i % 2 else "bob", gid, f"m{i}") for i in range(7)]
    mailbox.send("ann", "bob", "private", None, AT)
    assert mailbox.group_history(gid, "ann", None, None, 3) == sent[:-4:-1]
    assert mailbox.group_history(gid, "ann", sent[4].msgid, None, 3) == sent[3::-1][:3]
    assert mailbox.group_history(gid, "bob", None, sent[4].msgid, 10) == sent[:4:-1]


# --- membership -------------------------------------------------------------------------


def test_a_removed_member_gets_nothing_later_and_cannot_read_history(
    mailbox: MailboxRepository,
) -> None:
    users(mailbox, "ann", "bob", "cid")
    gid = group(mailbox, "ann", "bob", "cid")
    before = say(mailbox, "ann", gid, "before")
    mailbox.remove_member(gid, "ann", "bob")
    say(mailbox, "ann", gid, "after")
    assert inbox(mailbox, "bob") == [before.msgid]  # kept until acknowledged
    with pytest.raises(NotAMember):
        mailbox.group_history(gid, "bob", None, None, 10)
    with pytest.raises(NotAMember):
        mailbox.send_to_group("bob", gid, "still here?", None, AT)
    assert mailbox.role(gid, "bob") is None


def test_an_added_member_gets_later_messages_only(mailbox: MailboxRepository) -> None:
    users(mailbox, "ann", "bob", "cid")
    gid = group(mailbox, "ann", "bob")
    say(mailbox, "ann", gid, "before")
    mailbox.add_members(gid, "ann", ["cid", "bob"], 500, AT + 2)
    after = say(mailbox, "bob", gid, "after")
    assert inbox(mailbox, "cid") == [after.msgid]
    assert [(m.uid, m.role) for m in mailbox.members(gid)] == [
        ("ann", "owner"), ("bob", "member"), ("cid", "member")]
    listed, _ = mailbox.conversations("cid", 10)
    assert [(c.group, c.unread) for c in listed] == [(gid, 1)]


def test_adding_beyond_the_cap_or_an_unknown_player_adds_nobody(
    mailbox: MailboxRepository,
) -> None:
    users(mailbox, "ann", "bob", "cid", "dan")
    gid = group(mailbox, "ann", "bob")
    with pytest.raises(GroupFull):
        mailbox.add_members(gid, "ann", ["cid", "dan"], 3, AT)
    with pytest.raises(UnknownUser):
        mailbox.add_members(gid, "ann", ["cid", "ghost"], 500, AT)
    assert [m.uid for m in mailbox.members(gid)] == ["ann", "bob"]
    mailbox.add_members(gid, "ann", ["bob", "cid"], 3, AT)  # bob is in already
    assert [m.uid for m in mailbox.members(gid)] == ["ann", "bob", "cid"]


def test_roles_decide_who_adds_and_removes(mailbox: MailboxRepository) -> None:
    users(mailbox, "ann", "bob", "cid", "dan", "eve")
    gid = group(mailbox, "ann", "bob", "cid", "dan")
    with pytest.raises(NotAllowed):
        mailbox.add_members(gid, "bob", ["eve"], 500, AT)
    with pytest.raises(NotAllowed):
        mailbox.remove_member(gid, "bob", "cid")
    with pytest.raises(NotAllowed):
        mailbox.set_role(gid, "bob", "bob", "admin")
    mailbox.set_role(gid, "ann", "bob", "admin")
    mailbox.set_role(gid, "ann", "cid", "admin")
    mailbox.add_members(gid, "bob", ["eve"], 500, AT)
    mailbox.remove_member(gid, "bob", "dan")
    with pytest.raises(NotAllowed):
        mailbox.remove_member(gid, "bob", "cid")  # an admin removes members only
    with pytest.raises(NotAllowed):
        mailbox.remove_member(gid, "bob", "ann")
    with pytest.raises(NotAMember):
        mailbox.remove_member(gid, "ann", "dan")
    with pytest.raises(NotAMember):
        mailbox.add_members(gid, "dan", ["dan"], 500, AT)
    mailbox.remove_member(gid, "ann", "cid")
    assert [(m.uid, m.role) for m in mailbox.members(gid)] == [
        ("ann", "owner"), ("bob", "admin"), ("eve", "member")]


def test_a_member_leaves_but_the_owner_cannot(mailbox: MailboxRepository) -> None:
    users(mailbox, "ann", "bob")
    gid = group(mailbox, "ann", "bob")
    with pytest.raises(NotAllowed):
        mailbox.remove_member(gid, "ann", "ann")
    mailbox.remove_member(gid, "bob", "bob")
    assert [m.uid for m in mailbox.members(gid)] == ["ann"]


def test_the_owner_hands_ownership_over(mailbox: MailboxRepository) -> None:
    users(mailbox, "ann", "bob")
    gid = group(mailbox, "ann", "bob")
    mailbox.set_role(gid, "ann", "bob", "owner")
    assert [(m.uid, m.role) for m in mailbox.members(gid)] == [
        ("ann", "admin"), ("bob", "owner")]
    found = mailbox.group(gid)
    assert found is not None and found.owner == "bob"
    mailbox.remove_member(gid, "ann", "ann")
    assert [m.uid for m in mailbox.members(gid)] == ["bob"]


def test_only_the_owner_dissolves_and_then_the_group_is_gone(
    mailbox: MailboxRepository,
) -> None:
    users(mailbox, "ann", "bob")
    gid = group(mailbox, "ann", "bob")
    say(mailbox, "ann", gid)
    with pytest.raises(NotAllowed):
        mailbox.dissolve(gid, "bob")
    assert mailbox.dissolve(gid, "ann") == ["ann", "bob"]
    assert mailbox.group(gid) is None
    with pytest.raises(UnknownGroup):
        mailbox.send_to_group("ann", gid, "anyone?", None, AT)
    with pytest.raises(UnknownGroup):
        mailbox.group_history(gid, "ann", None, None, 10)
    assert mailbox.conversations("bob", 10) == ([], False)


# --- conversations and read positions ---------------------------------------------------


def test_conversations_list_peers_and_groups_most_recent_first(
    mailbox: MailboxRepository,
) -> None:
    users(mailbox, "ann", "bob", "cid")
    gid = group(mailbox, "ann", "bob")
    quiet = group(mailbox, "cid", "ann")
    mailbox.send("bob", "ann", "p1", None, AT)
    mailbox.send("bob", "ann", "p2", None, AT)
    g1 = say(mailbox, "bob", gid, "g1")
    last = mailbox.send("cid", "ann", "p3", None, AT)[0]
    listed, more = mailbox.conversations("ann", 10)
    assert not more
    assert [(c.id, c.unread) for c in listed] == [
        ("peer:cid", 1), (f"group:{gid}", 1), ("peer:bob", 2), (f"group:{quiet}", 0)]
    assert listed[0].last_message == last
    assert listed[1].last_message == g1 and listed[1].name == "Knights"
    assert listed[3].last_message is None
    assert mailbox.conversations("ann", 2) == (listed[:2], True)


def test_ones_own_messages_are_read(mailbox: MailboxRepository) -> None:
    users(mailbox, "ann", "bob")
    gid = group(mailbox, "ann", "bob")
    mailbox.send("bob", "ann", "p1", None, AT)
    mailbox.send("ann", "bob", "reply", None, AT)
    say(mailbox, "bob", gid)
    say(mailbox, "ann", gid)
    assert {c.id: c.unread for c in mailbox.conversations("ann", 10)[0]} == {
        "peer:bob": 0, f"group:{gid}": 0}
    assert {c.id: c.unread for c in mailbox.conversations("bob", 10)[0]} == {
        "peer:ann": 1, f"group:{gid}": 1}


def test_a_read_position_moves_forward_only_and_is_clamped(
    mailbox: MailboxRepository,
) -> None:
    users(mailbox, "ann", "bob")
    gid = group(mailbox, "ann", "bob")
    private = [mailbox.send("bob", "ann", f"p{i}", None, AT)[0] for i in range(4)]
    public = [say(mailbox, "bob", gid, f"g{i}") for i in range(3)]
    assert mailbox.mark_read("ann", "bob", None, private[1].msgid) == 2
    assert mailbox.mark_read("ann", "bob", None, private[0].msgid) == 2  # never back
    assert mailbox.mark_read("ann", None, gid, public[0].msgid) == 2
    assert mailbox.mark_read("ann", None, gid, 2**62) == 0  # clamped to the latest
    assert mailbox.mark_read("ann", "bob", None, public[2].msgid) == 0
    assert {c.id: c.unread for c in mailbox.conversations("ann", 10)[0]} == {
        "peer:bob": 0, f"group:{gid}": 0}
    assert mailbox.pull("ann", None, 10).messages == (*private, *public)  # delivery apart


def test_reading_what_one_may_not_see_is_refused(mailbox: MailboxRepository) -> None:
    users(mailbox, "ann", "bob", "eve")
    gid = group(mailbox, "ann", "bob")
    with pytest.raises(NotAMember):
        mailbox.mark_read("eve", None, gid, 1)
    with pytest.raises(UnknownGroup):
        mailbox.mark_read("ann", None, "missing", 1)
    with pytest.raises(UnknownUser):
        mailbox.mark_read("ann", "ghost", None, 1)
    assert mailbox.mark_read("ann", "eve", None, 1) == 0  # no conversation yet
