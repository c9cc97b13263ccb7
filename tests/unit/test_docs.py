"""The README's and docs' snippets work when pasted as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _blocks(language: str) -> list[tuple[str, str]]:
    return [(page.name, match.group(2)) for page in PAGES
            for match in _BLOCK.finditer(page.read_text()) if match.group(1) == language]


def _shell_lines() -> list[tuple[str, str]]:
    return [(name, line) for name, block in _blocks("sh") for line in block.splitlines()]


def test_shell_snippets_export_the_settings_they_set() -> None:
    # A bare `IM_X=...` line sets a shell variable im-server never sees: `migrate`
    # then quietly migrated the default SQLite file instead of the database meant.
    bare = [(name, line) for name, line in _shell_lines()
            if re.fullmatch(r"\s*IM_[A-Z_]+=\S*\s*(#.*)?", line)]
    assert bare == []


def test_shell_snippets_run_im_server_and_pip_from_the_venv() -> None:
    loose = [(name, line) for name, line in _shell_lines()
             if re.search(r"(^|\$\(|&&|;|\|)\s*(im-server|pip)\b", line)]
    assert loose == []


def test_the_shell_snippets_are_found_at_all() -> None:
    assert len(_shell_lines()) > 20


@pytest.mark.parametrize(("name", "code"), _blocks("python"))
def test_the_python_snippets_run_as_written(name: str, code: str) -> None:
    exec(compile(code, name, "exec"), {})


def test_every_test_docs_security_names_exists() -> None:
    # docs/security.md proves each guarantee by naming a test: the name must be real.
    named = set(re.findall(r"\b(test_\w+)`", (ROOT / "docs" / "security.md").read_text()))
    defined = {match for path in (ROOT / "tests").rglob("test_*.py")
               for match in re.findall(r"^def (test_\w+)", path.read_text(), re.M)}
    assert named, "docs/security.md names its tests"
    assert sorted(named - defined) == []
