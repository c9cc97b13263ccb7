"""The measuring: bare and scenario runs alternated, and their ratios summarized.

Runs alternate (bare, scenario, bare, scenario, ...) so that drift of the shared
machine hits both alike; a scenario's figure is the median over rounds of its ratio
to the bare run just before it.
"""

from __future__ import annotations

import argparse
import math
import secrets
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.log import log
from bench.players import Players
from bench.processes import Processes
from bench.profile import start_profile, summarize_profile
from bench.seed import top_up_inboxes
from bench.servers import start_pair
from bench.settings import PAGE
from bench.stores import Backend
from bench.wrk import Run, run_wrk

__all__ = ["Measurer", "Pairing", "summary"]


@dataclass
class Pairing:
    bare: Run
    scenario: Run

    @property
    def ratio(self) -> float:
        return self.scenario.rps / self.bare.rps if self.bare.rps else math.nan

    @property
    def p99_ratio(self) -> float:
        return self.scenario.p99 / self.bare.p99 if self.bare.p99 else math.nan


def median(values: list[float]) -> float:
    """The median of the values that are numbers; NaN if none is."""
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def summary(pairs: list[Pairing]) -> dict[str, Any]:
    """Medians over rounds of a scenario's figures, its bare runs' and their ratios."""
    return {
        "rps": median([p.scenario.rps for p in pairs]),
        "p50": median([p.scenario.p50 for p in pairs]),
        "p99": median([p.scenario.p99 for p in pairs]),
        "bare_rps": median([p.bare.rps for p in pairs]),
        "bare_p50": median([p.bare.p50 for p in pairs]),
        "bare_p99": median([p.bare.p99 for p in pairs]),
        "ratio": median([p.ratio for p in pairs]),
        "p99_ratio": median([p.p99_ratio for p in pairs]),
        "errors": sum(p.scenario.errors + p.bare.errors for p in pairs),
        "rounds": [round(p.ratio, 3) for p in pairs],
        "extra": {k: sum(p.scenario.extra.get(k, 0) for p in pairs)
                  for k in {k for p in pairs for k in p.scenario.extra}},
    }


class Measurer:
    """The scenarios' rounds on one backend, as the command line asked for them."""

    def __init__(self, args: argparse.Namespace, procs: Processes) -> None:
        self.args = args
        self.procs = procs

    def measure(self, backend: Backend, players: Players, im_ports: list[int],
                bare_ports: list[int], scenarios: tuple[str, ...], *,
                server_pid: int | None = None, workdir: Path) -> dict[str, Any]:
        args = self.args
        est = {"rate": 500.0}
        bare_args = [str(players.files["heartbeat_empty"])]

        def scenario_args(sc: str, duration: float) -> list[str]:
            if sc == "heartbeat_ack":
                # Enough for the whole run at the heartbeat (empty) rate: acking is slower.
                per_player = math.ceil(est["rate"] * 1.2 * duration / len(players.ack_uids))
                acks = top_up_inboxes(backend.direct_url, backend.session_url,
                                      players.ack_uids,
                                      (per_player + 2) * PAGE, f"pf{secrets.token_hex(3)}")
                path = workdir / "heartbeat_ack.txt"
                path.write_text("".join(f"{players.ack_tokens[u]} {u} {acks[u]}\n"
                                        for u in players.ack_uids))
                return [str(path)]
            if sc == "send":
                return [str(players.files["send"]), secrets.token_hex(3)]
            return [str(players.files[sc])]

        # Warm-up: every server path and the bare app once, not recorded.
        run_wrk(bare_ports, "bare", bare_args, 1)
        for sc in scenarios:
            warm = run_wrk(im_ports, sc, scenario_args(sc, 1), 1)
            if sc == "heartbeat_empty":
                est["rate"] = warm.rps
        pairs: dict[str, list[Pairing]] = {sc: [] for sc in scenarios}
        for r in range(args.rounds):
            for sc in scenarios:
                sargs = scenario_args(sc, args.duration)
                bare = run_wrk(bare_ports, "bare", bare_args, args.duration)
                run = run_wrk(im_ports, sc, sargs, args.duration)
                if sc == "heartbeat_empty":
                    est["rate"] = max(est["rate"], run.rps)
                pairs[sc].append(Pairing(bare, run))
                log(f"{backend.name} round {r + 1}/{args.rounds} {sc:16s} "
                    f"{run.rps:8.0f} req/s p50 {run.p50:6.2f} ms p99 {run.p99:6.2f} ms | "
                    f"bare {bare.rps:8.0f} req/s p99 {bare.p99:6.2f} ms | "
                    f"ratio {run.rps / bare.rps:.2f}"
                    + (f" errors {run.errors}" if run.errors else "")
                    + (f" {run.extra}" if run.extra else ""))
        out: dict[str, Any] = {sc: summary(p) for sc, p in pairs.items()}
        if self.args.profile and server_pid is not None:
            out["_profiles"] = self.profile_scenarios(backend, players, im_ports, server_pid,
                                                      workdir, scenario_args)
        return out

    def profile_scenarios(self, backend: Backend, players: Players, im_ports: list[int],
                          pid: int, workdir: Path,
                          scenario_args: Callable[[str, float], list[str]]) -> dict[str, str]:
        found: dict[str, str] = {}
        seconds = max(5, int(self.args.duration))
        for sc in ("heartbeat_empty", "send", "heartbeat_ack", "history"):
            out = workdir / f"profile-{sc}.txt"
            gil_out = workdir / f"profile-{sc}-gil.txt"
            sargs = scenario_args(sc, seconds + 2)
            spy = start_profile(pid, seconds, out)
            if spy is None:
                return found
            spy_gil = start_profile(pid, seconds, gil_out, gil=True)
            time.sleep(0.5)
            run_wrk(im_ports, sc, sargs, seconds + 1)
            for p in (spy, spy_gil):
                if p is not None:
                    p.wait(timeout=seconds + 30)
            parts = []
            if gil_out.exists():
                parts.append("GIL holder only (where the CPU goes in Python):\n"
                             + summarize_profile(gil_out))
            if out.exists():
                parts.append("every busy thread (where request threads spend wall time, "
                             "including waits for the GIL after I/O):\n"
                             + summarize_profile(out))
            if parts:
                found[sc] = "\n\n".join(parts)
                print(f"\n== py-spy profile of im-server ({backend.name}, {sc}) ==\n"
                      f"{found[sc]}\n", flush=True)
        return found

    def measure_workers(self, backend: Backend, env: dict[str, str], workdir: Path,
                        players: Players) -> dict[str, Any]:
        """Heartbeat (empty inbox) on one im-server with ``--workers N`` on one port,
        loaded by the same wrk as the one-process runs; the bare app likewise."""
        n = self.args.workers
        im_port, bare_port, server, bare_proc = start_pair(self.procs, env, workdir, n)
        bare_args = [str(players.files["heartbeat_empty"])]
        sc_args = [str(players.files["heartbeat_empty"])]
        run_wrk([bare_port], "bare", bare_args, 1)
        run_wrk([im_port], "heartbeat_empty", sc_args, 1)
        pairs = []
        try:
            for r in range(self.args.rounds):
                bare = run_wrk([bare_port], "bare", bare_args, self.args.duration)
                run = run_wrk([im_port], "heartbeat_empty", sc_args, self.args.duration)
                pairs.append(Pairing(bare, run))
                log(f"{backend.name} --workers {n} round {r + 1}: heartbeat {run.rps:.0f} "
                    f"req/s p99 {run.p99:.2f} ms | bare {bare.rps:.0f} req/s | "
                    f"ratio {run.rps / bare.rps:.2f}")
        finally:
            self.procs.stop(server)
            self.procs.stop(bare_proc)
        out = summary(pairs)
        out["workers"] = n
        return out
