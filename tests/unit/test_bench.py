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
    return {"backend": "redis-postgres", "redis_db": 7,
            "scenarios": {"heartbeat_empty": summary(pairs)}}


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
    assert "this run: 7;" in page  # the Redis database the run claimed
    assert "`{}`" in page  # literal braces in the prose survive


# -- the long-poll scenario's pure parts ------------------------------------------------

def test_latency_stats_are_nearest_rank_percentiles_in_ms() -> None:
    from bench.longpoll import latency_stats

    stats = latency_stats([i / 1000 for i in range(100, 0, -1)])  # 1..100 ms, unsorted
    assert stats == {"count": 100, "p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}
    assert latency_stats([0.005])["p99"] == 5.0


def test_latency_stats_of_nothing_are_nan_not_zero() -> None:
    from bench.longpoll import latency_stats

    stats = latency_stats([])
    assert stats["count"] == 0 and math.isnan(stats["p50"]) and math.isnan(stats["max"])


def test_idle_cost_is_requests_per_player_per_minute() -> None:
    from bench.longpoll import idle_cost

    assert idle_cost(750, 100, 60.0) == 7.5
    assert idle_cost(150, 100, 12.0) == 7.5
    assert math.isnan(idle_cost(10, 0, 60.0))


def _longpoll(**one: object) -> dict[str, object]:
    lat = {"count": 1000, "p50": 4.2, "p90": 7.0, "p99": 21.5, "max": 40.0}
    two = {"waiters": 1000, "latency": lat, "sent": 1000, "delivered": 1000, "lost": 0,
           "duplicates": 0, "unknown": 0, "send_errors": {}, "waiter_errors": {},
           "plain_quiet": [(2000.0, 20.0, 0), (2100.0, 30.0, 0)],
           "plain_busy": [(1800.0, 60.0, 0)]}
    node = {"waiters": 10000, "latency": {**lat, "p99": 250.0}, "sent": 1000,
            "delivered": 999, "lost": 1, "duplicates": 0, "unknown": 0, "send_errors": {},
            "waiter_errors": {"reset": 2}, "open_min": 10000, "held_at_start": 10000,
            "held_min": 9990, "held_max": 10000, "rss_before": 100 * 2**20,
            "rss_after": 300 * 2**20, "rss_per_waiter": 20 * 2**20 / 1000,
            "idle_per_minute": 7.5, "login_rate": 400.0} | one
    return {"max_wait": 8.0, "rate": 100.0, "seconds": 10.0, "two_nodes": two,
            "one_node": [node]}


def test_the_long_poll_rows_check_every_target() -> None:
    from bench.report import longpoll_report

    text = longpoll_report(_longpoll())
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    two = rows["| delivery latency, 1,000 waiters on 2 nodes, sent through the other node"]
    assert "p50 **4.2** ms" in two and "p99 **21.5** ms" in two and two.endswith("| ok |")
    assert "Synapse" in two
    assert rows["| messages, 2 nodes"].endswith("| ok |")
    plain = rows["| plain heartbeats (wrk, both nodes) while 1,000 wait"]
    assert "**2.40x**" in plain and plain.endswith("| ok |")  # 60 / mean(20, 30)
    node = "10,000 waiters on one node (`--workers 1`)"
    assert rows[f"| {node}: connections"].endswith("| MISSED |")  # resets
    lost = rows[f"| messages, {node}"]
    assert "lost 1" in lost and "reset 2" in lost and lost.endswith("| MISSED |")
    assert rows[f"| delivery latency, {node}"].endswith("| MISSED |")
    assert "**20.5 KiB per waiting player**" in rows["| server memory, 10,000 waiters"]
    idle = rows["| cost of an idle online player"]
    assert "30.0 requests/min" in idle and "measured **7.5**" in idle and "4.0x fewer" in idle


def test_a_clean_one_node_run_passes() -> None:
    from bench.report import longpoll_report

    text = longpoll_report(_longpoll(delivered=1000, lost=0, waiter_errors={},
                                     latency={"count": 1000, "p50": 9.0, "p90": 50.0,
                                              "p99": 150.0, "max": 190.0}))
    assert "MISSED" not in text


def test_the_report_carries_the_long_poll_section() -> None:
    result = _result() | {"longpoll": _longpoll()}
    table = report([result], MEMORY, None, argparse.Namespace())
    assert "#### Long-poll (max_wait 8 s, sender 100 messages/s for 10 s per set-up)" in table


def test_the_idle_population_simulation_counts_fewer_heartbeats_than_a_fixed_interval() -> None:
    from bench.idle_heartbeats import simulate

    idle = simulate(50, 0.0, 1, 10)
    assert idle["fixed"] == 50 * 30
    assert idle["adaptive"] == 50 * 12  # one every 5 s
    chatting = simulate(50, 0.5, 1, 5)
    assert idle["adaptive"] < chatting["adaptive"] < chatting["fixed"]
    assert chatting["messages"] > 0 and chatting["worst_wait_ms"] <= 5_000


def test_the_guild_run_counts_a_message_a_member_never_got_as_lost() -> None:
    from bench.guild import GuildRun

    run = GuildRun(members=3)
    run.sent_at = {0: 1.0, 1: 2.0}
    run.got = {"a": {0, 1}, "b": {0}}
    run.delivery = [0.010, 0.020, 0.030]
    run.sends = [0.004, 0.006]
    run.duplicates = 1
    summary = run.summary()
    assert (summary["messages"], summary["deliveries"], summary["lost"],
            summary["duplicates"]) == (2, 3, 1, 1)
    assert summary["delivery"]["p99"] == 30.0
    assert summary["send"]["max"] == 6.0
