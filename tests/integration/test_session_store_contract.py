"""The ``SessionStore`` contract, run against every implementation.

Every store judges expiry by the ``now_ms`` it is given. Redis also expires keys by
its own clock, so on Redis alone the tests of expiry let that much real time pass too
(``elapse``: a short TTL, a short sleep); the in-memory store needs only the clock.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from im_adapters.redis_sessions import RedisSessionStore
from im_core.errors import SessionExpired
from im_core.memory import InMemorySessionStore
from im_core.models import Presence, Session, SessionToken
from im_core.ports import (
    SessionEnded,
    SessionReplaced,
    SessionStore,
    SessionStoreUnavailable,
)

TTL = 60_000
SHORT_TTL = 200


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis),
                        pytest.param("redis-cluster", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> Iterator[SessionStore]:
    """Each implementation of the port; Redis (one, or a cluster) in a namespace of its own.

    ``redis_namespace`` deletes the namespace's keys after the test.
    """
    if request.param == "memory":
        yield InMemorySessionStore()
        return
    if request.param == "redis-cluster":
        redis_url: str = request.getfixturevalue("redis_cluster_url")
        namespace: str = request.getfixturevalue("redis_cluster_namespace")
    else:
        redis_url = request.getfixturevalue("redis_url")
        namespace = request.getfixturevalue("redis_namespace")
    redis_store = RedisSessionStore.from_url(redis_url, namespace=namespace)
    try:
        yield redis_store
    finally:
        redis_store.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def unreachable_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionStore]:
    """Each implementation with nothing behind it: switched off, or a socket never made."""
    if request.param == "memory":
        down = InMemorySessionStore()
        down.down = True
        yield down
        return
    nowhere = RedisSessionStore.from_url(f"unix://{tmp_path}/no-redis.sock", timeout=0.5)
    try:
        yield nowhere
    finally:
        nowhere.close()


@pytest.fixture
def elapse(store: SessionStore) -> Callable[[int], None]:
    """Let ``ms`` pass where the store's own clock needs it: in Redis, not in memory.

    Tests pass the advanced time as ``now_ms`` themselves; this only lets Redis'
    key TTLs, which run on real time, keep up with it.
    """
    if isinstance(store, RedisSessionStore):
        return lambda ms: time.sleep(ms / 1000)
    return lambda ms: None


@pytest.fixture
def now() -> int:
    """The wall clock in ms: Redis expires keys by real time, so the test starts there."""
    return time.time_ns() // 1_000_000


@pytest.fixture
def kept_strings(request: pytest.FixtureRequest, store: SessionStore) -> Callable[[], list[str]]:
    """Everything the store holds, as strings: what a dump of it would show.

    Redis: every key of the namespace, and every field, member and value under it.
    Memory: every string, key and attribute reachable from the store object.
    """
    if isinstance(store, RedisSessionStore):
        import redis

        if request.node.callspec.params.get("store") == "redis-cluster":
            cluster = request.getfixturevalue("redis_cluster")
            namespace: str = request.getfixturevalue("redis_cluster_namespace")
            clients = [redis.Redis(port=port, decode_responses=True) for port in cluster.ports]
        else:
            namespace = request.getfixturevalue("redis_namespace")
            clients = [redis.Redis.from_url(request.getfixturevalue("redis_url"),
                                            decode_responses=True)]
        for client in clients:
            request.addfinalizer(client.close)

        def in_redis() -> list[str]:
            found: list[str] = []
            for client in clients:  # on a cluster, every master holds some keys
                for key in client.scan_iter(match=f"{namespace}:*"):
                    found.append(key)
                    kind = client.type(key)
                    if kind == "hash":
                        for field, value in client.hgetall(key).items():
                            found += [field, value]
                    elif kind == "zset":
                        found += [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
                    elif kind == "string":
                        found.append(client.get(key))
                    else:
                        found.append(f"unexpected {kind} at {key}")
            return found

        return in_redis

    def in_memory() -> list[str]:
        found: list[str] = []
        seen: set[int] = set()

        def walk(value: Any) -> None:
            if id(value) in seen:
                return
            seen.add(id(value))
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, dict):
                for k, v in value.items():
                    walk(k)
                    walk(v)
            elif isinstance(value, list | tuple | set | frozenset):
                for item in value:
                    walk(item)
            elif hasattr(value, "__slots__") or hasattr(value, "__dict__"):
                names = list(getattr(value, "__dict__", {}))
                for cls in type(value).__mro__:
                    names += [n for n in getattr(cls, "__slots__", ()) if isinstance(n, str)]
                for name in names:
                    walk(getattr(value, name, None))

        walk(store)
        return found

    return in_memory


def token(uid: str = "alice") -> SessionToken:
    return SessionToken(uid, secrets.token_urlsafe(16))


def login(
    store: SessionStore, at: int, uid: str = "alice", client_type: str = "ios", ttl: int = TTL,
    cap: int = 8,
) -> SessionToken:
    new = token(uid)
    store.create(Session(new, client_type, "login", at), ttl, cap)
    return new


def absent(store: SessionStore, uid: str, at: int) -> bool:
    """Whether ``uid`` has no presence entry: no live session, nothing remembered."""
    return store.presence([uid], at) == {}


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


# ------------------------------------------------------------ login policies, end_all


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
