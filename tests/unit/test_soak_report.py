"""The soak's verdict: any false offline, error, loss, duplicate or memory growth fails."""

from __future__ import annotations

from typing import Any

import pytest

from bench.soak import RSS_GROWTH_LIMIT, failures

CLEAN: dict[str, Any] = {"false_offline": 0, "errors": 0, "lost": 0, "duplicated": 0,
                         "rss_growth_after_warmup": 0.01, "sends_answered_2xx": 100}


def test_a_clean_soak_report_passes() -> None:
    assert failures(CLEAN) == []


@pytest.mark.parametrize(("key", "value"), [
    ("false_offline", 1), ("errors", 2), ("lost", 1), ("duplicated", 1),
    ("rss_growth_after_warmup", RSS_GROWTH_LIMIT), ("sends_answered_2xx", 0)])
def test_a_soak_report_with_any_fault_fails(key: str, value: float) -> None:
    assert failures({**CLEAN, key: value})
