"""Where ``ReadReplica`` sends a read: the replica only when it has the player's writes.

The runners are fakes that answer the position queries from a number the test sets
and say where a read ran; no database is involved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from im_adapters.sql.executor import Runner
from im_adapters.sql.replica import InMemoryWriteMarks, ReadReplica
from im_core.ports import MailboxUnavailable


class _Result:
    def __init__(self, value: int) -> None:
        self.value = value

    def scalar_one(self) -> int:
        return self.value


class _Connection:
    def __init__(self, server: _FakeServer) -> None:
        self.server = server

    def execute(self, statement: Any) -> _Result:
        return _Result(self.server.position)


class _FakeServer:
    """A runner's stand-in: its WAL position, whether it is up, and the reads it ran."""

    def __init__(self, name: str, position: int = 0) -> None:
        self.name = name
        self.position = position
        self.up = True
        self.reads = 0
        self.connection = _Connection(self)

    def run(self, work: Callable[[Any], Any], policy: Any) -> Any:
        if not self.up:
            raise MailboxUnavailable(f"{self.name} is down")
        return work(self)


def _read(unit: Any) -> str:
    unit.reads += 1  # the fake server is its own unit of work
    return str(unit.name)


def _setup() -> tuple[ReadReplica, _FakeServer, _FakeServer, list[float]]:
    now = [0.0]
    primary, replica = _FakeServer("primary", 100), _FakeServer("replica", 100)
    read_replica = ReadReplica(cast(Runner, replica), InMemoryWriteMarks(lambda: now[0]),
                               clock=lambda: now[0])
    return read_replica, primary, replica, now


def test_a_player_with_no_recent_write_reads_on_the_replica() -> None:
    rr, primary, _, _ = _setup()
    assert rr.read("alice", _read, cast(Runner, primary)) == "replica"


def test_a_player_reads_on_the_primary_while_the_replica_is_behind_their_write() -> None:
    rr, primary, replica, _ = _setup()
    primary.position = 250
    rr.wrote(["alice"], cast(Runner, primary))
    assert rr.read("alice", _read, cast(Runner, primary)) == "primary"
    assert replica.reads == 0, "a read the replica was behind for must not run there"
    assert rr.read("bob", _read, cast(Runner, primary)) == "replica"
    replica.position = 250  # caught up
    assert rr.read("alice", _read, cast(Runner, primary)) == "replica"
    assert rr.served == {"replica": 2, "primary": 1}


def test_a_failing_replica_sends_reads_to_the_primary_for_a_while_then_is_tried_again() -> None:
    rr, primary, replica, now = _setup()
    replica.up = False
    assert rr.read("alice", _read, cast(Runner, primary)) == "primary"
    replica.up = True
    now[0] = 4.0
    assert rr.read("alice", _read, cast(Runner, primary)) == "primary"
    now[0] = 6.0
    assert rr.read("alice", _read, cast(Runner, primary)) == "replica"


def test_a_write_whose_mark_cannot_be_stored_keeps_this_process_on_the_primary() -> None:
    rr, primary, _, now = _setup()

    class _Failing:
        def run(self, work: Any, policy: Any) -> Any:
            raise MailboxUnavailable("the primary did not say its position")

    rr.wrote(["alice"], cast(Runner, _Failing()))
    assert rr.read("bob", _read, cast(Runner, primary)) == "primary"
    now[0] = 601.0
    assert rr.read("bob", _read, cast(Runner, primary)) == "replica"
