"""Whole numbers written as floats (``20303.0``) are integers, as JSON Schema says.

Schemathesis found the server refusing a schema-valid ``{"ack": 20303.0}``: the
OpenAPI document says ``integer``, and JSON Schema counts ``20303.0`` as one. The
heartbeat now reads an integral float as its integer, within the same ranges: a
fraction, ``1e300`` or a negative number is still 400 and deletes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Stack


def test_an_ack_and_a_limit_written_as_whole_floats_are_read_as_integers(
    memory_stack: Stack,
) -> None:
    api = memory_stack.api
    alice, bob = api.login("alice"), api.login("bob")
    for n in range(3):
        api.send(alice, "bob", f"m{n}")
    page = api.post("/v1/heartbeat", {"limit": 2.0}, token=bob)
    assert page.status_code == 200 and len(page.json["messages"]) == 2
    first = page.json["messages"][0]["msgid"]
    acked = api.post("/v1/heartbeat", {"ack": float(first), "limit": 100.0}, token=bob)
    assert acked.status_code == 200
    assert [m["body"] for m in acked.json["messages"]] == ["m1", "m2"]


@pytest.mark.parametrize("body", [{"ack": 1e300}, {"ack": 1.5}, {"ack": -1.0},
                                  {"limit": 2.5}, {"limit": 501.0}, {"limit": 1e300}])
def test_a_float_that_is_not_an_integer_in_range_is_still_400(
    memory_stack: Stack, body: dict[str, Any],
) -> None:
    api = memory_stack.api
    alice, bob = api.login("alice"), api.login("bob")
    api.send(alice, "bob", "keep me")
    answer = api.post("/v1/heartbeat", body, token=bob)
    assert (answer.status_code, answer.json["code"]) == (400, "invalid_request")
    assert len(api.heartbeat(bob).json["messages"]) == 1
