"""The inbox hint: idle heartbeats skip the database, and no race can hide a message."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from im_core import (
    ChatService,
    Inbox,
    InMemoryGameAuth,
    InMemoryInboxSignals,
    InMemoryMailbox,
    InMemorySessionStore,
    ManualClock,
    Session,
)
from im_core.ports.signals import INBOX_HINT_TTL_MS, SignalsUnavailable


class CountingMailbox(InMemoryMailbox):
    """An in-memory mailbox that counts pulls and can run code right after one."""

    def __init__(self) -> None:
        super().__init__()
        self.pulls = 0
        self.after_pull: Callable[[], None] | None = None

    def pull(self, uid: str, ack: int | None, limit: int) -> Inbox:
        inbox = super().pull(uid, ack, limit)
        self.pulls += 1
        if self.after_pull is not None:
            hook, self.after_pull = self.after_pull, None
            hook()
        return inbox


class FlakySignals(InMemoryInboxSignals):
    """Signals whose next ``ring`` fails, as in a Redis blip."""

    fail_next_ring = False

    def ring(self, uid: str) -> None:
        if self.fail_next_ring:
            self.fail_next_ring = False
            raise SignalsUnavailable("blip")
        super().ring(uid)


Chat = tuple[ChatService, CountingMailbox, ManualClock]


@pytest.fixture
def chat() -> Chat:
    mailbox = CountingMailbox()
    clock = ManualClock()
    return (ChatService(InMemorySessionStore(), mailbox, InMemoryGameAuth(), clock,
                        signals=FlakySignals()), mailbox, clock)


def login(service: ChatService, uid: str) -> Session:
    auth = service.auth
    assert isinstance(auth, InMemoryGameAuth)
    return service.login(uid, auth.grant(uid), "ios")


def beat(service: ChatService, session: Session, ack: int | None = None) -> Inbox:
    return service.heartbeat(service.authenticate(str(session.token), "heartbeat"), ack)


def test_an_idle_player_s_heartbeats_do_not_touch_the_database(chat: Chat) -> None:
    service, mailbox, _ = chat
    bob = login(service, "bob")
    assert beat(service, bob).messages == ()
    before = mailbox.pulls
    for _ in range(10):
        assert beat(service, bob) == Inbox((), False)
    assert mailbox.pulls == before


def test_a_message_wakes_an_idle_inbox_and_its_ack_puts_it_back_to_sleep(chat: Chat) -> None:
    service, mailbox, _ = chat
    alice, bob = login(service, "alice"), login(service, "bob")
    beat(service, bob)
    message, _ = service.send(alice, "bob", "wake up")
    assert beat(service, bob).messages == (message,)
    assert beat(service, bob, ack=message.msgid).messages == ()
    before = mailbox.pulls
    beat(service, bob, ack=message.msgid)
    assert mailbox.pulls == before


def test_a_send_that_commits_while_a_heartbeat_finds_the_inbox_empty_is_not_hidden(
    chat: Chat,
) -> None:
    service, mailbox, _ = chat
    alice, bob = login(service, "alice"), login(service, "bob")
    sent = []
    mailbox.after_pull = lambda: sent.append(service.send(alice, "bob", "raced")[0])
    assert beat(service, bob).messages == ()  # pulled before the send committed
    assert beat(service, bob).messages == tuple(sent)


def test_a_lost_ring_is_redone_by_the_client_s_retry(chat: Chat) -> None:
    service, _, _ = chat
    alice, bob = login(service, "alice"), login(service, "bob")
    beat(service, bob)
    signals = service.signals
    assert isinstance(signals, FlakySignals)
    signals.fail_next_ring = True
    first, created = service.send(alice, "bob", "once", client_msg_id="k")
    assert created  # stored, so answered as stored although the ring failed
    message, created = service.send(alice, "bob", "once", client_msg_id="k")
    assert (message, created) == (first, False)
    assert beat(service, bob).messages == (message,)


def test_a_ring_lost_for_good_delays_a_message_by_at_most_the_hint_ttl(chat: Chat) -> None:
    service, _, clock = chat
    alice, bob = login(service, "alice"), login(service, "bob")
    beat(service, bob)
    signals = service.signals
    assert isinstance(signals, FlakySignals)
    signals.fail_next_ring = True
    message, created = service.send(alice, "bob", "late, not lost")
    assert created
    waited = 0
    while not (arrived := beat(service, bob).messages):
        clock.advance(2_000)
        waited += 2_000
        assert waited <= INBOX_HINT_TTL_MS + 2_000
    assert waited > 0
    assert arrived == (message,)
