"""The ``SessionStore`` contract's fixtures and helpers, shared by its test modules.

Every store judges expiry by the ``now_ms`` it is given. Redis also expires keys by
its own clock, so on Redis alone the tests of expiry let that much real time pass too
(``elapse``: a short TTL, a short sleep); the in-memory store needs only the clock.
The contract is ``test_session_store_contract*.py``: sessions and ping; presence;
the cap on sessions per uid.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from im_adapters.redis_sessions import RedisSessionStore
from im_core.memory import InMemorySessionStore
from im_core.models import Session, SessionToken
from im_core.ports import SessionStore

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
