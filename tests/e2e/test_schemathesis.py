"""Schemathesis, with every check, finds nothing wrong with a real server.

A real ``im-server serve`` (in-memory stores) is fuzzed from its own served
``/openapi.json``: every operation, positive and negative data, the examples, the
coverage, fuzzing and stateful phases, and ``--checks all`` (no 5xx, every status and
body as documented, invalid data refused with a 4xx, valid data accepted, auth
enforced). Each request carries a fresh session (tests/e2e/fuzzing/hooks.py), so a
fuzzed logout ends only its own. The budget is fixed (examples per operation, seed),
so the run is bounded and repeatable; docs/reliability.md gives the longer command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.fault_kit import SECRET, Node, clean_env

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).parent / "fuzzing" / "schemathesis.toml"
MAX_EXAMPLES = int(os.environ.get("IM_FUZZ_MAX_EXAMPLES", "100"))


def schemathesis_command(base_url: str, max_examples: int, seed: int) -> list[str]:
    """The schemathesis run the test and the longer documented run both make.

    One worker: with two, hypothesis parses lambda sources (``ast.parse``) in two
    threads at once, which CPython 3.11 before 3.11.8 can fail with "SystemError: AST
    constructor recursion depth mismatch" (a race in the interpreter, not a finding).
    """
    return [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
            f"{base_url}/openapi.json", "--checks", "all", "--mode", "all",
            "--max-examples", str(max_examples), "--seed", str(seed), "--workers", "1",
            "--request-timeout", "10", "--generation-database", "none", "--no-color"]


def fuzz_env(base_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SCHEMATHESIS_HOOKS="tests.e2e.fuzzing.hooks", IM_FUZZ_BASE_URL=base_url,
               IM_FUZZ_JWT_SECRET=SECRET, PYTHONPATH=str(ROOT))
    return env


def test_schemathesis_with_all_checks_finds_no_failure_and_no_server_error(
    tmp_path: Path,
) -> None:
    node = Node(clean_env({"IM_SESSION_STORE_URL": "memory://", "IM_DATABASE_URL": "memory://",
                           "IM_SESSION_TTL": "600", "IM_MAX_WAIT": "1"}, tmp_path), tmp_path)
    try:
        base_url = f"http://127.0.0.1:{node.port}"
        done = subprocess.run(schemathesis_command(base_url, MAX_EXAMPLES, seed=20303),
                              env=fuzz_env(base_url), cwd=tmp_path, capture_output=True, text=True,
                              timeout=170)
    finally:
        node.stop()
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert "No issues found" in done.stdout or " passed" in done.stdout, report
    assert "5xx" not in done.stdout.split("SUMMARY")[-1].replace("Expected", ""), report
