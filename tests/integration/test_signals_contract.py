"""The ``InboxSignals`` contract, run against every implementation.

A ``pair`` is two nodes' views of one deployment: the same object for the in-process
implementation, two instances on one bus for the others. Rings are made on one and
waited for on the other, so a test that passes proves the ring crossed processes'
boundaries where the implementation claims it does.

Waits use real time (a ring travels through a real bus), but short: a ring is
expected within ``ARRIVES`` seconds, and a wait that must time out lasts ``QUIET``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.processes import free_port
from im_adapters.redis_signals import RedisInboxSignals
from im_core import InMemoryInboxSignals
from im_core.ports.signals import INBOX_HINT_TTL_MS, InboxSignals, SignalsUnavailable
from tests.conftest import start_redis_cluster

ARRIVES = 5.0
QUIET = 0.2
NOW = 1_700_000_000_000

Pair = tuple[InboxSignals, InboxSignals]
_fresh = itertools.count()


IMPLEMENTATIONS = ["memory", pytest.param("redis", marks=pytest.mark.redis),
                   pytest.param("redis-cluster", marks=pytest.mark.redis)]


def _redis_node(url: str, namespace: str) -> RedisInboxSignals:
    node = RedisInboxSignals.from_url(url, namespace=namespace)
    node.start()
    assert node.wait_connected(ARRIVES), "the ring subscription did not come up"
    return node


@pytest.fixture(params=IMPLEMENTATIONS)
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    if request.param == "memory":
        signals = InMemoryInboxSignals()
        yield signals, signals
        return
    if request.param == "redis-cluster":
        url = request.getfixturevalue("redis_cluster_url")
        namespace = request.getfixturevalue("redis_cluster_namespace")
    else:
        url = request.getfixturevalue("redis_url")
        namespace = request.getfixturevalue("redis_namespace")
    here, there = _redis_node(url, namespace), _redis_node(url, namespace)
    yield here, there
    here.close()
    there.close()


@pytest.fixture
def uid() -> str:
    return f"erin.{next(_fresh)}"


def test_a_ring_wakes_a_waiter_for_that_player_on_the_other_node(pair: Pair, uid: str) -> None:
    here, there = pair
    waiter = there.listen(uid)
    try:
        here.ring(uid)
        assert waiter.wait(ARRIVES) is True
    finally:
        waiter.close()


def test_one_ring_many_wakes_every_players_waiter_on_the_other_node(pair: Pair) -> None:
    here, there = pair
    uids = [f"gina.{next(_fresh)}" for _ in range(300)]  # over every channel, many each
    there_waiters = [there.listen(u) for u in uids]
    here_waiters = [here.listen(u) for u in uids[:3]]
    bystander = there.listen(f"hal.{next(_fresh)}")
    try:
        for u in uids:
            there.mark_empty(u, there.hint(u, NOW).version, NOW)
        here.ring_many(uids)
        assert all(w.wait(ARRIVES) for w in there_waiters + here_waiters)
        assert not any(there.hint(u, NOW).known_empty for u in uids)
        assert bystander.wait(QUIET) is False
        here.ring_many([])  # nothing to ring: no error
    finally:
        for w in [*there_waiters, *here_waiters, bystander]:
            w.close()


def test_a_ring_for_another_player_does_not_wake_a_waiter(pair: Pair, uid: str) -> None:
    here, there = pair
    waiter = there.listen(uid)
    try:
        here.ring(uid + "x")
        assert waiter.wait(QUIET) is False
    finally:
        waiter.close()


def test_a_waiter_with_no_ring_times_out(pair: Pair, uid: str) -> None:
    _, there = pair
    waiter = there.listen(uid)
    try:
        assert waiter.wait(QUIET) is False
    finally:
        waiter.close()


def test_a_ring_between_listening_and_waiting_is_not_missed(pair: Pair, uid: str) -> None:
    here, there = pair
    waiter = there.listen(uid)
    try:
        here.ring(uid)
        # The caller reads the inbox here, then waits: the ring must still count.
        threading.Event().wait(0.05)
        assert waiter.wait(ARRIVES) is True
    finally:
        waiter.close()


def test_every_waiter_of_a_player_wakes(pair: Pair, uid: str) -> None:
    here, there = pair
    waiters = [there.listen(uid) for _ in range(3)] + [here.listen(uid)]
    try:
        here.ring(uid)
        assert all(w.wait(ARRIVES) for w in waiters)
    finally:
        for w in waiters:
            w.close()


def test_a_closed_waiter_is_no_longer_woken_and_closing_twice_is_harmless(
    pair: Pair, uid: str
) -> None:
    here, there = pair
    closed, open_ = there.listen(uid), there.listen(uid)
    closed.close()
    closed.close()
    try:
        here.ring(uid)
        assert open_.wait(ARRIVES) is True
        assert closed.wait(QUIET) is False
    finally:
        open_.close()


def test_a_new_player_s_inbox_is_not_known_empty(pair: Pair, uid: str) -> None:
    assert pair[1].hint(uid, NOW).known_empty is False


def test_an_inbox_marked_empty_is_known_empty_until_a_ring_on_any_node(
    pair: Pair, uid: str
) -> None:
    here, there = pair
    hint = there.hint(uid, NOW)
    there.mark_empty(uid, hint.version, NOW)
    assert there.hint(uid, NOW + 1).known_empty is True
    waiter = there.listen(uid)  # to know when the ring has arrived over there
    try:
        here.ring(uid)
        assert waiter.wait(ARRIVES)
    finally:
        waiter.close()
    assert there.hint(uid, NOW + 2).known_empty is False


def test_an_empty_mark_from_before_a_ring_is_refused(pair: Pair, uid: str) -> None:
    here, there = pair
    before = there.hint(uid, NOW)
    waiter = there.listen(uid)
    try:
        here.ring(uid)  # a message committed while the inbox was being read
        assert waiter.wait(ARRIVES)
    finally:
        waiter.close()
    there.mark_empty(uid, before.version, NOW)
    assert there.hint(uid, NOW + 1).known_empty is False


def test_an_empty_mark_lapses_so_a_lost_ring_only_delays_a_message(
    pair: Pair, uid: str
) -> None:
    _, there = pair
    hint = there.hint(uid, NOW)
    there.mark_empty(uid, hint.version, NOW)
    assert there.hint(uid, NOW + INBOX_HINT_TTL_MS - 1).known_empty is True
    assert there.hint(uid, NOW + INBOX_HINT_TTL_MS).known_empty is False


@pytest.fixture(params=IMPLEMENTATIONS)
def broken(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InboxSignals]:
    """An implementation whose bus is down."""
    if request.param == "memory":
        signals = InMemoryInboxSignals()
        signals.down = True
        yield signals
        return
    if request.param == "redis-cluster":  # a cluster that was up, then went away
        cluster = start_redis_cluster(tmp_path)
        node = RedisInboxSignals.from_url(cluster.url, timeout=0.5)
        node.start()
        assert node.wait_connected(ARRIVES)
        cluster.stop()
        yield node
        node.close()
        return
    node = RedisInboxSignals.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    yield node
    node.close()


def test_ping_and_ring_say_unavailable_while_the_bus_is_down(broken: InboxSignals,
                                                             uid: str) -> None:
    with pytest.raises(SignalsUnavailable):
        broken.ping()
    with pytest.raises(SignalsUnavailable):
        broken.ring(uid)
    with pytest.raises(SignalsUnavailable):
        broken.ring_many([uid, f"{uid}-2"])


def test_after_close_every_wait_returns_at_once(pair: Pair, uid: str) -> None:
    _, there = pair
    held = there.listen(uid)
    woke: list[bool] = []
    waiting = threading.Thread(target=lambda: woke.append(held.wait(ARRIVES)))
    waiting.start()
    threading.Event().wait(0.05)
    there.close()  # the process is stopping
    waiting.join(timeout=ARRIVES)
    assert woke == [False]
    later = there.listen(uid)
    assert later.wait(ARRIVES) is False
    held.close()
    later.close()
