"""The Redis session store when Redis dies, hangs or holds junk; its keys and round trips.

Outages run against a private ``redis-server`` started on a free loopback port, so
killing or freezing it disturbs nothing else.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from im_adapters import ConfigurationError
from im_adapters.redis_sessions import RedisSessionStore
from im_core.models import Presence, Session, SessionToken
from im_core.ports import SessionStoreUnavailable
from tests.private_redis import PrivateRedis

pytestmark = pytest.mark.redis

TTL = 60_000
BOUND_S = 3.0


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def outage_store(private_redis: PrivateRedis) -> Iterator[RedisSessionStore]:
    store = RedisSessionStore.from_url(private_redis.url, namespace="outage", timeout=0.5)
    try:
        yield store
    finally:
        store.close()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_token(uid: str = "alice") -> SessionToken:
    return SessionToken(uid, secrets.token_urlsafe(16))


def every_call(store: RedisSessionStore, token: SessionToken) -> list[Callable[[], object]]:
    at = now_ms()
    return [
        store.ping,
        lambda: store.create(Session(token, "ios", "login", at), TTL),
        lambda: store.touch(token, "pull", at, TTL),
        lambda: store.delete(token),
        lambda: store.presence([token.uid, "bob"], at),
    ]


def assert_unavailable_quickly(call: Callable[[], object], secret: str) -> None:
    started = time.monotonic()
    with pytest.raises(SessionStoreUnavailable) as caught:
        call()
    assert time.monotonic() - started < BOUND_S
    assert isinstance(caught.value.__cause__, redis.RedisError)
    assert secret not in str(caught.value)


def assert_works(store: RedisSessionStore) -> None:
    """Every call answers, and answers right (no reply left over from before)."""
    store.ping()
    token = new_token("carol")
    at = now_ms()
    store.create(Session(token, "pc", "login", at), TTL)
    assert store.touch(token, "pull", at + 1, TTL) == Session(token, "pc", "pull", at + 1)
    assert store.presence(["carol"], at + 2) == {"carol": Presence(True, "pc", at + 1)}
    store.delete(token)
    assert store.touch(token, "pull", at + 3, TTL) is None


def test_a_killed_redis_makes_every_call_unavailable_quickly_and_the_store_recovers(
    private_redis: PrivateRedis, outage_store: RedisSessionStore
) -> None:
    token = new_token()
    assert_works(outage_store)

    private_redis.kill()
    for call in every_call(outage_store, token):
        assert_unavailable_quickly(call, token.secret)

    private_redis.start()  # same port, empty, without the scripts it had loaded
    assert_works(outage_store)


def test_a_hung_redis_makes_every_call_unavailable_quickly_and_the_store_recovers(
    private_redis: PrivateRedis, outage_store: RedisSessionStore
) -> None:
    token = new_token()
    outage_store.create(Session(token, "ios", "login", now_ms()), TTL)

    private_redis.freeze()
    try:
        for call in every_call(outage_store, token):
            assert_unavailable_quickly(call, token.secret)
    finally:
        private_redis.thaw()

    assert_works(outage_store)
    assert outage_store.touch(token, "pull", now_ms(), TTL) is not None


def test_more_threads_than_connections_share_them_and_every_call_succeeds(
    redis_url: str, redis_namespace: str
) -> None:
    store = RedisSessionStore.from_url(redis_url, namespace=redis_namespace,
                                       max_connections=2)
    threads, calls = 8, 25
    start = threading.Barrier(threads)

    def player(index: int) -> int:
        token, at = new_token(f"p{index}"), now_ms()
        start.wait(timeout=10)
        store.create(Session(token, "ios", "login", at), TTL)
        return sum(store.touch(token, "pull", at + n, TTL) is not None for n in range(calls))

    try:
        with ThreadPoolExecutor(threads) as pool:
            answered = list(pool.map(player, range(threads), timeout=60))
        assert answered == [calls] * threads
    finally:
        store.close()


def test_a_call_that_finds_every_connection_busy_is_unavailable_within_the_timeout(
    private_redis: PrivateRedis,
) -> None:
    store = RedisSessionStore.from_url(private_redis.url, namespace="outage", timeout=0.5,
                                       max_connections=1)
    store.ping()  # the one connection is made
    start = threading.Barrier(2)

    def ping() -> float:
        start.wait(timeout=10)
        began = time.monotonic()
        with pytest.raises(SessionStoreUnavailable):
            store.ping()
        return time.monotonic() - began

    private_redis.freeze()
    try:
        with ThreadPoolExecutor(2) as pool:
            waits = list(pool.map(lambda _: ping(), range(2), timeout=30))
    finally:
        private_redis.thaw()
    try:
        # One thread times out on the frozen Redis, the other on the busy connection
        # (or on Redis, if it got the connection in time): neither hangs.
        assert max(waits) < BOUND_S
        assert_works(store)
    finally:
        store.close()


def test_a_key_of_the_wrong_type_makes_the_store_unavailable_not_crash(
    redis_url: str, redis_namespace: str
) -> None:
    store = RedisSessionStore.from_url(redis_url, namespace=redis_namespace)
    client = redis.Redis.from_url(redis_url)
    try:
        token = new_token()
        client.set(f"{redis_namespace}:{{alice}}:z", "junk")
        with pytest.raises(SessionStoreUnavailable):
            store.create(Session(token, "ios", "login", now_ms()), TTL)
        with pytest.raises(SessionStoreUnavailable):
            store.touch(token, "pull", now_ms(), TTL)
        with pytest.raises(SessionStoreUnavailable):
            store.presence(["alice"], now_ms())
    finally:
        client.close()
        store.close()


def test_every_key_is_namespaced_and_all_keys_of_a_user_share_one_cluster_slot(
    redis_url: str, redis_namespace: str
) -> None:
    store = RedisSessionStore.from_url(redis_url, namespace=redis_namespace)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        at = now_ms()
        tokens = [new_token("alice"), new_token("alice"), new_token("bob.b@x:1")]
        for token in tokens:
            store.create(Session(token, "ios", "login", at), TTL)
            store.touch(token, "pull", at + 1, TTL)

        keys = client.keys(f"{redis_namespace}:*")

        for uid in ("alice", "bob.b@x:1"):
            mine = {k for k in keys if k.startswith(f"{redis_namespace}:{{{uid}}}:")}
            expected = {f"{redis_namespace}:{{{uid}}}:z"} | {
                f"{redis_namespace}:{{{uid}}}:s:{t.digest}" for t in tokens if t.uid == uid
            }
            assert mine == expected
            assert len({key_slot(k.encode()) for k in mine}) == 1
        assert len(keys) == 5
        assert all(client.pttl(k) > 0 for k in keys)
    finally:
        client.close()
        store.close()


def test_each_call_costs_one_round_trip_even_for_a_hundred_users(
    redis_url: str, redis_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisSessionStore.from_url(redis_url, namespace=redis_namespace)
    sends: list[None] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counted(self: redis.connection.AbstractConnection, *args: Any, **kwargs: Any) -> None:
        """Every write of a command (or of a whole pipeline) is one round trip."""
        sends.append(None)
        original(self, *args, **kwargs)

    try:
        token, at = new_token(), now_ms()
        # Connected, handshakes done, every script loaded: steady state is what is counted.
        warm = new_token("warm")
        store.create(Session(warm, "ios", "login", at), TTL)
        store.touch(warm, "pull", at, TTL)
        store.presence(["warm"], at)
        store.delete(warm)
        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
        costs = []
        for call in (
            lambda: store.create(Session(token, "ios", "login", at), TTL),
            lambda: store.touch(token, "pull", at + 1, TTL),
            lambda: store.presence([token.uid, *(f"u{i}" for i in range(99))], at + 2),
            lambda: store.delete(token),
        ):
            sends.clear()
            call()
            costs.append(len(sends))
        assert costs == [1, 1, 1, 1]
    finally:
        store.close()


def test_scripts_redis_lost_are_sent_again_and_cost_one_round_trip_once(
    private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Redis of the test's own: on a shared one, another client may load the script
    # again between the flush and the call.
    store = RedisSessionStore.from_url(private_redis.url, namespace="scripts")
    admin = redis.Redis.from_url(private_redis.url)
    sends: list[None] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counted(self: redis.connection.AbstractConnection, *args: Any, **kwargs: Any) -> None:
        sends.append(None)
        original(self, *args, **kwargs)

    try:
        token, at = new_token(), now_ms()
        store.create(Session(token, "ios", "login", at), TTL)
        admin.script_flush()  # as a restarted or failed-over Redis
        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
        costs = []
        for _ in range(2):
            sends.clear()
            assert store.touch(token, "pull", at + 1, TTL) is not None
            costs.append(len(sends))
        assert costs == [2, 1]  # NOSCRIPT, then EVAL with the text; then cached again
    finally:
        admin.close()
        store.close()


def test_a_url_that_names_no_redis_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        RedisSessionStore.from_url("http://127.0.0.1:6379")


def test_a_namespace_with_braces_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        RedisSessionStore(redis.Redis(), namespace="im{x}")
