"""``im-server purge``: the command, on every SQL database, as an operator runs it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from im_adapters.sql import SqlMailbox
from im_core import Mute
from tests.e2e.test_cli import _run

DAY = 86_400_000


@pytest.mark.parametrize("backend", [
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
])
def test_purge_deletes_what_is_older_than_the_retention_and_says_how_much(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, sql_mailbox: Any
) -> None:
    from im_adapters.sql.mutes import SqlMuteStore

    box: SqlMailbox = sql_mailbox(backend)
    now = int(time.time() * 1000)
    box.record_login("bob", "pc", now)
    for days in (400, 40, 1):
        box.send("alice", "bob", f"{days} days ago", None, now - days * DAY)
    SqlMuteStore(box.engine).put(Mute("alice", "global", now - 1, "lapsed", now - DAY))
    url = request.getfixturevalue(f"{backend}_url")
    result = _run("purge", "--batch", "1", cwd=tmp_path, IM_DATABASE_URL=url,
                  IM_HISTORY_RETENTION="365d")
    assert result.returncode == 0, result.stderr
    assert "2 inbox rows, 1 history messages, 1 lapsed mutes, in 3 batches" in result.stdout
    assert [m.body for m in box.pull("bob", None, 10).messages] == ["1 days ago"]
    assert [m.body for m in box.history("bob", "alice", None, None, 10)] == [
        "1 days ago", "40 days ago"]


def test_purge_refuses_a_bad_batch_and_an_in_memory_database(tmp_path: Path) -> None:
    bad = _run("purge", "--batch", "0", cwd=tmp_path, IM_DATABASE_URL="sqlite:///x.sqlite3")
    assert (bad.returncode, bad.stderr.count("\n")) == (2, 1)
    memory = _run("purge", cwd=tmp_path, IM_DATABASE_URL="memory://")
    assert memory.returncode == 2 and "nothing to purge" in memory.stderr
