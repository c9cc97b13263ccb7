"""A real ``im-server`` process for the tests that need one, ended by its pid."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.processes import free_port
from tests.e2e.live import exchange

__all__ = ["SERVER", "call", "im_server", "isolated_env", "serving"]

SERVER = [sys.executable, "-m", "im_http.serving.cli"]


def isolated_env(**extra: str) -> dict[str, str]:
    """This environment without any IM_ variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("IM_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(extra)
    return env


def im_server(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one ``im-server`` command to its end (60 s at most)."""
    return subprocess.run([*SERVER, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)


def call(port: int, method: str, path: str, body: Any = None, token: str | None = None,
         headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, Any, Any]:
    """One HTTP request on a new connection: status, decoded body, headers."""
    status, answer, answer_headers, _ = exchange(port, method, path, body, token, headers,
                                                 timeout)
    return status, answer, answer_headers


@contextlib.contextmanager
def serving(*flags: str, cwd: Path, env: dict[str, str],
            log: Path | None = None) -> Iterator[int]:
    """``im-server serve`` on a free port until the block ends; yields the port."""
    port = free_port()
    log = log or cwd / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen([*SERVER, "serve", "--port", str(port), *flags], cwd=cwd,
                                   env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "im-server serve did not come up"
            try:
                if call(port, "GET", "/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
