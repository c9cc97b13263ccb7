"""Build an SQLAlchemy engine that fails fast and behaves the same on every backend.

A chat server must answer "the database is down" within a bounded time rather than
hang a request thread, so every engine gets a bounded wait for a pooled connection,
connect timeouts, and per-backend statement and lock timeouts. (Connections killed by
the server or a proxy are replaced by ``SqlMailbox``'s retry, without a ping per
checkout.) Backend-specific choices:

- PostgreSQL (psycopg 3): ``statement_timeout`` and ``lock_timeout`` as session
  options.
- MySQL/MariaDB (PyMySQL): ``utf8mb4`` (4-byte emoji), ``READ COMMITTED`` (a read
  after a lock wait sees what the lock holder committed), ``innodb_lock_wait_timeout``
  and socket read/write timeouts.
- SQLite: the file is created readable by its owner only (0600; SQLite gives its
  ``-wal`` and ``-shm`` files the same mode), WAL (readers never block the writer),
  ``busy_timeout``, foreign keys, and
  ``BEGIN IMMEDIATE`` for every transaction that may write, so a writer takes the write
  lock up front and two transactions can never deadlock upgrading a read lock. Read-only
  work runs in a deferred ``BEGIN`` (see ``READ_ONLY``), which WAL serves without locks.
"""

from __future__ import annotations

import importlib
import math
import os
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from im_adapters import ConfigurationError
from im_adapters.urls import redacted

__all__ = ["READ_ONLY", "TIMEOUT", "MissingDriver", "create_engine_from_url", "is_autocommit"]

_AUTOCOMMIT = "im_autocommit"
"""Execution option marking an engine made with ``autocommit=True``."""

TIMEOUT = "im_timeout"
"""Execution option: the seconds a whole unit of work may take (see ``deadline``)."""

READ_ONLY = "im_read_only"
"""Execution option: the transaction only reads (SQLite then begins it deferred)."""

# backend name -> (SQLAlchemy driver name, module to import, pip extra)
_DRIVERS: dict[str, tuple[str, str, str | None]] = {
    "postgresql": ("psycopg", "psycopg", "postgres"),
    "mysql": ("pymysql", "pymysql", "mysql"),
    "mariadb": ("pymysql", "pymysql", "mysql"),
    "sqlite": ("pysqlite", "sqlite3", None),
}


class MissingDriver(ConfigurationError):
    """The database URL needs a driver that is not installed."""


def create_engine_from_url(
    url: str, *, pool_size: int = 16, timeout: float = 5.0, autocommit: bool = False
) -> sa.Engine:
    """Return an engine for ``url`` with bounded waits everywhere.

    Args:
        url: ``postgresql[+psycopg]://``, ``mysql[+pymysql]://``,
            ``mariadb[+pymysql]://`` or ``sqlite:///path``.
        pool_size: the most connections the engine opens (there is no overflow: the
            database's connection budget is a setting, not a surprise).
        timeout: seconds to wait to connect, for a pooled connection, for a lock or
            for one statement.
        autocommit: on PostgreSQL, run each statement as its own transaction, with no
            ``BEGIN``/``COMMIT`` round trips (``SqlMailbox.from_url`` asks for it: its
            PostgreSQL work is single statements). Ignored by the other databases,
            whose work needs transactions.

    Raises:
        MissingDriver: the backend's driver is not installed (the message is the pip
            command that installs it).
        ConfigurationError: the URL is malformed or names an unsupported backend.
    """
    parsed = _parse(url)
    backend = parsed.get_backend_name()
    driver, module, extra = _DRIVERS[backend]
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise _missing(backend, extra) from error
    parsed = parsed.set(drivername=f"{backend}+{driver}")
    seconds = max(1, math.ceil(timeout))
    # No pool_pre_ping: a ping per checkout is a round trip per request. SqlMailbox
    # retries repeatable work on a fresh connection instead (see its docstring).
    options: dict[str, Any] = {}
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            raise ConfigurationError(
                "an in-memory SQLite database is private to one connection; "
                "use a file (sqlite:///path/im.sqlite3)"
            )
        _create_private(parsed.database)
        connect_args["timeout"] = timeout  # the busy wait while opening, before pragmas
        connect_args["check_same_thread"] = False
    elif backend == "postgresql":
        ms = int(timeout * 1000)
        connect_args["connect_timeout"] = max(2, seconds)
        connect_args["options"] = f"-c statement_timeout={ms} -c lock_timeout={ms}"
        connect_args.setdefault("application_name", "im-server")
        # A peer that vanished (no reset: a black hole) is noticed by TCP itself.
        connect_args.update(keepalives=1, keepalives_idle=5, keepalives_interval=2,
                            keepalives_count=3, tcp_user_timeout=max(1000, ms))
        if autocommit:
            options["isolation_level"] = "AUTOCOMMIT"
    else:
        connect_args["charset"] = "utf8mb4"
        connect_args["connect_timeout"] = seconds
        # The socket timeouts are the backstop; the lock wait should fire first,
        # because it leaves the connection usable.
        connect_args["read_timeout"] = seconds + 1
        connect_args["write_timeout"] = seconds + 1
        connect_args["init_command"] = f"SET SESSION innodb_lock_wait_timeout = {seconds}"
        options["isolation_level"] = "READ COMMITTED"
    options.update(
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=timeout,
        connect_args=connect_args,
    )
    try:
        engine = sa.create_engine(parsed, **options)
    except ImportError as error:
        raise _missing(backend, extra) from error
    except (sa.exc.ArgumentError, TypeError, ValueError) as error:
        raise ConfigurationError(f"invalid database URL: {error}") from error
    if backend == "sqlite":
        _configure_sqlite(engine, timeout)
    marks: dict[str, Any] = {TIMEOUT: timeout}  # marks only: read back by the mailbox
    if "isolation_level" in options:
        marks[_AUTOCOMMIT] = True
    return engine.execution_options(**marks)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError) as error:
        raise ConfigurationError(f"invalid database URL: {redacted(url)}") from error
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise ConfigurationError(
            f"unsupported database {backend!r}: use postgresql://, mysql:// or sqlite:///"
        )
    driver = parsed.get_driver_name()
    expected = _DRIVERS[backend][0]
    if "+" in parsed.drivername and driver != expected:
        raise ConfigurationError(
            f"unsupported driver {driver!r} for {backend}: use {backend}+{expected}://"
        )
    return parsed


def _missing(backend: str, extra: str | None) -> MissingDriver:
    if extra is None:
        return MissingDriver(f"this Python was built without the {backend} module")
    return MissingDriver(f"the {backend} driver is not installed: pip install 'im-server[{extra}]'")


def _create_private(path: str) -> None:
    """Create the SQLite file empty with mode 0600 if it is missing: it holds messages.

    SQLite would create it 0644 (less the umask), readable by every local user; its
    ``-wal`` and ``-shm`` files take the database file's mode. An existing file is
    left as its owner made it.
    """
    if path.startswith("file:"):
        return  # a URI names its own options; SQLite opens it as told
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # no such directory, say: SQLite's own error will say so on connect


def _configure_sqlite(engine: sa.Engine, timeout: float) -> None:
    busy_ms = int(timeout * 1000)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from sqlite3 so that _on_begin decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_autocommit(engine: sa.Engine) -> bool:
    """Whether ``engine`` was made with ``autocommit=True`` (PostgreSQL only)."""
    return bool(engine.get_execution_options().get(_AUTOCOMMIT))
