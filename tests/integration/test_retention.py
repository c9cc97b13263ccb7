"""``purge``: old inbox rows and history go, in bounded batches, on every SQL database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from im_adapters.sql import SqlMailbox
from im_adapters.sql.retention import purge

DAY = 86_400_000
NOW = 1_800_000_000_000

BACKENDS = [
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(params=BACKENDS)
def mailbox(request: pytest.FixtureRequest, sql_mailbox: Callable[..., Any]) -> SqlMailbox:
    box: SqlMailbox = sql_mailbox(request.param)
    for uid in ("alice", "bob"):
        box.record_login(uid, "pc", NOW - 100 * DAY)
    return box


def count(box: SqlMailbox, table: str) -> int:
    with box.engine.connect() as connection:
        return int(connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def send_days_ago(box: SqlMailbox, days: list[int]) -> list[int]:
    return [box.send("alice", "bob", f"day -{d}", None, NOW - d * DAY)[0].msgid for d in days]


def test_inbox_rows_older_than_the_retention_go_and_newer_ones_stay(mailbox: SqlMailbox) -> None:
    send_days_ago(mailbox, [40, 35, 31, 29, 1])
    done = purge(mailbox.engine, NOW, 30 * DAY, None, batch=2)
    assert done.inbox_rows == 3
    assert done.batches == 2  # 2 + 1 rows
    assert [m.body for m in mailbox.pull("bob", None, 10).messages] == ["day -29", "day -1"]
    assert count(mailbox, "messages") == 5  # history is kept without IM_HISTORY_RETENTION


def test_history_older_than_its_retention_goes_with_its_inbox_rows(mailbox: SqlMailbox) -> None:
    send_days_ago(mailbox, [400, 370, 200, 10])
    done = purge(mailbox.engine, NOW, 30 * DAY, 365 * DAY, batch=1)
    assert (done.inbox_rows, done.history_rows) == (3, 2)
    assert [m.body for m in mailbox.history("alice", "bob", None, None, 10)] == [
        "day -10", "day -200"]
    assert count(mailbox, "offline") == 1


def test_a_purge_with_nothing_old_deletes_nothing_and_a_second_purge_finds_nothing(
    mailbox: SqlMailbox,
) -> None:
    send_days_ago(mailbox, [2, 1])
    assert purge(mailbox.engine, NOW, 30 * DAY, 365 * DAY).batches == 0
    send_days_ago(mailbox, [60])
    assert purge(mailbox.engine, NOW, 30 * DAY, None).inbox_rows == 1
    assert purge(mailbox.engine, NOW, 30 * DAY, None).inbox_rows == 0


def test_a_batch_below_one_is_refused(mailbox: SqlMailbox) -> None:
    with pytest.raises(ValueError, match="batch"):
        purge(mailbox.engine, NOW, DAY, None, batch=0)
