"""The benchmark reads wrk's report right: its figures end up in docs/performance.md."""

from __future__ import annotations

import math

import pytest

from bench.wrk import parse_wrk

REPORT = """Running 5s test @ http://127.0.0.1:40123/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    24.10ms    9.31ms 120.51ms   80.12%
    Req/Sec   663.52     80.11   850.00     71.00%
  Latency Distribution
     50%   22.83ms
     75%   27.01ms
     90%   33.40ms
     99%    1.20s
  6613 requests in 5.01s, 1.21MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   1319.76
Transfer/sec:    247.12KB
IMBENCH full=12 short=3
"""


def test_a_wrk_report_gives_throughput_percentiles_in_ms_and_errors() -> None:
    run = parse_wrk(REPORT)
    assert run.rps == 1319.76
    assert run.p50 == pytest.approx(22.83)
    assert run.p99 == pytest.approx(1200.0)
    assert run.requests == 6613
    assert run.errors == 4 + 2 + 1
    assert run.extra == {"full": 12, "short": 3}


def test_microsecond_percentiles_are_converted_to_ms() -> None:
    run = parse_wrk(REPORT.replace("22.83ms", "830.00us"))
    assert run.p50 == pytest.approx(0.83)


def test_a_report_without_throughput_is_an_error_not_a_zero() -> None:
    with pytest.raises(RuntimeError):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_missing_percentiles_are_nan_not_zero() -> None:
    run = parse_wrk("Requests/sec:   10.0\n")
    assert math.isnan(run.p50) and math.isnan(run.p99)
