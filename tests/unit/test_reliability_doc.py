"""Every test docs/reliability.md names as the proof of a guarantee exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reliability.md"


def test_every_test_the_reliability_page_names_exists() -> None:
    named = set(re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", PAGE.read_text()))
    assert len(named) > 15
    for path, test in named:
        source = ROOT / path
        assert source.is_file(), path
        if test:
            assert re.search(rf"^def {test}\(", source.read_text(), re.M), f"{path}::{test}"
