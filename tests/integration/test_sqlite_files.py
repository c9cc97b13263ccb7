"""The embedded SQLite file and its side files are private to the server's user."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from im_adapters.sql import SqlMailbox, upgrade_to_head


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask of 0: whatever is private is so by the server's doing, not the shell's."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
def test_the_sqlite_file_and_its_wal_and_shm_are_created_readable_by_the_owner_only(
    tmp_path: Path,
) -> None:
    database = tmp_path / "im.sqlite3"
    box = SqlMailbox.from_url(f"sqlite:///{database}")
    try:
        upgrade_to_head(box.engine)
        box.record_login("alice", "pc", 1)
        box.send("alice", "alice", "kept private", None, 2)

        files = {p.name: _mode(p) for p in tmp_path.iterdir()}
    finally:
        box.close()

    assert set(files) >= {"im.sqlite3", "im.sqlite3-wal", "im.sqlite3-shm"}
    assert files == dict.fromkeys(files, 0o600)


def test_an_existing_sqlite_file_keeps_the_mode_its_owner_gave_it(tmp_path: Path) -> None:
    database = tmp_path / "im.sqlite3"
    database.touch(mode=0o640)
    database.chmod(0o640)
    box = SqlMailbox.from_url(f"sqlite:///{database}")
    try:
        upgrade_to_head(box.engine)
    finally:
        box.close()

    assert _mode(database) == 0o640
