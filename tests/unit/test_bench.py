"""The benchmark reads wrk's report and renders its results right: its figures end up in
docs/performance.md."""

from __future__ import annotations

import argparse
import math

import pytest

from bench.measure import Pairing, summary
from bench.report import render_docs, report
from bench.wrk import Run, combine, parse_wrk

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


def test_side_by_side_runs_sum_throughput_and_keep_the_worst_latency() -> None:
    both = combine([Run(100.0, 2.0, 9.0, 500, 1, {"full": 2}),
                    Run(150.0, 3.0, 7.0, 700, 0, {"full": 1, "short": 4})])
    assert both == Run(250.0, 3.0, 9.0, 1200, 1, {"full": 3, "short": 4})


MEMORY = {"sessions": 1000, "structure_bytes_per_session": 300.0, "bytes_per_session": 450.0,
          "live_after_sweep": 1, "bytes_left_after_sweep": 30_000,
          "bytes_left_after_second_wave": 30_100}


def _result() -> dict[str, object]:
    pairs = [Pairing(Run(4000.0, 4.0, 10.0, 1, 0), Run(3000.0, 5.0, 15.0, 1, 0)),
             Pairing(Run(4000.0, 4.0, 10.0, 1, 0), Run(2000.0, 6.0, 30.0, 1, 0))]
    return {"backend": "redis-postgres", "scenarios": {"heartbeat_empty": summary(pairs)}}


def test_the_report_shows_median_ratios_and_checks_them_against_the_targets() -> None:
    table = report([_result()], MEMORY, None, argparse.Namespace())
    row = next(line for line in table.splitlines() if line.startswith("| POST /v1/heartbeat {}"))
    # req/s 2,500 (median of 3,000 and 2,000); ratio 0.62 < 0.65; p99 ratio 2.25 > 2
    assert row == ("| POST /v1/heartbeat {} (inbox empty) | 2,500 | 5.50 | 22.50 | 4,000 | "
                   "10.00 | 0.62 | 2.25 | >= 0.65 MISSED; p99 <= 2.0x MISSED |")
    assert "Per-round ratios: heartbeat_empty [0.75, 0.5]" in table
    assert "**5,000**" in table  # online players: 2,500 req/s x 2 s
    assert "**450 bytes per session**" in table


def test_the_docs_template_is_filled_in_everywhere() -> None:
    page = render_docs("THE TABLE", [_result()], command="CMD", date="2026-01-02",
                       machine={"nproc": "2"}, versions={"python": "3.11"})
    assert "$" not in page
    assert "\nCMD\n" in page and "2026-01-02" in page and "THE TABLE" in page
    assert "- nproc: 2" in page and "- python: 3.11" in page
    assert "Redis database 14" in page
    assert "`{}`" in page  # literal braces in the prose survive
