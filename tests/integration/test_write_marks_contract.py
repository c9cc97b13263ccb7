"""The ``WriteMarks`` contract (im_adapters/sql/replica.py), in memory and in Redis.

A mark is the primary's WAL position at or after a player's latest write; a read on
the replica is only safe past it, so a mark must never go down, and every node must
see the same one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from im_adapters.sql.replica import InMemoryWriteMarks, RedisWriteMarks, WriteMarks


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make_marks(request: pytest.FixtureRequest) -> Iterator[Callable[[], WriteMarks]]:
    """Makes handles on one store of marks: two handles are two nodes."""
    if request.param == "memory":
        shared = InMemoryWriteMarks()
        yield lambda: shared
        return
    url = request.getfixturevalue("redis_url")
    namespace = request.getfixturevalue("redis_namespace")
    made: list[RedisWriteMarks] = []

    def make() -> WriteMarks:
        made.append(RedisWriteMarks.from_url(url, namespace=namespace))
        return made[-1]

    yield make
    for marks in made:
        marks.close()


def test_a_player_who_never_wrote_has_no_mark(make_marks: Callable[[], WriteMarks]) -> None:
    assert make_marks().get("alice") is None


def test_a_mark_only_rises_even_when_nodes_record_out_of_order(
    make_marks: Callable[[], WriteMarks],
) -> None:
    one, other = make_marks(), make_marks()
    one.raise_to(["alice", "bob"], 2_000)
    other.raise_to(["alice"], 1_500)  # an older write recorded later, on another node
    assert one.get("alice") == 2_000
    assert other.get("bob") == 2_000
    other.raise_to(["bob"], 3_000)
    assert one.get("bob") == 3_000


def test_in_memory_marks_expire_after_their_lifetime() -> None:
    now = [0.0]
    marks = InMemoryWriteMarks(clock=lambda: now[0])
    marks.raise_to(["alice"], 10)
    now[0] = 599.0
    assert marks.get("alice") == 10
    now[0] = 601.0
    assert marks.get("alice") is None
