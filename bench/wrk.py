"""Running wrk and reading its report.

Each scenario's Lua script (``bench/lua/``) may print an ``IMBENCH key=n ...`` line at
the end; those counts come back in ``Run.extra``.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass, field

from bench.settings import CONNECTIONS, LUA, WRK, WRK_THREADS

__all__ = ["Run", "parse_wrk", "run_wrk"]


@dataclass
class Run:
    rps: float
    p50: float  # milliseconds
    p99: float
    requests: int
    errors: int  # non-2xx/3xx plus socket errors
    extra: dict[str, int] = field(default_factory=dict)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk(text: str) -> Run:
    """One wrk ``--latency`` report; a report without a throughput is an error."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if rps is None:
        raise RuntimeError(f"cannot read wrk output:\n{text}")
    percentiles = {
        int(m.group(1)): float(m.group(2)) * _UNITS[m.group(3)]
        for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
    }
    total = re.search(r"^\s+(\d+) requests in", text, re.M)
    errors = 0
    if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)):
        errors += int(m.group(1))
    if (m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       text)):
        errors += sum(int(g) for g in m.groups())
    extra = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", " ".join(
        line for line in text.splitlines() if line.startswith("IMBENCH")))}
    return Run(float(rps.group(1)), percentiles.get(50, math.nan), percentiles.get(99, math.nan),
               int(total.group(1)) if total else 0, errors, extra)


def combine(runs: list[Run]) -> Run:
    """Side-by-side runs as one: throughput, requests, errors and counts summed; the
    worst p50 and p99."""
    extra: dict[str, int] = {}
    for r in runs:
        for k, v in r.extra.items():
            extra[k] = extra.get(k, 0) + v
    return Run(sum(r.rps for r in runs), max(r.p50 for r in runs), max(r.p99 for r in runs),
               sum(r.requests for r in runs), sum(r.errors for r in runs), extra)


def run_wrk(ports: list[int], script: str, args: list[str], duration: float) -> Run:
    """Load ``ports`` (one wrk per port, side by side) and sum their throughput.

    One port: ``wrk -t2 -c32``. N ports: N wrk processes with 2/N threads and 32/N
    connections each (at least one thread), so the client side stays the same size.
    Latency percentiles are the worst of the N.
    """
    n = len(ports)
    threads = max(1, WRK_THREADS // n)
    conns = max(threads, CONNECTIONS // n)
    procs = []
    for index, port in enumerate(ports):
        cmd = [WRK, f"-t{threads}", f"-c{conns}", f"-d{duration:g}s", "--latency",
               "--timeout", "5s", "-s", str(LUA / f"{script}.lua"),
               f"http://127.0.0.1:{port}/", "--", args[0], str(threads), str(index), str(n),
               *args[1:]]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL))
    runs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=duration + 60)
            text = out.decode(errors="replace")
            if proc.returncode != 0:
                raise RuntimeError(f"wrk failed ({proc.returncode}):\n{text}")
            runs.append(parse_wrk(text))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return combine(runs)
