"""A unit of work the database aborts whole (a deadlock victim; on Galera a certification
conflict, error 1213 even at COMMIT) is run again, a bounded number of times.

The aborts are made by the work itself, on a real SQLite engine, so the count of runs
is exact; the Galera test (tests/integration/test_galera.py) makes real ones.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from im_adapters.sql import create_engine_from_url
from im_adapters.sql.executor import SEND_TRANSACTION, Runner, Unit
from im_core.ports import MailboxUnavailable


def _abort() -> sa.exc.OperationalError:
    return sa.exc.OperationalError(
        "COMMIT", {}, Exception(1213, "Deadlock found when trying to get lock"))


@pytest.fixture
def runner(sqlite_url: str) -> Runner:
    return Runner(create_engine_from_url(sqlite_url))


def test_an_aborted_unit_is_run_again_until_it_commits_even_if_it_may_not_repeat(
    runner: Runner,
) -> None:
    runs: list[int] = []

    def work(unit: Unit) -> str:
        runs.append(1)
        if len(runs) < 4:
            raise _abort()
        return "stored"

    # A send without client_msg_id may not be repeated after a lost connection, but an
    # abort rolled it back whole: running it again is safe.
    assert runner.run(work, SEND_TRANSACTION.once()) == "stored"
    assert len(runs) == 4


def test_a_unit_aborted_every_time_gives_up_as_unavailable_after_ten_runs(
    runner: Runner,
) -> None:
    runs: list[int] = []

    def work(unit: Unit) -> None:
        runs.append(1)
        raise _abort()

    with pytest.raises(MailboxUnavailable, match="Deadlock"):
        runner.run(work, SEND_TRANSACTION)
    assert len(runs) == 10


def test_other_operational_errors_are_not_rerun(runner: Runner) -> None:
    runs: list[int] = []

    def work(unit: Unit) -> None:
        runs.append(1)
        raise sa.exc.OperationalError("SELECT", {}, Exception(1205, "Lock wait timeout"))

    with pytest.raises(MailboxUnavailable):
        runner.run(work, SEND_TRANSACTION)
    assert len(runs) == 1
