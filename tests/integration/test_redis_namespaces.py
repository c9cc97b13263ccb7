"""Two deployments on one Redis never meet: every key and channel starts with its namespace.

Each deployment is built as ``im-server`` builds it (``build_service`` from
``Settings``) with its own ``IM_REDIS_NAMESPACE``, and serves a real session of
traffic over its HTTP app: logins (counted per uid and per address), heartbeats, a
long-poll held across a send, sends up to and beyond the rate limit, presence and
logout. The Redis is the test's own (a private ``redis-server``, or a private
three-node Cluster), so every key (``SCAN``) and every pub/sub channel (``PUBSUB
CHANNELS`` / ``PUBSUB SHARDCHANNELS``, read while the long-polls are held) is the
deployments', and each must start with one of the two namespaces.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
import redis

from im_adapters.game_auth import mint_game_token
from im_adapters.redis_signals import RedisInboxSignals
from im_core.limits import RateLimit
from im_http.api.app import create_app
from im_http.serving.bootstrap import Built, build_service
from im_http.serving.settings import Settings
from tests.conftest import start_redis_cluster
from tests.private_redis import PrivateRedis

pytestmark = pytest.mark.redis

SECRET = "a-test-secret-that-is-long-enough-for-hs256!"
NAMESPACES = ("deploy-a", "deploy-b")
SENDS_ALLOWED = 3


class Deployment:
    """One ``im-server`` deployment's service and HTTP app, on the shared Redis."""

    def __init__(self, url: str, namespace: str) -> None:
        settings = Settings(session_store_url=url, redis_namespace=namespace,
                            database_url="memory://", game_auth_jwt_secret=SECRET,
                            rate_sends=RateLimit(SENDS_ALLOWED, 60_000),
                            storage_timeout=2.0)
        self.namespace = namespace
        self.built: Built = build_service(settings)
        self.client = falcon.testing.TestClient(
            create_app(self.built.service, heartbeat_interval=2, access_log=False))

    def call(self, method: str, path: str, token: str | None = None,
             json: Any = None) -> falcon.testing.Result:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.simulate_request(method, path, json=json, headers=headers,
                                            remote_addr="203.0.113.7")

    def login(self, uid: str) -> str:
        result = self.call("POST", "/v1/login", json={
            "uid": uid, "game_token": mint_game_token(SECRET, uid), "client_type": "pc"})
        assert result.status_code == 200, result.json
        token: str = result.json["token"]
        return token

    def waiting(self) -> int:
        signals = self.built.service.signals
        assert isinstance(signals, RedisInboxSignals)
        return signals.local.waiting()


def traffic_until_held(deployment: Deployment, pool: ThreadPoolExecutor
                       ) -> tuple[Future[falcon.testing.Result], str, str]:
    """A session of traffic, ending with Bob's long-poll held; returns it and the tokens."""
    alice, bob = deployment.login("alice"), deployment.login("bob")
    assert deployment.call("POST", "/v1/heartbeat", bob, {}).status_code == 200
    assert deployment.call("PUT", "/v1/contacts/bob", alice).status_code == 204
    presence = deployment.call("GET", "/v1/presence?uid=bob", alice)
    assert presence.status_code == 200, presence.json
    held = pool.submit(deployment.call, "POST", "/v1/heartbeat", bob, {"wait": 5})
    deadline = time.monotonic() + 5
    while deployment.waiting() < 1:
        assert time.monotonic() < deadline, "the long-poll was not held"
        time.sleep(0.01)
    return held, alice, bob


def finish_traffic(deployment: Deployment, held: Future[falcon.testing.Result],
                   alice: str, bob: str) -> None:
    """Wake the long-poll with a send, go over the send limit, and log out."""
    sent = deployment.call("POST", "/v1/messages", alice, {"to": "bob", "body": "hi"})
    assert sent.status_code == 201, sent.json
    woken = held.result(timeout=10)
    assert woken.status_code == 200
    assert [m["body"] for m in woken.json["messages"]] == ["hi"]
    for n in range(SENDS_ALLOWED - 1):
        assert deployment.call("POST", "/v1/messages", alice,
                               {"to": "bob", "body": f"{n}"}).status_code == 201
    limited = deployment.call("POST", "/v1/messages", alice, {"to": "bob", "body": "over"})
    assert limited.status_code == 429, limited.json
    assert deployment.call("POST", "/v1/logout", bob).status_code == 204


def run_and_scan(url: str, nodes: list[redis.Redis], channels_command: str) -> None:
    """Run both deployments' traffic on the Redis of ``nodes``; check every key and channel."""
    deployments = [Deployment(url, namespace) for namespace in NAMESPACES]
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            sessions = [traffic_until_held(d, pool) for d in deployments]
            channels = {_text(c) for node in nodes
                        for c in node.execute_command("PUBSUB", channels_command)}
            for deployment, (held, alice, bob) in zip(deployments, sessions, strict=True):
                finish_traffic(deployment, held, alice, bob)
        keys = {_text(k) for node in nodes for k in node.scan_iter(count=1000)}
    finally:
        for deployment in deployments:
            deployment.built.close()
    for namespace in NAMESPACES:
        # What the traffic must have written: sessions, rate-limit buckets, ring channels.
        assert {f"{namespace}:{{alice}}:z", f"{namespace}:{{send:alice}}:rl",
                f"{namespace}:{{login:alice}}:rl"} <= keys, sorted(keys)
        assert any(k.startswith(f"{namespace}:{{login@") for k in keys), sorted(keys)
        assert {f"{namespace}:ring:{{{n}}}" for n in range(16)} <= channels, sorted(channels)
    stray = {name for name in keys | channels
             if not name.startswith(tuple(f"{ns}:" for ns in NAMESPACES))}
    assert not stray, f"keys or channels outside both namespaces: {sorted(stray)}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_two_namespaces_on_one_redis_keep_every_key_and_channel_apart(
    private_redis: PrivateRedis,
) -> None:
    node = redis.Redis(port=private_redis.port, socket_timeout=5)
    try:
        run_and_scan(private_redis.url, [node], "CHANNELS")
    finally:
        node.close()


def test_two_namespaces_on_one_redis_cluster_keep_every_key_and_channel_apart(
    tmp_path: Path,
) -> None:
    cluster = start_redis_cluster(tmp_path)
    nodes = [redis.Redis(port=port, socket_timeout=5) for port in cluster.ports]
    try:
        run_and_scan(cluster.url, nodes, "SHARDCHANNELS")
    finally:
        for node in nodes:
            node.close()
        cluster.stop()


def test_the_scan_would_see_a_key_outside_the_namespaces(private_redis: PrivateRedis) -> None:
    """The check above can fail: a limiter built without the namespace is caught."""
    from im_adapters.redis_limits import RedisRateLimiter

    limiter = RedisRateLimiter.from_url(private_redis.url)  # the default namespace, "im"
    node = redis.Redis(port=private_redis.port, socket_timeout=5)
    try:
        limiter.hit("login:alice", 5, 60_000, int(time.time() * 1000))
        with pytest.raises(AssertionError, match="outside both namespaces"):
            run_and_scan(private_redis.url, [node], "CHANNELS")
    finally:
        limiter.close()
        node.close()

