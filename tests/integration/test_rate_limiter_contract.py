"""The ``RateLimiter`` contract, run against the in-memory and the Redis limiter."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from im_adapters.redis_limits import RedisRateLimiter
from im_core.memory import InMemoryRateLimiter
from im_core.ports import RateLimiter, RateLimiterUnavailable

IMPLEMENTATIONS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]
NOW = 1_700_000_000_000


@pytest.fixture(params=IMPLEMENTATIONS)
def limiter(request: pytest.FixtureRequest) -> Iterator[RateLimiter]:
    if request.param == "memory":
        yield InMemoryRateLimiter()
        return
    made = RedisRateLimiter.from_url(request.getfixturevalue("redis_url"),
                                     namespace=request.getfixturevalue("redis_namespace"))
    yield made
    made.close()


@pytest.fixture
def key() -> str:
    return f"send:player-{secrets.token_hex(4)}"


def test_a_burst_up_to_the_limit_is_allowed_and_the_next_hit_is_refused(
    limiter: RateLimiter, key: str
) -> None:
    assert [limiter.hit(key, 5, 10_000, NOW) for _ in range(5)] == [0] * 5
    assert limiter.hit(key, 5, 10_000, NOW) == 2_000


def test_a_refused_hit_counts_nothing(limiter: RateLimiter, key: str) -> None:
    for _ in range(3):
        limiter.hit(key, 3, 3_000, NOW)
    assert [limiter.hit(key, 3, 3_000, NOW + 500) for _ in range(10)] == [500] * 10
    assert limiter.hit(key, 3, 3_000, NOW + 1_000) == 0


def test_one_hit_is_earned_back_every_window_divided_by_the_limit(
    limiter: RateLimiter, key: str
) -> None:
    for _ in range(4):
        limiter.hit(key, 4, 1_000, NOW)
    assert limiter.hit(key, 4, 1_000, NOW + 249) == 1
    assert limiter.hit(key, 4, 1_000, NOW + 250) == 0
    assert limiter.hit(key, 4, 1_000, NOW + 250) == 250
    # A steady pace at the rate is never refused.
    assert all(limiter.hit(key, 4, 1_000, NOW + 250 * k) == 0 for k in range(2, 40))


def test_after_a_quiet_window_the_whole_burst_is_back(limiter: RateLimiter, key: str) -> None:
    for _ in range(10):
        limiter.hit(key, 10, 60_000, NOW)
    assert limiter.hit(key, 10, 60_000, NOW) > 0
    assert [limiter.hit(key, 10, 60_000, NOW + 60_000) for _ in range(10)] == [0] * 10


def test_keys_are_limited_independently(limiter: RateLimiter, key: str) -> None:
    limiter.hit(key, 1, 60_000, NOW)
    assert limiter.hit(key, 1, 60_000, NOW) == 60_000
    assert limiter.hit(key + "-other", 1, 60_000, NOW) == 0
    assert limiter.hit("login@2001:db8::/64", 1, 60_000, NOW) == 0


def test_a_window_that_does_not_divide_evenly_never_allows_more_than_the_limit_at_once(
    limiter: RateLimiter, key: str
) -> None:
    allowed = sum(limiter.hit(key, 7, 10, NOW) == 0 for _ in range(20))
    assert allowed == 7


def test_racing_hits_are_counted_once_each(limiter: RateLimiter, key: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: limiter.hit(key, 25, 60_000, NOW), range(80)))
    assert results.count(0) == 25


def test_ping_answers(limiter: RateLimiter) -> None:
    assert limiter.ping() is None


def test_the_memory_limiter_forgets_buckets_that_have_refilled() -> None:
    limiter = InMemoryRateLimiter()
    for n in range(100):
        limiter.hit(f"k{n}", 2, 1_000, NOW)
    assert len(limiter) == 100
    limiter.hit("later", 2, 1_000, NOW + 1_000)
    assert len(limiter) == 1


@pytest.mark.redis
def test_a_redis_bucket_expires_when_it_has_refilled(redis_url: str, redis_namespace: str
                                                     ) -> None:
    limiter = RedisRateLimiter.from_url(redis_url, namespace=redis_namespace)
    client = redis.Redis.from_url(redis_url)
    try:
        limiter.hit("send:alice", 20, 10_000, NOW)
        limiter.hit("send:alice", 20, 10_000, NOW)
        key = f"{redis_namespace}:{{send:alice}}:rl"
        assert 0 < client.pttl(key) <= 1_000
    finally:
        limiter.close()
        client.close()


@pytest.mark.redis
def test_a_redis_limiter_survives_a_script_flush(redis_url: str, redis_namespace: str) -> None:
    limiter = RedisRateLimiter.from_url(redis_url, namespace=redis_namespace)
    client = redis.Redis.from_url(redis_url)
    try:
        assert limiter.hit("send:bob", 1, 1_000, NOW) == 0
        client.script_flush()
        assert limiter.hit("send:bob", 1, 1_000, NOW) == 1_000
    finally:
        limiter.close()
        client.close()


def test_a_redis_limiter_that_cannot_connect_is_unavailable_in_bounded_time() -> None:
    limiter = RedisRateLimiter.from_url("redis://127.0.0.1:1/0", timeout=0.2)
    with pytest.raises(RateLimiterUnavailable) as raised:
        limiter.hit("send:alice", 1, 1_000, NOW)
    assert "alice" not in str(raised.value)
    with pytest.raises(RateLimiterUnavailable):
        limiter.ping()


@pytest.mark.redis
def test_two_nodes_on_one_redis_share_a_players_limit(redis_url: str, redis_namespace: str
                                                      ) -> None:
    nodes = [RedisRateLimiter.from_url(redis_url, namespace=redis_namespace) for _ in range(2)]
    try:
        allowed = [nodes[n % 2].hit("send:carol", 4, 60_000, NOW) == 0 for n in range(10)]
        assert allowed.count(True) == 4
    finally:
        for node in nodes:
            node.close()


@pytest.mark.redis
def test_the_composition_root_counts_limits_in_redis_when_sessions_are_there(
    redis_url: str,
) -> None:
    from im_http.serving.bootstrap import build_service
    from im_http.serving.settings import Settings

    settings = Settings.from_env({"IM_SESSION_STORE_URL": redis_url,
                                  "IM_DATABASE_URL": "memory://",
                                  "IM_GAME_AUTH_JWT_SECRET": "x" * 32})
    built = [build_service(settings) for _ in range(2)]
    try:
        assert all(isinstance(b.service.limiter, RedisRateLimiter) for b in built)
        key = f"send:shared-{secrets.token_hex(4)}"
        first, second = (b.service.limiter for b in built)
        assert first.hit(key, 1, 1_000, NOW) == 0
        assert second.hit(key, 1, 1_000, NOW) == 1_000
    finally:
        for b in built:
            b.close()
