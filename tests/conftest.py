"""Fixtures shared by every test: the real services, each in a space of its own.

The real Redis, PostgreSQL and MariaDB are named by ``IM_TEST_REDIS_URL``,
``IM_TEST_POSTGRES_URL`` and ``IM_TEST_MYSQL_URL`` (defaults: the loopback services of
the development machine). A test run creates its own databases and drops them
afterwards, and puts its Redis keys under a namespace of its own, so runs never see
each other's data. An unreachable service skips its tests with the reason, unless
``IM_REQUIRE_SERVICES=1`` (set by ``.ci/run``): then it fails them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from im_adapters.sql.admin import create_database, drop_database

if TYPE_CHECKING:
    from im_adapters.sql import SqlMailbox

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
