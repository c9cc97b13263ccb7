"""Starting and stopping the processes the benchmark (and the tests) serve from.

Everything started goes through ``Processes`` so that one ``stop_all`` in a finally
block ends each of them by its pid, also on Ctrl-C and SIGTERM. This module imports
only the standard library: the tests borrow ``free_port`` from it.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["Processes", "free_port", "wait_http"]


class Processes:
    """Every subprocess the benchmark started; ``stop_all`` ends each one by its pid."""

    def __init__(self) -> None:
        self._items: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], *, env: dict[str, str], cwd: Path,
              log_path: Path) -> subprocess.Popen[bytes]:
        out = open(log_path, "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self._items.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=10)
        if proc in self._items:
            self._items.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self._items)):
            self.stop(proc)


def free_port() -> int:
    """A loopback TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(port: int, proc: subprocess.Popen[bytes], log_path: Path,
              path: str = "/healthz", timeout: float = 30.0) -> None:
    """Wait until ``proc`` answers 200 on ``path``; fail with its log if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited ({proc.returncode}):\n"
                               + log_path.read_text(errors="replace")[-3000:])
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} not ready after {timeout}s")
