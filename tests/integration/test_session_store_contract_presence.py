"""The ``SessionStore`` contract: presence, and no secret kept in the store.

Run against every implementation (``session_store_contract.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from im_core.models import Presence
from im_core.ports import SessionReplaced, SessionStore
from tests.integration.session_store_contract import SHORT_TTL, TTL, absent, login


def test_a_user_with_a_live_session_is_online_with_the_client_and_time_of_its_login(
    store: SessionStore, now: int
) -> None:
    login(store, now, client_type="ios")

    assert store.presence(["alice"], now + 5) == {"alice": Presence(True, "ios", now)}


def test_presence_reports_the_client_and_time_of_the_most_recent_call(
    store: SessionStore, now: int
) -> None:
    phone = login(store, now, client_type="ios")
    desktop = login(store, now + 10, client_type="pc")

    store.touch(phone, "send", now + 20, TTL)
    assert store.presence(["alice"], now + 30) == {"alice": Presence(True, "ios", now + 20)}

    store.touch(desktop, "pull", now + 40, TTL)
    assert store.presence(["alice"], now + 50) == {"alice": Presence(True, "pc", now + 40)}


def test_logging_out_of_one_of_two_sessions_keeps_the_user_online(
    store: SessionStore, now: int
) -> None:
    phone = login(store, now, client_type="ios")
    desktop = login(store, now + 10, client_type="pc")

    store.delete(desktop)

    assert store.presence(["alice"], now + 20) == {"alice": Presence(True, "ios", now)}

    store.delete(phone)

    assert absent(store, "alice", now + 30)


def test_one_expired_session_of_two_keeps_the_user_online(
    store: SessionStore, now: int, elapse: Callable[[int], None]
) -> None:
    login(store, now, client_type="pc", ttl=SHORT_TTL)
    login(store, now, client_type="ios", ttl=TTL)
    elapse(SHORT_TTL * 3 // 2)

    assert store.presence(["alice"], now + SHORT_TTL * 3 // 2) == {
        "alice": Presence(True, "ios", now)
    }


def test_a_user_whose_only_session_expired_has_no_entry(
    store: SessionStore, now: int, elapse: Callable[[int], None]
) -> None:
    login(store, now, ttl=SHORT_TTL)
    elapse(SHORT_TTL * 3 // 2)

    assert absent(store, "alice", now + SHORT_TTL * 3 // 2)


def test_a_logged_out_user_has_no_entry_not_even_its_last_call(
    store: SessionStore, now: int
) -> None:
    alice = login(store, now, client_type="ios")
    store.touch(alice, "send", now + 100, TTL)
    store.delete(alice)

    assert store.presence(["alice"], now + 200) == {}


def test_presence_answers_for_many_users_at_once(store: SessionStore, now: int) -> None:
    uids = [f"player-{i}" for i in range(100)]
    for i, uid in enumerate(uids[::2]):
        login(store, now + i, uid=uid, client_type="pc")

    found = store.presence(uids, now + 1_000)

    assert found == {uid: Presence(True, "pc", now + i) for i, uid in enumerate(uids[::2])}


def test_users_never_seen_have_no_entry(store: SessionStore, now: int) -> None:
    login(store, now)

    found = store.presence(["ghost", "alice", "phantom"], now + 1)

    assert found == {"alice": Presence(True, "ios", now)}


def test_presence_of_no_users_is_empty(store: SessionStore, now: int) -> None:
    assert store.presence([], now) == {}


def test_a_uid_asked_twice_is_answered_once(store: SessionStore, now: int) -> None:
    login(store, now)

    assert store.presence(["alice", "alice"], now + 1) == {"alice": Presence(True, "ios", now)}


def test_no_key_member_or_value_in_the_store_holds_a_session_secret(
    store: SessionStore, now: int, kept_strings: Callable[[], list[str]]
) -> None:
    tokens = [login(store, now + i, uid=uid, cap=2)
              for i, uid in enumerate(["alice", "alice", "alice", "bob"])]
    store.touch(tokens[-1], "heartbeat", now + 10, TTL)
    store.delete(tokens[-2])
    with pytest.raises(SessionReplaced):
        store.touch(tokens[0], "heartbeat", now + 11, TTL)

    kept = kept_strings()

    live = [tokens[1], tokens[3]]
    assert all(any(t.digest in k for k in kept) for t in live), "the probe sees the store"
    leaked = [t.secret for t in tokens if any(t.secret in k for k in kept)]
    assert leaked == []
