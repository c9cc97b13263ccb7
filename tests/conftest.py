"""Fixtures shared by every test: the real services, each in a space of its own.

The real Redis, PostgreSQL and MariaDB are named by ``IM_TEST_REDIS_URL``,
``IM_TEST_POSTGRES_URL`` and ``IM_TEST_MYSQL_URL`` (defaults: the loopback services of
the development machine). A test run creates its own databases and drops them
afterwards, and puts its Redis keys under a namespace of its own, so runs never see
each other's data. An unreachable service skips its tests with the reason, unless
``IM_REQUIRE_SERVICES=1`` (set by ``.ci/run``): then it fails them.

A Redis Cluster is not a service of the machine: the run starts its own, three
masters of ``redis-server`` on free loopback ports (``redis_cluster_url``). So is a
Galera cluster (``galera``, three ``mariadbd``; ``tests/galera.py``), started only by
the tests that ask for it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from bench.processes import free_port
from im_adapters.sql.admin import create_database, drop_database

if TYPE_CHECKING:
    from im_adapters.sql import SqlMailbox
    from tests.galera import GaleraCluster

REDIS_URL = os.environ.get("IM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "IM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("IM_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REQUIRE_SERVICES = os.environ.get("IM_REQUIRE_SERVICES") == "1"


def unreachable(service: str, error: BaseException) -> None:
    """Skip (or, when services are required, fail) a test whose service is down."""
    reason = f"{service} is not reachable: {type(error).__name__}: {error}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (IM_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a reachable Redis."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        unreachable("Redis", error)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_namespace(redis_url: str) -> Iterator[str]:
    """A key prefix no other test or run uses; its keys are deleted afterwards."""
    import redis

    namespace = f"imtest-{secrets.token_hex(4)}"
    yield namespace
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class RedisCluster:
    """Three ``redis-server`` masters made into one cluster, in a directory of its own.

    With ``replicas=1``, each master has a replica (six nodes), and a short
    ``cluster-node-timeout`` makes a dead master's replica take over within seconds.
    Each node also listens on its cluster bus, port + 10000, so a port is only taken
    when both are free.
    """

    MASTERS = 3

    def __init__(self, directory: Path, *, replicas: int = 0,
                 node_timeout_ms: int = 15000) -> None:
        self.directory = directory
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.ports: list[int] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def start(self, timeout_s: float = 20.0) -> None:
        """Start the nodes, join them, and wait until every one says the cluster is ok.

        Raises:
            RuntimeError: a node did not start, or the cluster did not form in time.
        """
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            raise FileNotFoundError("redis-server or redis-cli is not on PATH")
        deadline = time.monotonic() + timeout_s
        self.ports = _cluster_ports(self.MASTERS * (1 + self.replicas))
        self.processes = [self._spawn(server, port) for port in self.ports]
        for port in self.ports:
            self._wait(deadline, lambda p=port: self._cli(cli, p, "PING") == "PONG")
        create = subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            capture_output=True, text=True, timeout=max(deadline - time.monotonic(), 1))
        if create.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {create.stdout[-2000:]}"
                               f"{create.stderr[-2000:]}")
        for port in self.ports:
            self._wait(deadline, lambda p=port: "cluster_state:ok" in self._cli(
                cli, p, "CLUSTER", "INFO"))
        if self.replicas:
            self._wait(deadline, lambda: len(self.masters()) == self.MASTERS and all(
                "master_link_status:up" in self._cli(cli, p, "INFO", "replication")
                for p in self.ports if p not in self.masters()))

    def masters(self) -> list[int]:
        """The ports of the nodes that are masters now (as node 0, or the first
        node alive, sees the cluster)."""
        cli = shutil.which("redis-cli") or "redis-cli"
        for port, process in zip(self.ports, self.processes, strict=True):
            if process.poll() is None:
                lines = self._cli(cli, port, "CLUSTER", "NODES").splitlines()
                return sorted(int(line.split()[1].split(":")[1].split("@")[0])
                              for line in lines
                              if "master" in line.split()[2] and "fail" not in line.split()[2])
        return []

    def replica_of(self, port: int) -> int:
        """The index of the node that replicates master ``port``."""
        cli = shutil.which("redis-cli") or "redis-cli"
        lines = [line.split() for line in self._cli(cli, port, "CLUSTER", "NODES").splitlines()]
        (master_id,) = [f[0] for f in lines if f[1].split("@")[0].endswith(f":{port}")]
        (replica,) = [int(f[1].split(":")[1].split("@")[0]) for f in lines if f[3] == master_id]
        return self.ports.index(replica)

    def wait_ok(self, timeout_s: float = 30.0) -> None:
        """Wait until every live node says the cluster is ok (after a failover)."""
        cli = shutil.which("redis-cli") or "redis-cli"
        deadline = time.monotonic() + timeout_s
        for port, process in zip(self.ports, self.processes, strict=True):
            if process.poll() is None:
                self._wait(deadline, lambda p=port: "cluster_state:ok" in self._cli(
                    cli, p, "CLUSTER", "INFO"), tolerate_dead=True)

    def _spawn(self, server: str, port: int) -> subprocess.Popen[bytes]:
        log = open(self.directory / f"redis-{port}.log", "ab")  # noqa: SIM115
        try:
            return subprocess.Popen(
                [server, "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                 "--cluster-node-timeout", str(self.node_timeout_ms),
                 "--save", "", "--appendonly", "no", "--dir", str(self.directory),
                 "--daemonize", "no"],
                cwd=self.directory, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        finally:
            log.close()

    def kill(self, index: int) -> None:
        """Kill node ``index`` at once, as a crash would."""
        self.processes[index].kill()
        self.processes[index].wait(timeout=5)

    def restart(self, index: int, timeout_s: float = 20.0) -> None:
        """Start node ``index`` again, empty (no scripts, no keys) but with its slots."""
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        assert server is not None and cli is not None
        port = self.ports[index]
        self.processes[index] = self._spawn(server, port)
        deadline = time.monotonic() + timeout_s
        for other in self.ports:
            self._wait(deadline, lambda p=other: "cluster_state:ok" in self._cli(
                cli, p, "CLUSTER", "INFO"))

    def stop(self) -> None:
        """End every node by its pid: politely, then by force."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def _wait(self, deadline: float, ready: Callable[[], bool], *,
              tolerate_dead: bool = False) -> None:
        while not ready():
            for process in [] if tolerate_dead else self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a cluster node exited ({process.returncode}); "
                                       f"logs in {self.directory}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Redis Cluster did not form; logs in {self.directory}")
            time.sleep(0.05)

    @staticmethod
    def _cli(cli: str, port: int, *command: str) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return subprocess.run([cli, "-h", "127.0.0.1", "-p", str(port), *command],
                                  capture_output=True, text=True, timeout=2).stdout.strip()
        return ""


def _cluster_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports whose bus ports (port + 10000) are free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port + 10000 <= 65535 and port not in ports and _is_free(port + 10000):
            ports.append(port)
    return ports


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_redis_cluster(directory: Path, **options: Any) -> RedisCluster:
    """A running 3-master Redis Cluster in ``directory``; skips (or fails) if it cannot.

    ``options`` go to ``RedisCluster`` (``replicas=1``, ``node_timeout_ms``)."""
    cluster = RedisCluster(directory, **options)
    try:
        cluster.start()
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        cluster.stop()
        unreachable("a private Redis Cluster", error)
    return cluster


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster of this run's own, stopped at the end of the run."""
    cluster = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_cluster_url(redis_cluster: RedisCluster) -> str:
    """``redis+cluster://`` naming the first node of this run's cluster."""
    return redis_cluster.url


@pytest.fixture
def redis_cluster_namespace(redis_cluster: RedisCluster) -> Iterator[str]:
    """A key prefix of the test's own on the cluster; its keys are deleted afterwards."""
    import redis

    namespace = f"imtest-{secrets.token_hex(4)}"
    yield namespace
    for port in redis_cluster.ports:  # every node is a master: each holds some keys
        client = redis.Redis(port=port, socket_timeout=2)
        try:
            for key in client.scan_iter(match=f"{namespace}:*", count=1000):
                client.delete(key)  # one by one: the keys are in different slots
        except redis.RedisError:
            pass  # a node a test stopped on purpose has nothing left to clean
        finally:
            client.close()


@pytest.fixture(scope="session")
def galera() -> Iterator[GaleraCluster]:
    """A 3-node MariaDB Galera cluster of this run's own, stopped at the end of the run."""
    import tempfile

    from tests.galera import GaleraCluster

    # Not under tmp_path: the nodes run as ``mysql`` when the run is root's, and
    # pytest's base directory is private to its owner.
    directory = Path(tempfile.mkdtemp(prefix="im-galera-"))
    cluster = GaleraCluster(directory)
    try:
        cluster.start()
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        cluster.stop()
        unreachable("a private Galera cluster", error)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _scratch_database(server_url: str, service: str) -> Iterator[str]:
    """Create an empty database on ``server_url``'s server; drop it afterwards."""
    try:
        database_url = create_database(server_url, prefix="im_test")
    except sa.exc.SQLAlchemyError as error:
        unreachable(service, error)
    try:
        yield database_url
    finally:
        drop_database(server_url, database_url)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    yield from _scratch_database(POSTGRES_URL, "PostgreSQL")


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """The URL of a new, empty MariaDB/MySQL database, dropped after the test."""
    yield from _scratch_database(MYSQL_URL, "MariaDB")


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    """The URL of a new SQLite file."""
    return f"sqlite:///{tmp_path}/im.sqlite3"


@pytest.fixture
def sql_mailbox(request: pytest.FixtureRequest) -> Iterator[Callable[..., SqlMailbox]]:
    """Make ``SqlMailbox``es as im-server builds them, migrated to head; closed afterwards.

    ``make("postgres")`` (or ``"sqlite"``, ``"mysql"``) uses that backend's scratch
    database; ``"postgres-sqlalchemy"`` picks the SQLAlchemy executor instead of the
    direct one. Other keywords go to ``SqlMailbox.from_url`` (``timeout=...``).
    """
    from im_adapters.sql import SqlMailbox, upgrade_to_head

    made: list[SqlMailbox] = []

    def make(database: str, **kwargs: Any) -> SqlMailbox:
        backend, _, executor = database.partition("-")
        if executor:
            kwargs["executor"] = executor
        box = SqlMailbox.from_url(request.getfixturevalue(f"{backend}_url"), **kwargs)
        made.append(box)
        upgrade_to_head(box.engine)
        return box

    yield make
    for box in made:
        box.close()
