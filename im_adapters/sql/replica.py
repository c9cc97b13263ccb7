"""Reads on a PostgreSQL streaming replica, with each player still reading their own writes.

``SqlMailbox`` may send history, contact-list and block-list reads to a replica
(``IM_DATABASE_READ_URL``). A replica is behind its primary by its replay lag, and the
server is stateless: a player's next call may land on another node. So the fact "this
player wrote at primary WAL position L" must be shared by every node. It is a
``WriteMarks`` entry: after a write concerning a uid commits, the mailbox reads the
primary's WAL position (``pg_current_wal_lsn()``, at or past the commit) and raises
that uid's mark to it (in Redis, beside the session, ``ns:{uid}:w``; in memory for a
single process). A read for a uid goes to the replica only when the replica has
replayed at least that uid's mark; otherwise, or when the replica fails, it goes to
the primary. A read never fails because of the replica, and never misses its own
player's write.

- No mark (the player wrote nothing in the mark's lifetime, ``MARK_TTL_S``): the
  replica, whatever its lag. Its lag is the staleness others' writes may show.
- A read for a uid with a mark first asks the replica how far it has replayed, on the
  same connection as the read (one small query more), so a read URL naming several
  replicas (libpq multi-host) is judged by the one that serves it. Behind: the read
  runs on the primary instead.
- A replica that fails (down, timing out) is left alone for ``REPLICA_PAUSE_S``: reads
  go to the primary meanwhile, then the replica is tried again.
- A server that is not in recovery (a promoted replica) has everything it has: its
  own WAL position counts as replayed.
- A write whose mark cannot be stored (Redis failing just then) is still answered as
  done (it is stored); this process then sends every read to the primary for
  ``MARK_TTL_S``. A call on another node within the replica's lag could read the
  replica without it: the known limit, as small as the lag.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

from im_adapters.redis_client import ERRORS as CLUSTER_ERRORS
from im_adapters.redis_client import check_namespace, connect
from im_adapters.sql.executor import READ, Runner, Unit
from im_core.errors import StorageUnavailable
from im_core.ports import MailboxUnavailable

__all__ = [
    "MARK_TTL_S",
    "REPLICA_PAUSE_S",
    "InMemoryWriteMarks",
    "ReadReplica",
    "RedisWriteMarks",
    "WriteMarks",
    "WriteMarksUnavailable",
]

T = TypeVar("T")

MARK_TTL_S = 600
"""How long a player's write mark lives: far longer than any replica lag worth serving."""

REPLICA_PAUSE_S = 5.0
"""How long reads stay on the primary after the replica failed one."""

PRIMARY_POSITION = sa.text("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint AS lsn")
REPLAYED_POSITION = sa.text(
    "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
    "ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn)::bigint AS lsn")


class WriteMarksUnavailable(StorageUnavailable):
    """The store of write marks failed or timed out."""


class WriteMarks(Protocol):
    """Per uid, the primary's WAL position at or after the uid's latest write.

    Contract: ``raise_to`` never lowers a mark (two nodes may record out of order);
    ``get`` returns the highest position recorded within ``MARK_TTL_S``, or ``None``.
    Every node of a deployment must see the same marks. Both raise
    ``WriteMarksUnavailable`` when the store fails.
    """

    def raise_to(self, uids: Iterable[str], lsn: int) -> None: ...

    def get(self, uid: str) -> int | None: ...


class InMemoryWriteMarks:
    """``WriteMarks`` for one process (the marks die with it; so does its state)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._marks: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def raise_to(self, uids: Iterable[str], lsn: int) -> None:
        expires = self._clock() + MARK_TTL_S
        with self._lock:
            for uid in uids:
                old = self._marks.get(uid)
                self._marks[uid] = (max(lsn, old[0] if old else 0), expires)

    def get(self, uid: str) -> int | None:
        with self._lock:
            found = self._marks.get(uid)
            if found is None or found[1] <= self._clock():
                self._marks.pop(uid, None)
                return None
            return found[0]


# KEYS: the mark. ARGV: lsn, ttl seconds. The mark only rises.
_RAISE = """
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
local new = tonumber(ARGV[1])
if new > old then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


class RedisWriteMarks:
    """``WriteMarks`` in Redis (standalone or Cluster): ``ns:{uid}:w``, the uid's slot."""

    def __init__(self, client: Any, namespace: str = "im") -> None:
        self._client = client
        self._ns = check_namespace(namespace)
        self._raise = client.register_script(_RAISE)

    @classmethod
    def from_url(cls, url: str, *, namespace: str = "im", timeout: float = 1.0,
                 max_connections: int = 64) -> RedisWriteMarks:
        client = connect(url, timeout=timeout, max_connections=max_connections,
                         unavailable=WriteMarksUnavailable, decode_responses=True)
        return cls(client, namespace)

    def _key(self, uid: str) -> str:
        return f"{self._ns}:{{{uid}}}:w"

    def raise_to(self, uids: Iterable[str], lsn: int) -> None:
        try:
            for uid in dict.fromkeys(uids):  # one slot each: one script call each
                self._raise(keys=[self._key(uid)], args=[lsn, MARK_TTL_S])
        except CLUSTER_ERRORS as error:
            raise WriteMarksUnavailable(f"Redis failed: {type(error).__name__}") from error

    def get(self, uid: str) -> int | None:
        try:
            found = self._client.get(self._key(uid))
        except CLUSTER_ERRORS as error:
            raise WriteMarksUnavailable(f"Redis failed: {type(error).__name__}") from error
        return None if found is None else int(found)

    def close(self) -> None:
        self._client.close()


def _position(unit: Unit, statement: sa.TextClause) -> int:
    value = unit.connection.execute(statement).scalar_one()
    return int(value) if value is not None else 0


class ReadReplica:
    """Where a read for one uid runs: the replica when it has the uid's writes.

    Args:
        runner: the ``Runner`` on the replica's engine.
        marks: the shared write marks.
        clock: seconds, for the pause after a replica failure (injected in tests).
    """

    def __init__(self, runner: Runner, marks: WriteMarks,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.runner = runner
        self._marks = marks
        self._clock = clock
        self._paused_until = 0.0
        self._marks_lost_until = 0.0
        self.served = {"replica": 0, "primary": 0}
        """Reads served by each, since start (for the metrics and the tests)."""

    def close(self) -> None:
        """Close the replica's connections and the marks' client (if it has one)."""
        self.runner.engine.dispose()
        closer = getattr(self._marks, "close", None)
        if callable(closer):
            closer()

    def wrote(self, uids: Iterable[str], primary: Runner) -> None:
        """Record that a write concerning ``uids`` has committed on the primary."""
        try:
            lsn = primary.run(lambda unit: _position(unit, PRIMARY_POSITION), READ)
            self._marks.raise_to(uids, lsn)
        except (MailboxUnavailable, WriteMarksUnavailable):
            # The write is stored; only its mark is missing. Read on the primary here.
            self._marks_lost_until = self._clock() + MARK_TTL_S

    def read(self, uid: str, work: Callable[[Unit], T], primary: Runner) -> T:
        """Run the read ``work`` for ``uid`` on the replica if it can, else the primary."""
        found = self._mark(uid)
        if not isinstance(found, _Primary):
            mark = found

            def checked(unit: Unit) -> T | _Behind:
                if mark is not None and _position(unit, REPLAYED_POSITION) < mark:
                    return _BEHIND
                return work(unit)

            try:
                result = self.runner.run(checked, READ)
            except MailboxUnavailable:
                self._paused_until = self._clock() + REPLICA_PAUSE_S
            else:
                if not isinstance(result, _Behind):
                    self.served["replica"] += 1
                    return result
        self.served["primary"] += 1
        return primary.run(work, READ)

    def _mark(self, uid: str) -> int | _Primary | None:
        """``uid``'s write mark (``None``: none), or ``_PRIMARY`` when only it will do."""
        now = self._clock()
        if now < self._paused_until or now < self._marks_lost_until:
            return _PRIMARY
        try:
            return self._marks.get(uid)
        except WriteMarksUnavailable:
            return _PRIMARY


class _Behind:
    """The replica had not replayed the player's mark: the read was not run there."""


class _Primary:
    """Only the primary will do for this read."""


_BEHIND = _Behind()
_PRIMARY = _Primary()
