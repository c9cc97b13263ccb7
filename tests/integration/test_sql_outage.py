"""The SQL mailbox when the database is away, killed, locked or misconfigured.

Every failure must surface as ``MailboxUnavailable`` within a bounded time, leave
nothing half-written, and heal by itself once the database answers again.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from im_adapters import ConfigurationError
from im_adapters.sql import (
    MissingDriver,
    SchemaOutOfDate,
    SqlMailbox,
    create_engine_from_url,
    ensure_schema_current,
    upgrade_to_head,
)
from im_core.ports import MailboxUnavailable

SERVERS = [
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def server_url(request: pytest.FixtureRequest, server: str) -> str:
    url: str = request.getfixturevalue(f"{server}_url")
    return url


@pytest.fixture
def mailbox(server: str, sql_mailbox: Callable[..., SqlMailbox]) -> SqlMailbox:
    box = sql_mailbox(server, timeout=2)
    for uid in ("alice", "bob"):
        box.record_login(uid, "pc", 1)
    return box


def other_sessions(url: str, where: str = "") -> list[int]:
    """Server-side ids of the sessions connected to ``url``'s database but this one."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                query = (
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            else:
                query = (
                    "SELECT id FROM information_schema.processlist"
                    " WHERE db = DATABASE() AND id <> CONNECTION_ID()"
                )
            return list(conn.execute(sa.text(query + where)).scalars())
    finally:
        engine.dispose()


def kill(url: str, sessions: list[int]) -> None:
    """End the given server sessions, as a restart or an idle-connection reaper would."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for session in sessions:
                if engine.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": session})
                else:
                    conn.exec_driver_sql(f"KILL {int(session)}")
    finally:
        engine.dispose()


def within(seconds: float, call: Callable[[], object]) -> BaseException:
    """Run ``call``; return what it raised, failing if it did not raise in time."""
    started = time.monotonic()
    with pytest.raises(MailboxUnavailable) as raised:
        call()
    assert time.monotonic() - started < seconds
    return raised.value


# --- an unreachable database ------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_an_unreachable_server_is_unavailable_quickly(scheme: str) -> None:
    box = SqlMailbox.from_url(f"{scheme}://root@127.0.0.1:{closed_port()}/test", timeout=2)
    try:
        within(5, box.ping)
        within(5, lambda: box.send("alice", "bob", "hi", None, 1))
        within(5, lambda: box.pull("bob", 3, 10))
        with pytest.raises(MailboxUnavailable):
            ensure_schema_current(box.engine)
        with pytest.raises(MailboxUnavailable):
            upgrade_to_head(box.engine)
    finally:
        box.close()


def test_an_unopenable_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    box = SqlMailbox.from_url(f"sqlite:///{tmp_path}/missing/dir/im.sqlite3", timeout=1)
    try:
        within(5, box.ping)
        within(5, lambda: box.record_login("alice", "pc", 1))
    finally:
        box.close()


# --- connections killed by the server ------------------------------------------------


def test_pooled_connections_killed_by_the_server_are_replaced(
    mailbox: SqlMailbox, server_url: str
) -> None:
    # Fill the pool with a few connections, then have the server end all of them.
    with mailbox.engine.connect(), mailbox.engine.connect(), mailbox.engine.connect():
        pass
    killed = other_sessions(server_url)
    assert len(killed) >= 3
    kill(server_url, killed)

    message, created = mailbox.send("alice", "bob", "after the restart", None, 2)
    assert created
    assert mailbox.pull("bob", None, 10).messages == (message,)
    with ThreadPoolExecutor(3) as pool:
        assert all(pool.map(lambda _: mailbox.known_users(["alice"]), range(6)))


@pytest.mark.parametrize("first_call", ["pull", "ack", "history", "send-with-key"])
def test_the_first_call_after_the_server_killed_the_pool_succeeds(
    mailbox: SqlMailbox, server_url: str, first_call: str
) -> None:
    """Without a ping per checkout: repeatable work is retried on a fresh connection."""
    sent, _ = mailbox.send("alice", "bob", "before", "k-0", 2)
    assert mailbox.pull("bob", None, 10).messages == (sent,)  # what an ack may delete
    with mailbox.engine.connect(), mailbox.engine.connect():
        pass
    kill(server_url, other_sessions(server_url))

    if first_call == "pull":
        assert mailbox.pull("bob", None, 10).messages == (sent,)
    elif first_call == "ack":
        assert mailbox.pull("bob", sent.msgid, 10).messages == ()
    elif first_call == "history":
        assert mailbox.history("alice", "bob", None, None, 10) == [sent]
    else:
        again, created = mailbox.send("alice", "bob", "before", "k-0", 3)
        assert (again, created) == (sent, False)
        message, created = mailbox.send("alice", "bob", "after", "k-1", 3)
        assert created
        assert [m.msgid for m in mailbox.pull("bob", None, 10).messages] == [
            sent.msgid, message.msgid]


def test_a_send_killed_mid_transaction_leaves_nothing_behind(
    mailbox: SqlMailbox, server_url: str
) -> None:
    holder_engine = sa.create_engine(server_url)
    outcome: list[BaseException] = []

    def blocked_send() -> None:
        try:
            mailbox.send("alice", "bob", "half-written?", "c-1", 3)
        except BaseException as error:  # collected for the main thread
            outcome.append(error)

    try:
        with holder_engine.connect() as holder, holder.begin():
            holder.execute(sa.text("SELECT uid FROM users WHERE uid = 'bob' FOR UPDATE"))
            sender = threading.Thread(target=blocked_send)
            sender.start()
            if holder_engine.dialect.name == "postgresql":
                waiting = " AND wait_event_type = 'Lock'"
            else:
                waiting = " AND command = 'Query' AND info LIKE '%FOR UPDATE%'"
            deadline = time.monotonic() + 1.5
            blocked: list[int] = []
            while not blocked and time.monotonic() < deadline:
                blocked = other_sessions(server_url, waiting)
            assert blocked, "the send never reached the lock"
            kill(server_url, blocked)
            sender.join(5)
    finally:
        holder_engine.dispose()

    assert len(outcome) == 1 and isinstance(outcome[0], MailboxUnavailable)
    assert mailbox.pull("bob", None, 10).messages == ()
    assert mailbox.history("alice", "bob", None, None, 10) == []
    message, created = mailbox.send("alice", "bob", "again", "c-1", 4)
    assert created and message.body == "again"


def test_a_send_that_waits_too_long_for_a_lock_gives_up_and_stores_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/im.sqlite3"
    box = SqlMailbox.from_url(url, timeout=0.5)
    upgrade_to_head(box.engine)
    for uid in ("alice", "bob"):
        box.record_login(uid, "pc", 1)
    other = create_engine_from_url(url)
    try:
        with other.begin():  # BEGIN IMMEDIATE: holds the write lock
            within(3, lambda: box.send("alice", "bob", "blocked", None, 2))
            box.history("alice", "bob", None, None, 10)  # readers are not blocked
        assert box.pull("bob", None, 10).messages == ()
        assert box.send("alice", "bob", "free again", None, 3)[1]
    finally:
        other.dispose()
        box.close()


# --- configuration -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("postgresql://u@h/db", "psycopg", "postgres"),
        ("postgresql+psycopg://u@h/db", "psycopg", "postgres"),
        ("mysql://u@h/db", "pymysql", "mysql"),
        ("mariadb+pymysql://u@h/db", "pymysql", "mysql"),
    ],
)
def test_a_missing_driver_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch, url: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(MissingDriver) as raised:
        create_engine_from_url(url)
    assert str(raised.value).endswith(f"pip install 'im-server[{extra}]'")
    assert "\n" not in str(raised.value)
    assert isinstance(raised.value, ConfigurationError)


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "mssql+pymssql://u@h/db",
        "oracle://u@h/db",
        "postgresql+psycopg2://u@h/db",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql://u@h:notaport/db",
    ],
)
def test_an_unusable_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        create_engine_from_url(url)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@h/db", "psycopg"),
        ("mysql://u@h/db", "pymysql"),
        ("sqlite:///im.sqlite3", "pysqlite"),
    ],
)
def test_plain_urls_get_the_supported_driver(url: str, driver: str) -> None:
    engine = create_engine_from_url(url)
    try:
        assert engine.dialect.driver == driver
    finally:
        engine.dispose()


def test_schema_out_of_date_is_a_configuration_error(tmp_path: Path) -> None:
    engine = create_engine_from_url(f"sqlite:///{tmp_path}/im.sqlite3")
    try:
        with pytest.raises(ConfigurationError):
            ensure_schema_current(engine)
    finally:
        engine.dispose()
    assert issubclass(SchemaOutOfDate, ConfigurationError)
