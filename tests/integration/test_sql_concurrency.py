"""The SQL mailbox under concurrent use, on real databases.

The property that matters: a cumulative ack never deletes a message the recipient was
not given, even while many senders write to the same inbox and ids could commit out of
order. And a retried send is stored once however many copies race.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from im_adapters.sql import SqlMailbox, create_engine_from_url
from im_core.models import Message
from im_core.ports import MailboxUnavailable, TooManyContacts

DATABASES = [
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("postgres-sqlalchemy", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]
SENDERS = 8
PER_SENDER = 50


@pytest.fixture(params=DATABASES)
def mailbox(request: pytest.FixtureRequest, sql_mailbox: Callable[[str], SqlMailbox]) -> SqlMailbox:
    return sql_mailbox(request.param)


@pytest.mark.parametrize("beyond", [False, True], ids=["ack-last-received", "ack-beyond-all"])
def test_many_senders_to_one_inbox_each_message_is_received_once_in_order(
    mailbox: SqlMailbox, beyond: bool
) -> None:
    # With ``beyond``, the reader acks a msgid above anything ever sent: only what its
    # pulls returned may go, never a message committed since.
    senders = [f"sender{i}" for i in range(SENDERS)]
    for uid in [*senders, "reader"]:
        mailbox.record_login(uid, "pc", 1)
    all_sent = threading.Event()
    received: list[Message] = []

    def send_all(sender: str) -> list[Message]:
        sent = []
        for k in range(PER_SENDER):
            message, created = mailbox.send(sender, "reader", f"{sender}/{k}", None, k)
            assert created
            sent.append(message)
        return sent

    def read_until_drained() -> None:
        ack: int | None = None
        while True:
            last_round = all_sent.is_set()  # read before the pull: nothing is sent after
            inbox = mailbox.pull("reader", ack, 7)
            for message in inbox.messages:
                assert not received or message.msgid > received[-1].msgid
                received.append(message)
            if inbox.messages:
                ack = 2**63 - 1 if beyond else inbox.messages[-1].msgid
            elif last_round:
                return

    with ThreadPoolExecutor(SENDERS + 1) as pool:
        reader = pool.submit(read_until_drained)
        sending = [pool.submit(send_all, sender) for sender in senders]
        sent = [message for future in sending for message in future.result()]
        all_sent.set()
        reader.result(timeout=60)

    ids = [m.msgid for m in received]
    assert ids == sorted(ids), "the inbox handed out messages out of msgid order"
    assert len(ids) == len(set(ids)), "a message was received twice"
    assert set(received) == set(sent), "a message was deleted before it was received"
    assert len(sent) == SENDERS * PER_SENDER
    assert mailbox.pull("reader", None, 10).messages == ()


def test_racing_retries_of_one_send_store_one_message(mailbox: SqlMailbox) -> None:
    for uid in ("alice", "bob"):
        mailbox.record_login(uid, "pc", 1)
    start = threading.Barrier(8)

    def retry(attempt: int) -> tuple[Message, bool]:
        start.wait()
        return mailbox.send("alice", "bob", f"attempt {attempt}", "the-one", attempt)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(retry, range(8)))

    assert sum(created for _, created in results) == 1
    assert len({message for message, _ in results}) == 1
    assert len(mailbox.pull("bob", None, 10).messages) == 1
    assert len(mailbox.history("alice", "bob", None, None, 10)) == 1


def test_one_client_msg_id_racing_to_different_recipients_is_stored_once(
    mailbox: SqlMailbox,
) -> None:
    # These sends do not wait for a common lock: the unique key decides the race.
    recipients = [f"r{i}" for i in range(8)]
    for uid in ["alice", *recipients]:
        mailbox.record_login(uid, "pc", 1)
    start = threading.Barrier(len(recipients))

    def send(recipient: str) -> tuple[Message, bool]:
        start.wait()
        return mailbox.send("alice", recipient, "hi", "same-id", 1)

    with ThreadPoolExecutor(len(recipients)) as pool:
        results = list(pool.map(send, recipients))

    assert sum(created for _, created in results) == 1
    (stored,) = {message for message, _ in results}
    inboxes = {r: mailbox.pull(r, None, 10).messages for r in recipients}
    assert [r for r, messages in inboxes.items() if messages] == [stored.recipient]


@pytest.mark.parametrize("mailbox", DATABASES[1:], indirect=True)
def test_a_send_waits_only_for_sends_to_the_same_recipient(mailbox: SqlMailbox) -> None:
    for uid in ("alice", "busy", "free"):
        mailbox.record_login(uid, "pc", 1)
    slow = create_engine_from_url(mailbox.engine.url.render_as_string(hide_password=False))
    short = SqlMailbox(
        create_engine_from_url(mailbox.engine.url.render_as_string(hide_password=False), timeout=1)
    )
    try:
        with slow.connect() as holder, holder.begin():
            # Hold the lock a send to "busy" takes, as a slow send would.
            holder.execute(sa.text("SELECT uid FROM users WHERE uid = 'busy' FOR UPDATE"))
            started = time.monotonic()
            _, created = mailbox.send("alice", "free", "not blocked", None, 1)
            assert created and time.monotonic() - started < 1
            with pytest.raises(MailboxUnavailable):
                short.send("alice", "busy", "blocked", None, 2)
    finally:
        short.close()
        slow.dispose()
    assert mailbox.pull("busy", None, 10).messages == ()
    assert mailbox.history("alice", "busy", None, None, 10) == []


def test_racing_adds_to_one_contact_list_never_pass_its_bound(mailbox: SqlMailbox) -> None:
    uids = [f"friend{i}" for i in range(12)]
    for uid in ["owner", *uids]:
        mailbox.record_login(uid, "pc", 1)

    def add(uid: str) -> bool:
        try:
            mailbox.add_contact("owner", uid, 5)
        except TooManyContacts:
            return False
        return True

    with ThreadPoolExecutor(len(uids)) as pool:
        added = list(pool.map(add, uids))
    assert sum(added) == 5
    assert len(mailbox.contacts("owner")) == 5


def test_group_and_private_sends_racing_into_members_inboxes_arrive_once_in_order(
    mailbox: SqlMailbox,
) -> None:
    # Group sends lock every member, private sends lock both users, in both directions
    # between members: no deadlock is left unresolved, and each member's cumulative
    # ack, taken as it reads, never deletes a message it was not given.
    members = [f"m{i}" for i in range(6)]
    for uid in members:
        mailbox.record_login(uid, "pc", 1)
    mailbox.create_group("guild", "Guild", members[0], members[1:], 500, 1)
    all_sent = threading.Event()
    received: dict[str, list[Message]] = {uid: [] for uid in members}

    def send_all(index: int) -> list[Message]:
        me = members[index]
        sent = []
        for k in range(20):
            if k % 2:
                message, created, _ = mailbox.send_to_group(me, "guild", f"{me}/{k}", None, k)
            else:
                other = members[(index + 1 + k) % len(members)]
                message, created = mailbox.send(me, other, f"{me}/{k}", None, k)
            assert created
            sent.append(message)
        return sent

    def read_until_drained(uid: str) -> None:
        ack: int | None = None
        while True:
            last_round = all_sent.is_set()
            inbox = mailbox.pull(uid, ack, 5)
            for message in inbox.messages:
                assert not received[uid] or message.msgid > received[uid][-1].msgid
                received[uid].append(message)
            if inbox.messages:
                ack = inbox.messages[-1].msgid
            elif last_round:
                return

    with ThreadPoolExecutor(2 * len(members)) as pool:
        readers = [pool.submit(read_until_drained, uid) for uid in members]
        sending = [pool.submit(send_all, i) for i in range(len(members))]
        sent = [message for future in sending for message in future.result()]
        all_sent.set()
        for reader in readers:
            reader.result(timeout=120)

    for uid in members:
        expected = {m for m in sent if m.recipient == uid
                    or (m.group == "guild" and m.sender != uid)}
        assert [m.msgid for m in received[uid]] == sorted(m.msgid for m in expected), uid
    listed, _ = mailbox.conversations(members[0], 10)
    assert {c.id for c in listed} >= {"group:guild"}
