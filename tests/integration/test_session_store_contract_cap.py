"""The ``SessionStore`` contract: the cap on live sessions per uid, and replaced sessions.

Run against every implementation (``session_store_contract.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from im_core.models import Presence, Session, SessionToken
from im_core.ports import SessionReplaced, SessionStore
from tests.integration.session_store_contract import SHORT_TTL, TTL, login, token


def test_a_login_beyond_the_cap_replaces_the_session_whose_last_call_is_oldest(
    store: SessionStore, now: int
) -> None:
    first = login(store, now, cap=3)
    second = login(store, now + 1, cap=3)
    third = login(store, now + 2, cap=3)
    store.touch(first, "heartbeat", now + 3, TTL)  # now second is the one idle longest

    fourth = login(store, now + 4, cap=3)

    with pytest.raises(SessionReplaced):
        store.touch(second, "heartbeat", now + 5, TTL)
    for alive in (first, third, fourth):
        assert store.touch(alive, "heartbeat", now + 5, TTL) is not None


def test_a_replaced_session_is_a_kind_of_expired_session(store: SessionStore, now: int) -> None:
    from im_core.errors import SessionExpired

    first = login(store, now, cap=1)
    login(store, now + 1, cap=1)

    with pytest.raises(SessionExpired):
        store.touch(first, "heartbeat", now + 2, TTL)


def test_a_flood_of_logins_leaves_only_the_cap_and_every_other_token_replaced(
    store: SessionStore, now: int
) -> None:
    tokens = [login(store, now + i, client_type="pc" if i % 2 else "ios", cap=4)
              for i in range(60)]

    survivors = [t for i, t in enumerate(tokens) if _touchable(store, t, now + 100 + i)]

    assert survivors == tokens[-4:]
    assert store.presence(["alice"], now + 200) == {"alice": Presence(True, "pc", now + 159)}


def _touchable(store: SessionStore, session: SessionToken, at: int) -> bool:
    try:
        return store.touch(session, "heartbeat", at, TTL) is not None
    except SessionReplaced:
        return False


def test_the_cap_counts_only_live_sessions(
    store: SessionStore, now: int, elapse: Callable[[int], None]
) -> None:
    stale = login(store, now, ttl=SHORT_TTL, cap=2)
    elapse(SHORT_TTL * 3 // 2)
    later = now + SHORT_TTL * 3 // 2

    first = login(store, later, cap=2)
    second = login(store, later + 1, cap=2)

    assert store.touch(stale, "heartbeat", later + 2, TTL) is None  # expired, not replaced
    assert store.touch(first, "heartbeat", later + 2, TTL) is not None
    assert store.touch(second, "heartbeat", later + 2, TTL) is not None


def test_the_same_token_created_again_counts_once(store: SessionStore, now: int) -> None:
    other = login(store, now, cap=2)
    again = token()
    for i in range(3):
        store.create(Session(again, "pc", "login", now + 1 + i), TTL, 2)

    assert store.touch(other, "heartbeat", now + 10, TTL) is not None
    assert store.touch(again, "heartbeat", now + 10, TTL) is not None


def test_the_cap_of_one_uid_never_touches_another_uids_sessions(
    store: SessionStore, now: int
) -> None:
    bob = login(store, now, uid="bob", cap=1)
    for i in range(3):
        login(store, now + 1 + i, uid="alice", cap=1)

    assert store.touch(bob, "heartbeat", now + 10, TTL) is not None


def test_a_replaced_session_is_forgotten_after_its_ttl(
    store: SessionStore, now: int, elapse: Callable[[int], None]
) -> None:
    first = login(store, now, ttl=SHORT_TTL, cap=1)
    login(store, now + 1, ttl=SHORT_TTL, cap=1)
    elapse(SHORT_TTL * 3 // 2)

    assert store.touch(first, "heartbeat", now + SHORT_TTL * 3 // 2, TTL) is None


def test_a_replaced_user_with_no_other_session_left_is_still_online_by_the_new_one(
    store: SessionStore, now: int
) -> None:
    login(store, now, client_type="ios", cap=1)
    login(store, now + 5, client_type="pc", cap=1)

    assert store.presence(["alice"], now + 6) == {"alice": Presence(True, "pc", now + 5)}
