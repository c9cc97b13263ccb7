"""The ``MuteStore`` contract, run against every implementation (memory and SQL)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from im_core.memory import InMemoryMuteStore
from im_core.ports import Mute, MuteStore, MuteStoreUnavailable

NOW = 1_700_000_000_000


@pytest.fixture(params=[
    pytest.param("memory"),
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
])
def mutes(request: pytest.FixtureRequest, sql_mailbox: Callable[..., Any]) -> MuteStore:
    if request.param == "memory":
        return InMemoryMuteStore()
    from im_adapters.sql.mutes import SqlMuteStore

    return SqlMuteStore(sql_mailbox(request.param).engine)


def mute(uid: str = "alice", scope: str = "global", until: int | None = NOW + 60_000,
         reason: str = "spam") -> Mute:
    return Mute(uid, scope, until, reason, NOW)


def test_a_stored_mute_is_active_until_it_ends(mutes: MuteStore) -> None:
    mutes.put(mute())
    assert mutes.active("alice", ("global",), NOW) == mute()
    assert mutes.active("alice", ("global",), NOW + 59_999) == mute()
    assert mutes.active("alice", ("global",), NOW + 60_000) is None


def test_a_mute_without_an_end_holds_until_removed(mutes: MuteStore) -> None:
    mutes.put(mute(until=None))
    assert mutes.active("alice", ("global",), NOW + 10**12) == mute(until=None)
    assert mutes.remove("alice", "global") is True
    assert mutes.active("alice", ("global",), NOW) is None
    assert mutes.remove("alice", "global") is False


def test_muting_again_replaces_the_end_and_the_reason(mutes: MuteStore) -> None:
    mutes.put(mute())
    mutes.put(mute(until=NOW + 5, reason="second warning: 💬 reason kept whole"))
    assert mutes.active("alice", ("global",), NOW) == mute(
        until=NOW + 5, reason="second warning: 💬 reason kept whole")
    assert len(mutes.list("alice", NOW)) == 1


def test_active_looks_only_at_the_scopes_asked_and_the_uid_asked(mutes: MuteStore) -> None:
    mutes.put(mute(scope="group:g1"))
    mutes.put(mute(uid="bob"))
    assert mutes.active("alice", ("global",), NOW) is None
    assert mutes.active("alice", ("global", "group:g1"), NOW) == mute(scope="group:g1")
    assert mutes.active("alice", ("global", "group:g2"), NOW) is None
    assert mutes.active("Alice", ("global", "group:g1"), NOW) is None


def test_among_several_live_mutes_active_answers_the_one_ending_last(mutes: MuteStore) -> None:
    mutes.put(mute(scope="global", until=NOW + 10))
    mutes.put(mute(scope="channel:world", until=NOW + 99))
    assert mutes.active("alice", ("global", "channel:world"), NOW) == mute(
        scope="channel:world", until=NOW + 99)
    mutes.put(mute(scope="global", until=None))
    assert mutes.active("alice", ("global", "channel:world"), NOW) == mute(until=None)


def test_list_gives_the_live_mutes_by_scope(mutes: MuteStore) -> None:
    mutes.put(mute(scope="login", until=None))
    mutes.put(mute(scope="global"))
    mutes.put(mute(scope="channel:world", until=NOW - 1))  # lapsed
    assert [m.scope for m in mutes.list("alice", NOW)] == ["global", "login"]


def test_purge_deletes_lapsed_mutes_in_batches_and_keeps_live_ones(mutes: MuteStore) -> None:
    for i in range(5):
        mutes.put(mute(uid=f"p{i}", until=NOW - 1 - i))
    mutes.put(mute(uid="live"))
    mutes.put(mute(uid="forever", until=None))
    assert mutes.purge(NOW, 2) == 2
    assert mutes.purge(NOW, 10) == 3
    assert mutes.purge(NOW, 10) == 0
    assert mutes.active("live", ("global",), NOW) is not None
    assert mutes.active("forever", ("global",), NOW) is not None


def test_a_switched_off_store_says_it_is_unavailable() -> None:
    down = InMemoryMuteStore()
    down.down = True
    with pytest.raises(MuteStoreUnavailable):
        down.active("alice", ("global",), NOW)


@pytest.mark.postgres
def test_a_database_that_is_gone_says_it_is_unavailable(postgres_url: str) -> None:
    from im_adapters.sql import create_engine_from_url
    from im_adapters.sql.mutes import SqlMuteStore

    engine = create_engine_from_url(postgres_url.rsplit("/", 1)[0] + "/im_no_such_db",
                                    timeout=1)
    try:
        with pytest.raises(MuteStoreUnavailable):
            SqlMuteStore(engine).active("alice", ("global",), NOW)
    finally:
        engine.dispose()
