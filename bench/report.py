"""The results as Markdown: the printed table, and docs/performance.md around it.

The page's prose lives in ``bench/performance.md.template`` (``string.Template``
placeholders such as ``${table}``), so that it can be read and edited as the page it
becomes; this module only fills it in.
"""

from __future__ import annotations

import argparse
import math
import string
import time
from pathlib import Path
from typing import Any

from bench.environment import machine, versions
from bench.settings import (
    DESCRIPTIONS,
    HEARTBEAT_INTERVAL,
    HEARTBEAT_P99_TARGET,
    LONGPOLL_P50_TARGET,
    LONGPOLL_P99_TARGETS,
    LONGPOLL_PLAIN_TARGET,
    ROOT,
    SCALE_SCENARIOS,
    SCALE_TARGET,
    SCENARIOS,
    SESSION_BYTES_TARGET,
    TARGETS,
    WORKERS_TARGET,
)

__all__ = ["DOCS_PATH", "TEMPLATE_PATH", "longpoll_report", "render_docs", "report",
           "write_docs"]

TEMPLATE_PATH = Path(__file__).resolve().parent / "performance.md.template"
DOCS_PATH = ROOT / "docs" / "performance.md"


def fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:,.{digits}f}"


def check(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _online(res: dict[str, Any], sc: dict[str, Any]) -> list[str]:
    """The online-players line: one process, and ``--workers N`` if it ran."""
    out: list[str] = []
    hb = sc["heartbeat_empty"]["rps"]
    online = (f"Online players per node (heartbeat req/s x {HEARTBEAT_INTERVAL:g} s "
              f"interval), 1 process: **{fmt(hb * HEARTBEAT_INTERVAL)}**")
    if "workers" in res:
        w = res["workers"]
        scale = w["rps"] / hb if hb else math.nan
        online += (f"; `--workers {w['workers']}` on one port: "
                   f"**{fmt(w['rps'] * HEARTBEAT_INTERVAL)}** ")
        out.append(online +
                   f"(heartbeat {fmt(w['rps'])} req/s, p99 {fmt(w['p99'], 2)} ms, "
                   f"{fmt(scale, 2)}x one process, target >= {WORKERS_TARGET} "
                   f"{check(scale >= WORKERS_TARGET)}; bare app with "
                   f"`--workers {w['workers']}`: {fmt(w['bare_rps'])} req/s, "
                   f"ratio {fmt(w['ratio'], 2)}; per-round ratios {w['rounds']})")
    elif "workers_note" in res:
        out.append(online + f" ({res['workers_note']})")
    else:
        out.append(online)
    out.append("")
    return out


def _errors(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none"


def _lat(lat: dict[str, float]) -> str:
    return (f"p50 **{fmt(lat['p50'], 1)}** ms, p90 {fmt(lat['p90'], 1)} ms, p99 "
            f"**{fmt(lat['p99'], 1)}** ms, max {fmt(lat['max'], 1)} ms "
            f"({lat['count']:,} messages)")


def _intact(r: dict[str, Any]) -> tuple[str, bool]:
    ok = (r["lost"] == 0 and r["duplicates"] == 0 and not r["send_errors"]
          and not r["waiter_errors"] and r["unknown"] == 0)
    return (f"{r['delivered']:,} of {r['sent']:,} sent delivered; lost {r['lost']}, "
            f"duplicated {r['duplicates']}; waiter errors: {_errors(r['waiter_errors'])}; "
            f"send errors: {_errors(r['send_errors'])}"), ok


def longpoll_report(lp: dict[str, Any]) -> str:
    """The long-poll rows: delivery latency, integrity, plain heartbeats beside the
    waiters, an idle player's cost and the memory per waiting player."""
    wait = lp["max_wait"]
    out = [f"#### Long-poll (max_wait {wait:g} s, sender {fmt(lp['rate'])} messages/s for "
           f"{lp['seconds']:g} s per set-up)\n",
           "| measure | figure | target | verdict |", "|---|---|---|---|"]
    two = lp.get("two_nodes")
    if two:
        lat = two["latency"]
        p99_target = LONGPOLL_P99_TARGETS["two_nodes"]
        ok = lat["p50"] < LONGPOLL_P50_TARGET and lat["p99"] < p99_target
        out.append(f"| delivery latency, {two['waiters']:,} waiters on 2 nodes, sent "
                   f"through the other node | {_lat(lat)} | p50 < {LONGPOLL_P50_TARGET:g} ms, "
                   f"p99 < {p99_target:g} ms (Synapse: p50 82-101 ms, p99 106-136 ms) "
                   f"| {check(ok)} |")
        text, ok = _intact(two)
        out.append(f"| messages, 2 nodes | {text} | none lost, duplicated or failed "
                   f"| {check(ok)} |")
        quiet = [p99 for _, p99, _ in two["plain_quiet"]]
        busy = [p99 for _, p99, _ in two["plain_busy"]]
        if quiet and busy:
            base = sum(quiet) / len(quiet)
            worst = max(busy)
            ratio = worst / base if base else math.nan
            rps = [rps for rps, _, _ in two["plain_busy"]]
            errors = sum(e for _, _, e in two["plain_quiet"] + two["plain_busy"])
            out.append(f"| plain heartbeats (wrk, both nodes) while {two['waiters']:,} wait "
                       f"| p99 {fmt(worst, 2)} ms ({fmt(min(rps))} req/s) against "
                       f"{fmt(base, 2)} ms with nobody waiting (mean of "
                       f"{', '.join(fmt(q, 2) for q in quiet)}): **{fmt(ratio, 2)}x**"
                       f"{f'; {errors} errors' if errors else ''} "
                       f"| p99 <= {LONGPOLL_PLAIN_TARGET:g}x "
                       f"| {check(ratio <= LONGPOLL_PLAIN_TARGET)} |")
    for one in lp.get("one_node", []):
        n = one["waiters"]
        held_ok = (one["open_min"] == n and one["held_at_start"] == n and
                   not one["waiter_errors"])
        node = f"one node (`--workers {one.get('workers', 1)}`)"
        out.append(f"| {n:,} waiters on {node}: connections | open throughout: at least "
                   f"{one['open_min']:,} of {n:,}; heartbeats out: {one['held_at_start']:,} "
                   f"once all started, {one['held_min']:,}..{one['held_max']:,} while sending "
                   f"| every connection held, no refusal, reset or error | {check(held_ok)} |")
        text, ok = _intact(one)
        out.append(f"| messages, {n:,} waiters on {node} | {text} | none lost, duplicated "
                   f"or failed | {check(ok)} |")
        p99_target = LONGPOLL_P99_TARGETS["one_node"]
        out.append(f"| delivery latency, {n:,} waiters on {node} | {_lat(one['latency'])} "
                   f"| p99 < {p99_target:g} ms | {check(one['latency']['p99'] < p99_target)} |")
        out.append(f"| server memory, {n:,} waiters | RSS {fmt(one['rss_before'] / 2**20)} -> "
                   f"{fmt(one['rss_after'] / 2**20)} MiB: **{fmt(one['rss_per_waiter'] / 1024, 1)}"
                   f" KiB per waiting player** | (reported) | |")
        heartbeat = 60 / HEARTBEAT_INTERVAL
        out.append(f"| cost of an idle online player | {fmt(heartbeat, 1)} requests/min with "
                   f"the {HEARTBEAT_INTERVAL:g} s heartbeat; long-poll: {fmt(60 / wait, 1)} "
                   f"(60 / {wait:g} s), measured **{fmt(one['idle_per_minute'], 1)}** "
                   f"(players sent nothing, {n:,} waiters): "
                   f"{fmt(heartbeat / one['idle_per_minute'], 1)}x fewer | (reported) | |")
        out.append(f"| logins, {n:,} players (48 at a time) | {fmt(one['login_rate'])} "
                   f"logins/s | (reported) | |")
    out.append("")
    return "\n".join(out)


def report(results: list[dict[str, Any]], memory: dict[str, Any],
           redis_memory: dict[str, Any] | None, args: argparse.Namespace) -> str:
    """The printed table (also what --write-docs puts in docs/performance.md)."""
    out = []
    for res in results:
        name = res["backend"]
        out.append(f"### {name}\n")
        out.append("| scenario | req/s | p50 ms | p99 ms | bare req/s | bare p99 ms "
                   "| ratio to bare | p99 / bare p99 | target |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        sc = res["scenarios"]
        for key in (k for k in SCENARIOS if k in sc):
            s = sc[key]
            target = ""
            if key in TARGETS:
                bound = TARGETS[key][1]
                target = f">= {bound} {check(s['ratio'] >= bound)}"
            if key == "heartbeat_empty":
                target += f"; p99 <= {HEARTBEAT_P99_TARGET}x " \
                          f"{check(s['p99_ratio'] <= HEARTBEAT_P99_TARGET)}"
            if key == "heartbeat_ack":
                ex = s["extra"]
                target = f"{ex.get('full', 0)} full / {ex.get('short', 0)} short pages"
            if s["errors"]:
                target += f" ({s['errors']} errors)"
            out.append(f"| {DESCRIPTIONS[key]} | {fmt(s['rps'])} | {fmt(s['p50'], 2)} | "
                       f"{fmt(s['p99'], 2)} | {fmt(s['bare_rps'])} | {fmt(s['bare_p99'], 2)} | "
                       f"{fmt(s['ratio'], 2)} | {fmt(s['p99_ratio'], 2)} | {target} |")
        out.append("")
        out.append("Per-round ratios: " + "; ".join(
            f"{k} {sc[k]['rounds']}" for k in SCENARIOS if k in sc) + "\n")
        if "heartbeat_empty" in sc:
            out.extend(_online(res, sc))
        if "scale" in res:
            f = res["scale_fill"]
            out.append(f"Scale run: `messages` {f['messages']:,} rows, `offline` "
                       f"{f['offline']:,} rows (bulk insert {f['insert_s']} s).\n")
            out.append("The machine drifts between the small-table and the scale rounds, so "
                       "the verdict compares each p50 **relative to the bare app's p50 "
                       "measured beside it** (normalized p50 x); raw p50 x is shown too.\n")
            out.append("| scenario | small p50 ms | scale p50 ms | raw p50 x | small p99 ms "
                       "| scale p99 ms | raw p99 x | normalized p50 x | small ratio "
                       f"| scale ratio | target normalized p50 <= {SCALE_TARGET}x |")
            out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
            for key in SCALE_SCENARIOS:
                a, b = sc[key], res["scale"][key]
                x50 = b["p50"] / a["p50"]
                x99 = b["p99"] / a["p99"]
                norm = (b["p50"] / b["bare_p50"]) / (a["p50"] / a["bare_p50"])
                out.append(f"| {DESCRIPTIONS[key]} | {fmt(a['p50'], 2)} | {fmt(b['p50'], 2)} | "
                           f"{fmt(x50, 2)} | {fmt(a['p99'], 2)} | {fmt(b['p99'], 2)} | "
                           f"{fmt(x99, 2)} | {fmt(norm, 2)} | {fmt(a['ratio'], 2)} | "
                           f"{fmt(b['ratio'], 2)} | {check(norm <= SCALE_TARGET)} |")
            out.append("")
        if "longpoll" in res:
            out.append(longpoll_report(res["longpoll"]))
        if res.get("server_warnings"):
            out.append(f"im-server log lines with WARNING/ERROR: {res['server_warnings']} "
                       f"(first: {res.get('server_warning_sample', [''])[0]!r})\n")
    out.append("### Session memory\n")
    ok = memory["bytes_per_session"] <= SESSION_BYTES_TARGET
    structures = memory["structure_bytes_per_session"] * memory["sessions"]
    freed = 100 * (1 - memory["bytes_left_after_sweep"] / structures)
    out.append(f"- `InMemorySessionStore`: **{fmt(memory['bytes_per_session'])} bytes per "
               f"session** ({memory['sessions']:,} sessions, tracemalloc; of which "
               f"{fmt(memory['structure_bytes_per_session'])} the store's own structures and the "
               f"rest the uid and secret strings it keeps alive); target <= "
               f"{SESSION_BYTES_TARGET} {check(ok)}. After the TTL passed and one create() swept: "
               f"{memory['live_after_sweep']} session left, "
               f"{fmt(memory['bytes_left_after_sweep'])} bytes still allocated "
               f"({fmt(freed)}% "
               f"of the store's structures freed; what is left is the dicts' hash tables, "
               f"which Python does not shrink); after a second wave of "
               f"{memory['sessions']:,} sessions, swept the same way: "
               f"{fmt(memory['bytes_left_after_second_wave'])} bytes (reused, not leaked).")
    if redis_memory:
        out.append(f"- `RedisSessionStore`: {fmt(redis_memory['bytes_per_session'])} bytes of "
                   f"Redis `used_memory` per session ({redis_memory['sessions']:,} sessions, "
                   f"one user each).")
    return "\n".join(out)


def render_docs(table: str, results: list[dict[str, Any]], *, command: str, date: str,
                machine: dict[str, str], versions: dict[str, str]) -> str:
    """docs/performance.md's text: the template filled in with one run's results."""
    explains = "\n\n".join(f"#### {r['backend']}\n\n```\n{r['explain']}\n```"
                           for r in results if r.get("explain"))
    profiles = "\n\n".join(f"#### {r['backend']}: {sc}\n\n```\n{text}\n```"
                           for r in results
                           for sc, text in r["scenarios"].get("_profiles", {}).items())
    template = string.Template(TEMPLATE_PATH.read_text())
    return template.substitute(
        command=command,
        date=date,
        machine="\n".join(f"- {k}: {val}" for k, val in machine.items()),
        versions="\n".join(f"- {k}: {val}" for k, val in versions.items()),
        table=table,
        explain=("### EXPLAIN after the scale fill\n\n" + explains) if explains else
        "(not run: add `--scale`)",
        profiles=("### py-spy profiles of im-server under load\n\n" + profiles) if profiles
        else "",
        redis_db=", ".join(str(r["redis_db"]) for r in results
                           if r.get("redis_db") is not None) or "(none: embedded only)",
    )


def write_docs(table: str, results: list[dict[str, Any]], backends: list[str],
               command: str, start: tuple[str, str], path: Path = DOCS_PATH) -> Path:
    """Write docs/performance.md for this run; ``start`` is ``git_state()`` at its start."""
    path.write_text(render_docs(table, results, command=command,
                                date=time.strftime("%Y-%m-%d"), machine=machine(),
                                versions=versions(backends, start)))
    return path
