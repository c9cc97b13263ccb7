"""How the SQL mailbox's work reaches the database: policies, retries, executors.

A unit of work is a function of a ``Unit`` (a connection plus the executor) and a
``Policy`` that says what kind of work it is. ``Runner.run`` opens the connection and
the transaction the policy asks for, retries what may be retried, and turns every
database failure into ``MailboxUnavailable``.

Two executors run the same compiled statements (``statements.py``):

- ``"sqlalchemy"``: ``Connection.execute``, on every database;
- ``"direct"`` (the default; PostgreSQL only, elsewhere it is ``"sqlalchemy"``): the
  statement is compiled once, and each run hands the SQL straight to psycopg, prepared
  on the server. SQLAlchemy's per-execution machinery cost more CPU than the query
  itself (measured: about 600 µs against 350 µs for a history page). psycopg's errors
  come back as SQLAlchemy's, so retries and pool invalidation are the same for both.
"""

from __future__ import annotations

import contextlib
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, TypeVar, cast

import attrs
import sqlalchemy as sa

from im_adapters import ConfigurationError
from im_adapters.sql.engine import READ_ONLY, TIMEOUT, is_autocommit
from im_adapters.sql.statements import PING
from im_core.ports import MailboxUnavailable

__all__ = [
    "EXECUTORS",
    "LOCKED_TRANSACTION",
    "READ",
    "SEND_STATEMENT",
    "SEND_TRANSACTION",
    "WRITE_STATEMENT",
    "WRITE_TRANSACTION",
    "Conflict",
    "ExecutorName",
    "Policy",
    "Rows",
    "Runner",
    "Unit",
]

T = TypeVar("T")
Row = Mapping[Any, Any]
ExecutorName = Literal["direct", "sqlalchemy"]
EXECUTORS: tuple[ExecutorName, ...] = ("direct", "sqlalchemy")

_ATTEMPTS = 3
"""Runs of one unit when its connection is lost."""

_ABORT_ATTEMPTS = 10
"""Runs of one unit when the database aborts it whole (a deadlock victim; on Galera a
certification conflict, which many senders to one player through several nodes make
routinely). Bounded: past it the caller gets ``MailboxUnavailable`` (a 503), and the
client's retry with the same ``client_msg_id`` is the next attempt."""

_BACKOFF_S = 0.002
"""The first pause before a rerun after an abort; it doubles, jittered, up to 0.1 s, so
two transactions that keep aborting each other fall out of step."""

_TRANSIENT = frozenset({"40P01", "40001", 1213})
"""PostgreSQL deadlock / serialization failure, MySQL/MariaDB deadlock (also what
Galera reports for a certification conflict, even at COMMIT): rolled back whole, so
always safe to run again, even for work that is not idempotent."""


@attrs.frozen
class Policy:
    """What kind of work a unit is; ``Runner.run`` acts on it.

    Attributes:
        writes: the unit may write (SQLite then begins ``IMMEDIATE``, behind this
            process's write lock); a reader begins deferred.
        one_statement: the unit is a single statement, so it needs no transaction of
            its own and runs in autocommit where the engine offers it (PostgreSQL).
        repeatable: running the unit twice is harmless. Only then is it run again
            after a lost connection, when the first run may have committed; otherwise
            the connection is pinged first.
        conflicts: an integrity error is the caller's to resolve (``Conflict``), not
            a failure.
        locks: the unit takes row locks that must hold until it ends, so it runs in
            a transaction even where other work runs in autocommit (PostgreSQL).
    """

    writes: bool
    one_statement: bool
    repeatable: bool = True
    conflicts: bool = False
    locks: bool = False

    def once(self) -> Policy:
        """This policy for work that must not run twice (it is not idempotent)."""
        return attrs.evolve(self, repeatable=False)


READ = Policy(writes=False, one_statement=True)
"""Reads only; every statement sees committed data, so no transaction is needed."""
WRITE_STATEMENT = Policy(writes=True, one_statement=True)
"""One idempotent write statement."""
WRITE_TRANSACTION = Policy(writes=True, one_statement=False)
"""Several statements that commit together; idempotent as a whole."""
LOCKED_TRANSACTION = Policy(writes=True, one_statement=False, locks=True)
"""``WRITE_TRANSACTION`` whose row locks must hold to the commit, on every database."""
SEND_STATEMENT = Policy(writes=True, one_statement=True, conflicts=True)
"""A send in one statement; a racing duplicate is the caller's to resolve."""
SEND_TRANSACTION = Policy(writes=True, one_statement=False, conflicts=True)
"""A send as a transaction; a racing duplicate is the caller's to resolve."""


class Conflict(Exception):
    """An integrity error that the caller resolves (a racing duplicate send)."""


class Rows:
    """A statement's rows as the driver gave them, with the column names to read them by.

    Tuples, not a mapping per row: on a page of messages that saves real CPU. Read a
    value by its column's name (``column``, ``value``; ``names.index`` for many).
    """

    __slots__ = ("names", "tuples")

    def __init__(self, names: Sequence[str], tuples: Sequence[Sequence[Any]]) -> None:
        self.names = tuple(names)
        self.tuples = tuples

    def __len__(self) -> int:
        return len(self.tuples)

    def column(self, name: str) -> list[Any]:
        """The value of column ``name`` in every row."""
        at = self.names.index(name)
        return [row[at] for row in self.tuples]

    def value(self, name: str, row: int = 0) -> Any:
        """The value of column ``name`` in row ``row``."""
        return self.tuples[row][self.names.index(name)]


_NO_ROWS = Rows((), ())


class _Executor(Protocol):
    def rows(self, conn: sa.Connection, statement: sa.Executable, params: Row) -> Rows:
        """Run ``statement``; its rows (none for DML without RETURNING)."""
        ...


class _SqlAlchemyExecutor:
    def rows(self, conn: sa.Connection, statement: sa.Executable, params: Row) -> Rows:
        result = conn.execute(statement, params)
        if not result.returns_rows:
            return _NO_ROWS
        return Rows(list(map(str, result.keys())), result.all())


class _DirectExecutor:
    """Compiled statements straight to psycopg (see the module docstring)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._dialect = engine.dialect
        self._driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._fallback = _SqlAlchemyExecutor()
        self._sql: dict[sa.Executable, str | None] = {}

    def _compiled(self, statement: sa.Executable) -> str | None:
        """The SQL of ``statement``, or ``None`` if only SQLAlchemy can run it."""
        try:
            return self._sql[statement]
        except KeyError:
            pass
        assert isinstance(statement, sa.ClauseElement)
        compiled = statement.compile(dialect=self._dialect)
        assert isinstance(compiled, sa.sql.compiler.SQLCompiler)
        # An expanding IN (...) is rendered per execution, and an unnamed literal has
        # a generated name: those go through SQLAlchemy (none is on the hot path).
        plain = not any(b.expanding or b.unique for b in compiled.binds.values())
        sql = self._sql[statement] = str(compiled) if plain else None
        return sql

    def rows(self, conn: sa.Connection, statement: sa.Executable, params: Row) -> Rows:
        sql = self._compiled(statement)
        if sql is None:
            return self._fallback.rows(conn, statement, params)
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            with driver.cursor() as cursor:
                cursor.execute(sql, params, prepare=True)
                if cursor.description is None:
                    return _NO_ROWS
                return Rows([column.name for column in cursor.description], cursor.fetchall())
        except self._driver_error as error:
            # As SQLAlchemy judges it: a server-side kill is reported before the socket
            # is seen closed, so the connection may not look broken yet.
            disconnect = self._dialect.is_disconnect(cast(Any, error), driver, None)
            lost = bool(driver.closed or driver.broken or disconnect)
            if lost:
                # What SQLAlchemy does on a disconnect: the other pooled connections
                # are as dead as this one (a restart killed them all), so the pool
                # recycles every connection older than now, not only this one.
                conn.engine.pool._invalidate(conn.connection, error)
                conn.invalidate()
            raise sa.exc.DBAPIError.instance(
                sql, dict(params), error, self._driver_error, connection_invalidated=lost
            ) from error


class Unit:
    """The connection a unit of work runs on, with the executor's way to run statements."""

    def __init__(self, conn: sa.Connection, executor: _Executor) -> None:
        self.connection = conn
        self._executor = executor

    def rows(self, statement: sa.Executable, params: Row) -> Rows:
        """All rows of ``statement``."""
        return self._executor.rows(self.connection, statement, params)

    def column(self, statement: sa.Executable, params: Row, name: str) -> list[Any]:
        """The column ``name`` of every row of ``statement``."""
        return self.rows(statement, params).column(name)

    def execute(self, statement: sa.Executable, params: Row) -> None:
        """Run ``statement`` for its effect."""
        self.rows(statement, params)


class Runner:
    """Runs units of work on one engine, under their ``Policy``.

    On PostgreSQL, one-statement units run in autocommit (no ``BEGIN``/``COMMIT``
    round trips); an engine made with ``autocommit=True`` needs no per-checkout switch,
    which costs CPU. PyMySQL would pay a ``SET`` each way for autocommit, and SQLite is
    local: both keep transactions.

    SQLite lets one writer in at a time and makes the others sleep and poll
    (busy_timeout), in sleeps of up to 100 ms: under load some writes waited past the
    timeout and failed. A lock makes this process's writers queue instead; other
    processes on the same file still meet the poll.
    """

    def __init__(self, engine: sa.Engine, executor: ExecutorName = "direct") -> None:
        if executor not in EXECUTORS:
            raise ConfigurationError(
                f"unknown SQL executor {executor!r}: use {' or '.join(EXECUTORS)}"
            )
        postgres = engine.dialect.name == "postgresql"
        self.engine = engine
        self.executor: ExecutorName = executor if postgres else "sqlalchemy"
        self._executor: _Executor = (
            _DirectExecutor(engine) if self.executor == "direct" else _SqlAlchemyExecutor()
        )
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )
        self._autocommit: sa.Engine | None = None
        self._transactional = engine
        if postgres:
            self._autocommit = (
                engine
                if is_autocommit(engine)
                else engine.execution_options(isolation_level="AUTOCOMMIT")
            )
            if is_autocommit(engine):
                self._transactional = engine.execution_options(isolation_level="READ COMMITTED")

    def run(self, work: Callable[[Unit], T], policy: Policy) -> T:
        """Run ``work`` as one unit; every database failure is ``MailboxUnavailable``.

        A unit the database aborted whole (a deadlock victim, a Galera certification
        conflict) was rolled back, so it is always run again, after a short jittered
        pause (up to ``_ABORT_ATTEMPTS`` runs); the whole stays within the deadline.

        Raises:
            Conflict: an integrity error, when ``policy.conflicts``.
            MailboxUnavailable: any other database failure.
        """
        engine = self.engine
        if policy.one_statement and self._autocommit is not None:
            engine = self._autocommit
        elif policy.locks:
            engine = self._transactional
        seconds = engine.get_execution_options().get(TIMEOUT)
        try:
            with _deadline(seconds):
                return self._attempts(work, policy, engine)
        except _DeadlineExceeded:
            raise MailboxUnavailable(
                f"the database did not answer within {seconds}s"
            ) from None

    def _attempts(self, work: Callable[[Unit], T], policy: Policy, engine: sa.Engine) -> T:
        aborts = losses = 0
        while True:
            started = False  # whether ``work`` may have reached the database
            try:
                with (
                    self._write_lock if policy.writes else contextlib.nullcontext(),
                    engine.connect() as conn,
                ):
                    if not policy.writes:
                        conn.execution_options(**{READ_ONLY: True})
                    with contextlib.nullcontext() if engine is self._autocommit else conn.begin():
                        unit = Unit(conn, self._executor)
                        if not policy.repeatable:
                            unit.execute(PING, {})
                        started = True
                        return work(unit)
            except sa.exc.IntegrityError as error:
                if policy.conflicts:
                    raise Conflict from error
                raise _unavailable(error) from error
            except sa.exc.DBAPIError as error:
                if _transient(error):
                    aborts += 1
                    if aborts < _ABORT_ATTEMPTS:
                        time.sleep(random.uniform(0, min(0.1, _BACKOFF_S * 2**aborts)))
                        continue
                elif error.connection_invalidated and (policy.repeatable or not started):
                    losses += 1
                    if losses < _ATTEMPTS:
                        continue
                raise _unavailable(error) from error
            except sa.exc.SQLAlchemyError as error:
                raise _unavailable(error) from error


class _DeadlineExceeded(BaseException):
    """A unit of work ran past the engine's timeout (raised inside it by gevent).

    A ``BaseException``, as gevent's own timeout is: SQLAlchemy then invalidates the
    connection it interrupted instead of returning it to the pool mid-statement.
    """


def _deadline(seconds: float | None) -> contextlib.AbstractContextManager[Any]:
    """Bound a whole unit of work (pool wait, connect, statements, retries) in time.

    Needed because no driver bounds everything: a database that stops answering
    without closing the connection (a black hole) leaves libpq waiting for a reply
    for ever, whatever ``statement_timeout`` says, since the server never sees it.
    Under gevent (how ``im-server`` serves) the wait can be interrupted; elsewhere the
    drivers' own timeouts are all there is.
    """
    monkey = sys.modules.get("gevent.monkey")
    if not seconds or monkey is None or not monkey.is_module_patched("socket"):
        return contextlib.nullcontext()
    import gevent

    return cast(contextlib.AbstractContextManager[Any],
                gevent.Timeout(seconds, _DeadlineExceeded))


def _transient(error: sa.exc.DBAPIError) -> bool:
    original = error.orig
    code = getattr(original, "sqlstate", None)
    if code is None and original is not None and original.args:
        code = original.args[0]
    return code in _TRANSIENT


def _unavailable(error: sa.exc.SQLAlchemyError) -> MailboxUnavailable:
    cause = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return MailboxUnavailable(f"the database failed: {type(cause).__name__}: {first_line}"[:300])
