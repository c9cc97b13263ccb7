"""The ``SessionStore`` contract: login policies and ``end_all``, on every implementation.

The implementations, fixtures and helpers are in ``session_store_contract.py``.
"""

from __future__ import annotations

import pytest

from im_core.errors import SessionExpired
from im_core.models import Session
from im_core.ports import SessionEnded, SessionReplaced, SessionStore
from tests.integration.session_store_contract import TTL, absent, login, token


def test_with_many_a_login_replaces_nothing_below_the_cap(store: SessionStore, now: int) -> None:
    first = login(store, now)
    second = token()
    assert store.create(Session(second, "ios", "login", now + 1), TTL, 8, "many") == 0
    assert store.touch(first, "heartbeat", now + 2, TTL) is not None


def test_one_per_client_type_replaces_the_older_login_of_that_type_only(
    store: SessionStore, now: int
) -> None:
    phone, desktop = login(store, now, client_type="ios"), login(store, now + 1, client_type="pc")
    newer = token()
    replaced = store.create(Session(newer, "ios", "login", now + 2), TTL, 8,
                            "one-per-client-type")
    assert replaced == 1
    with pytest.raises(SessionReplaced):
        store.touch(phone, "heartbeat", now + 3, TTL)
    assert store.touch(desktop, "heartbeat", now + 3, TTL) is not None
    assert store.touch(newer, "heartbeat", now + 3, TTL) is not None


def test_single_replaces_every_other_session_of_the_uid_and_no_other_uid(
    store: SessionStore, now: int
) -> None:
    mine = [login(store, now + i, client_type=kind) for i, kind in enumerate(("ios", "pc"))]
    bobs = login(store, now, uid="bob")
    newer = token()
    assert store.create(Session(newer, "web", "login", now + 5), TTL, 8, "single") == 2
    for old in mine:
        with pytest.raises(SessionReplaced):
            store.touch(old, "heartbeat", now + 6, TTL)
    assert store.touch(newer, "heartbeat", now + 6, TTL) is not None
    assert store.touch(bobs, "heartbeat", now + 6, TTL) is not None


def test_end_all_ends_every_session_of_the_uid_as_ended_and_counts_them(
    store: SessionStore, now: int
) -> None:
    mine = [login(store, now + i, client_type=kind) for i, kind in enumerate(("ios", "pc"))]
    bobs = login(store, now, uid="bob")
    assert store.end_all("alice", now + 5, TTL) == 2
    for old in mine:
        with pytest.raises(SessionEnded):
            store.touch(old, "heartbeat", now + 6, TTL)
    assert absent(store, "alice", now + 6)
    assert store.touch(bobs, "heartbeat", now + 6, TTL) is not None
    assert store.end_all("alice", now + 7, TTL) == 0


def test_an_ended_session_is_a_kind_of_expired_session_and_a_new_login_works(
    store: SessionStore, now: int
) -> None:
    old = login(store, now)
    store.end_all("alice", now + 1, TTL)
    with pytest.raises(SessionExpired):
        store.touch(old, "heartbeat", now + 2, TTL)
    fresh = login(store, now + 3)
    assert store.touch(fresh, "heartbeat", now + 4, TTL) is not None
