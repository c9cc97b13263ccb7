"""The SQL mailbox on a 3-node MariaDB Galera cluster, written through every node at once.

On Galera a row lock is local to its node: two sends to one recipient on two nodes
both get the recipient's row. What orders them is certification: the send writes the
recipient's ``users`` row, so the second to reach the group is aborted (a deadlock
error, 1213, possibly at COMMIT) and the mailbox runs it again, after the first has
been applied. This test makes those conflicts happen on purpose, many senders to one
inbox through three nodes, and checks the property the cumulative ack rests on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from im_adapters.sql import SqlMailbox, upgrade_to_head
from im_adapters.sql.admin import create_database, drop_database
from im_core.models import Message
from im_core.ports import MailboxUnavailable
from tests.galera import GaleraCluster

SENDERS_PER_NODE = 3
PER_SENDER = 40


@pytest.fixture
def boxes(galera: GaleraCluster) -> Iterator[list[SqlMailbox]]:
    """One mailbox per Galera node, on a scratch database of this test's own."""
    url = create_database(galera.url(0), prefix="im_galera")
    name = url.rsplit("/", 1)[1]
    made = [SqlMailbox.from_url(galera.url(i, name)) for i in range(GaleraCluster.NODES)]
    upgrade_to_head(made[0].engine)
    try:
        yield made
    finally:
        for box in made:
            box.close()
        drop_database(galera.url(0), url)


def _conflicts(galera: GaleraCluster) -> int:
    """Certification failures and brute-force aborts, summed over the nodes."""
    return sum(int(galera.status(i, name) or 0) for i in range(GaleraCluster.NODES)
               for name in ("wsrep_local_cert_failures", "wsrep_local_bf_aborts"))


def test_senders_on_three_galera_nodes_to_one_inbox_each_message_is_received_once_in_order(
    galera: GaleraCluster, boxes: list[SqlMailbox],
) -> None:
    senders = [(f"sender{n}-{k}", boxes[n]) for n in range(len(boxes))
               for k in range(SENDERS_PER_NODE)]
    for uid, box in [*senders, ("reader", boxes[0])]:
        box.record_login(uid, "pc", 1)
    conflicts_before = _conflicts(galera)
    all_sent = threading.Event()
    received: list[Message] = []
    unavailable: list[str] = []

    def send_all(uid: str, box: SqlMailbox) -> list[Message]:
        sent = []
        for k in range(PER_SENDER):
            for _attempt in range(20):  # as the SDK does: the same client_msg_id again
                try:
                    message, _ = box.send(uid, "reader", f"{uid}/{k}", f"{uid}-{k}", k)
                    break
                except MailboxUnavailable as error:
                    unavailable.append(str(error))
            else:
                raise AssertionError(f"{uid}-{k} was never stored")
            sent.append(message)
        return sent

    def read_until_drained() -> None:
        ack: int | None = None
        turn = 0
        while True:
            last_round = all_sent.is_set()
            turn += 1  # each pull on the next node, as a player's calls would spread
            try:
                inbox = boxes[turn % len(boxes)].pull("reader", ack, 7)
            except MailboxUnavailable as error:  # a 503: the client pulls again, same ack
                unavailable.append(f"pull: {error}")
                continue
            for message in inbox.messages:
                assert not received or message.msgid > received[-1].msgid, (
                    "the inbox handed out messages out of msgid order")
                received.append(message)
            if inbox.messages:
                ack = inbox.messages[-1].msgid
            elif last_round:
                return

    with ThreadPoolExecutor(len(senders) + 1) as pool:
        reader = pool.submit(read_until_drained)
        sending = [pool.submit(send_all, uid, box) for uid, box in senders]
        sent = [message for future in sending for message in future.result()]
        all_sent.set()
        reader.result(timeout=120)

    conflicts = _conflicts(galera) - conflicts_before
    print(f"galera: {len(sent)} sends through 3 nodes, {conflicts} certification "
          f"conflicts retried, {len(unavailable)} calls answered unavailable and made again")
    ids = [m.msgid for m in received]
    assert len(ids) == len(set(ids)), "a message was received twice"
    assert set(received) == set(sent), "a message was deleted before it was received"
    assert len({m.msgid for m in sent}) == len(senders) * PER_SENDER
    assert conflicts > 0, "no certification conflict happened: the test proved nothing"
    assert boxes[1].pull("reader", None, 10).messages == ()
