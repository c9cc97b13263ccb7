"""``ServerOps`` on the in-memory ports: what the HTTP tests cannot reach easily."""

from __future__ import annotations

import pytest

from im_core import (
    ChatService,
    InMemoryGameAuth,
    InMemoryMailbox,
    InMemorySessionStore,
    ManualClock,
    Message,
    Muted,
    StorageUnavailable,
)
from im_core.pacing import Activity, HeartbeatPacing
from im_core.ports import MailboxUnavailable
from im_core.server_ops import SYSTEM_UID, system_client_msg_id


class FailsAfter(InMemoryMailbox):
    """A mailbox whose database goes away after ``sends`` more sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sends_left: int | None = None

    def send(self, sender: str, recipient: str, body: str, client_msg_id: str | None,
             sent_at: int) -> tuple[Message, bool]:
        if self.sends_left is not None:
            if self.sends_left == 0:
                raise MailboxUnavailable("gone")
            self.sends_left -= 1
        return super().send(sender, recipient, body, client_msg_id, sent_at)


def service(mailbox: InMemoryMailbox | None = None) -> tuple[ChatService, InMemoryGameAuth]:
    auth = InMemoryGameAuth()
    chat = ChatService(InMemorySessionStore(), mailbox or InMemoryMailbox(), auth,
                       ManualClock())
    return chat, auth


def test_a_system_message_cut_short_by_an_outage_is_completed_by_its_retry() -> None:
    mailbox = FailsAfter()
    chat, auth = service(mailbox)
    players = [f"p{i}" for i in range(5)]
    for uid in players:
        chat.login(uid, auth.grant(uid), "pc")
    mailbox.sends_left = 2
    with pytest.raises(StorageUnavailable):
        chat.system_send(players, "server restarts in 10 minutes", "restart-1")
    mailbox.sends_left = None
    retried = chat.system_send(players, "server restarts in 10 minutes", "restart-1")
    assert [d.created for d in retried.delivered] == [False, False, True, True, True]
    assert all(len(mailbox.waiting(uid)) == 1 for uid in players)


def test_each_recipient_gets_its_own_stored_id_of_bounded_length() -> None:
    ids = {system_client_msg_id("x" * 64, f"p{i}") for i in range(100)}
    assert len(ids) == 100
    assert all(len(i) <= 64 and i.isascii() and i.isprintable() for i in ids)


def test_a_global_mute_holds_in_every_group_and_a_group_mute_only_there() -> None:
    chat, _ = service()
    chat.mute("alice", "group:g1", None, "flood")
    chat.check_not_muted("alice")
    chat.check_not_muted("alice", "group:g2")
    with pytest.raises(Muted) as raised:
        chat.check_not_muted("alice", "group:g1")
    assert (raised.value.scope, raised.value.reason) == ("group:g1", "flood")
    chat.mute("alice", "global", None, "spam")
    with pytest.raises(Muted):
        chat.check_not_muted("alice", "channel:world")


def test_the_system_sender_cannot_be_muted_nor_log_in() -> None:
    chat, auth = service()
    with pytest.raises(ValueError, match="reserved"):
        chat.login(SYSTEM_UID, auth.grant(SYSTEM_UID), "pc")
    with pytest.raises(ValueError, match="reserved"):
        chat.mute(SYSTEM_UID)


def test_the_pacing_refuses_an_idle_interval_the_session_would_not_survive() -> None:
    assert HeartbeatPacing.for_ttl(10_000, 2_000).idle_ms == 5_000
    with pytest.raises(ValueError):
        HeartbeatPacing.for_ttl(10_000, 2_000, 6_000)
    with pytest.raises(ValueError):
        HeartbeatPacing.for_ttl(10_000, 10_000)


def test_activity_forgets_the_least_recently_active_beyond_its_capacity() -> None:
    activity = Activity(capacity=2)
    for at, uid in enumerate(("a", "b", "c")):
        activity.saw(uid, at)
    assert len(activity) == 2
    assert not activity.active("a", 3, 10)
    assert activity.active("c", 3, 10) and not activity.active("c", 20, 10)


def test_a_muted_player_cannot_send_to_a_group_and_a_group_mute_holds_only_there() -> None:
    chat, auth = service()
    alice, bob = (chat.login(uid, auth.grant(uid), "pc") for uid in ("alice", "bob"))
    guild = chat.create_group(alice, "guild", ["bob"])
    other = chat.create_group(alice, "raid", ["bob"])
    chat.mute("alice", f"group:{guild.gid}", reason="spam")
    with pytest.raises(Muted):
        chat.send_to_group(alice, guild.gid, "buy gold", "m-1")
    assert chat.heartbeat(bob).messages == ()
    chat.send_to_group(alice, other.gid, "raid at 8", "m-2")
    chat.send(alice, "bob", "hi", "m-3")
    assert [m.body for m in chat.heartbeat(bob).messages] == ["raid at 8", "hi"]
    chat.mute("alice")
    with pytest.raises(Muted):
        chat.send_to_group(alice, other.gid, "again", "m-4")


def test_a_group_send_stored_before_a_mute_is_answered_when_retried() -> None:
    chat, auth = service()
    alice = chat.login("alice", auth.grant("alice"), "pc")
    chat.login("bob", auth.grant("bob"), "pc")
    guild = chat.create_group(alice, "guild", ["bob"])
    first, created = chat.send_to_group(alice, guild.gid, "gg", "m-1")
    chat.mute("alice")
    again, created_again = chat.send_to_group(alice, guild.gid, "gg", "m-1")
    assert (created, created_again, again.msgid) == (True, False, first.msgid)


def test_the_message_filter_judges_group_messages_too() -> None:
    from im_core import WordListFilter

    auth = InMemoryGameAuth()
    chat = ChatService(InMemorySessionStore(), InMemoryMailbox(), auth, ManualClock(),
                       message_filter=WordListFilter.of(["gold"]))
    alice, bob = (chat.login(uid, auth.grant(uid), "pc") for uid in ("alice", "bob"))
    guild = chat.create_group(alice, "guild", ["bob"])
    message, _ = chat.send_to_group(alice, guild.gid, "buy G O L D now")
    assert "gold" not in message.body.lower() and message.body.startswith("buy ")
    assert [m.body for m in chat.heartbeat(bob).messages] == [message.body]
