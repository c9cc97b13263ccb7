"""The ``SessionStore`` contract (sessions' life, ping), run against every implementation.

The implementations, fixtures and helpers are in ``session_store_contract.py``; the
rest of the contract is in ``test_session_store_contract_presence.py`` and
``test_session_store_contract_cap.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from im_core.models import Session, SessionToken
from im_core.ports import SessionStore, SessionStoreUnavailable
from tests.integration.session_store_contract import SHORT_TTL, TTL, absent, login, token


def test_a_created_session_is_returned_by_touch_with_the_new_command_and_time(
    store: SessionStore, now: int
) -> None:
    alice = login(store, now, client_type="android")

    touched = store.touch(alice, "pull", now + 2_000, TTL)

    assert touched == Session(alice, "android", "pull", now + 2_000)


def test_touching_an_unknown_token_finds_nothing(store: SessionStore, now: int) -> None:
    assert store.touch(token(), "pull", now, TTL) is None


def test_a_token_with_the_right_uid_but_another_secret_finds_nothing(
    store: SessionStore, now: int
) -> None:
    alice = login(store, now)

    assert store.touch(token(alice.uid), "pull", now + 1, TTL) is None
    assert store.touch(SessionToken("bob", alice.secret), "pull", now + 1, TTL) is None
    assert store.touch(alice, "pull", now + 2, TTL) is not None


def test_a_session_left_idle_past_its_ttl_is_gone(
    store: SessionStore, now: int, elapse: Callable[[int], None]
) -> None:
    alice = login(store, now, ttl=SHORT_TTL)

    elapse(SHORT_TTL * 3 // 2)

    assert store.touch(alice, "pull", now + SHORT_TTL * 3 // 2, TTL) is None
    assert absent(store, "alice", now + SHORT_TTL * 3 // 2)


def test_a_session_is_gone_once_the_callers_clock_passes_its_ttl(
    store: SessionStore, now: int
) -> None:
    alice = login(store, now, ttl=10_000)

    assert store.touch(alice, "pull", now + 10_000, TTL) is None
    assert absent(store, "alice", now + 10_000)


def test_a_touched_session_lives_another_ttl(
    store: SessionStore, now: int, elapse: Callable[[int], None]
) -> None:
    ttl, step = 400, 250
    alice = login(store, now, ttl=ttl)

    elapse(step)
    assert store.touch(alice, "heartbeat", now + step, ttl) is not None
    elapse(step)  # past the first TTL, within the second

    assert store.touch(alice, "heartbeat", now + 2 * step, ttl) is not None


def test_an_expired_session_cannot_be_brought_back_by_touching_it(
    store: SessionStore, now: int, elapse: Callable[[int], None]
) -> None:
    alice = login(store, now, ttl=SHORT_TTL)
    elapse(SHORT_TTL * 3 // 2)

    store.touch(alice, "pull", now + SHORT_TTL * 3 // 2, TTL)

    assert store.touch(alice, "pull", now + SHORT_TTL * 2, TTL) is None


def test_a_deleted_session_is_gone_and_deleting_it_again_is_harmless(
    store: SessionStore, now: int
) -> None:
    alice = login(store, now)

    store.delete(alice)
    store.delete(alice)

    assert store.touch(alice, "pull", now + 1, TTL) is None
    assert absent(store, "alice", now + 1)


def test_deleting_an_unknown_session_is_harmless(store: SessionStore) -> None:
    store.delete(token("nobody"))


def test_deleting_one_session_leaves_the_others_alive(store: SessionStore, now: int) -> None:
    first = login(store, now)
    second = login(store, now)

    store.delete(first)

    assert store.touch(second, "pull", now + 1, TTL) is not None


def test_a_session_created_again_with_its_token_starts_afresh(
    store: SessionStore, now: int
) -> None:
    alice = login(store, now, client_type="ios")

    store.create(Session(alice, "pc", "login", now + 10), TTL)

    assert store.touch(alice, "pull", now + 20, TTL) == Session(alice, "pc", "pull", now + 20)


def test_ping_answers_and_leaves_nothing_behind_for_the_next_call(
    store: SessionStore, now: int
) -> None:
    store.ping()
    alice = login(store, now)
    store.ping()

    assert store.touch(alice, "pull", now + 1, TTL) == Session(alice, "ios", "pull", now + 1)


def test_ping_raises_unavailable_while_the_store_cannot_answer(
    unreachable_store: SessionStore,
) -> None:
    with pytest.raises(SessionStoreUnavailable):
        unreachable_store.ping()
