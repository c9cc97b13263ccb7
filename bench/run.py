"""The benchmark: the IM's throughput and latency as a share of its own HTTP stack's limit.

    .venv/bin/python -m bench.run [--backend embedded|redis-postgres|redis-mariadb|all]
        [--rounds N] [--duration S] [--workers N] [--scenarios a,b,...,longpoll]
        [--waiters 1000,10000] [--scale] [--profile] [--write-docs]

For each backend it starts, on loopback, ``im-server serve`` (gunicorn, one gevent
worker) and ``bench/bare_app.py`` (a Falcon app with one JSON-in/JSON-out resource,
served the same way) as subprocesses, logs in a few hundred distinct players, then
loads both with ``wrk -t2 -c32 --latency`` in alternating runs (bare, scenario, bare,
scenario...) so that drift hits both alike. A scenario's figure is the median over
rounds of its per-round ratio to the bare run just before it. ``--workers N`` reruns
the empty heartbeat on ``im-server serve --workers N`` (and the bare app likewise).
The ``longpoll`` scenario (``bench/longpoll.py``) holds many waiting heartbeats and
measures how fast a message reaches them. See docs/performance.md for what each
scenario measures and why.

Everything it starts it stops (try/finally, also on Ctrl-C and SIGTERM); scratch
databases are dropped; in Redis it claims an empty database of its own and deletes
only its own ``im:*`` keys there.

This module is the command line and the order of the steps; each step is a module of
its own in ``bench/`` (processes, servers, stores, players, seed, wrk, measure,
profile, explain, memory, environment, report).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.environment import git_state
from bench.explain import explain
from bench.log import log
from bench.longpoll import measure_longpoll
from bench.measure import Measurer
from bench.memory import measure_memory, measure_redis_memory, memory_probe
from bench.players import Client, prepare_players
from bench.processes import Processes
from bench.report import report, write_docs
from bench.seed import scale_fill
from bench.servers import migrate, server_env, start_pair
from bench.settings import BACKENDS, LONGPOLL_WAITERS, SCALE_SCENARIOS, SCENARIOS
from bench.stores import backend_context

__all__ = ["main", "run_backend"]


def run_backend(name: str, args: argparse.Namespace, procs: Processes) -> dict[str, Any]:
    """Every measurement the command line asked for, on one backend."""
    measurer = Measurer(args, procs)
    result: dict[str, Any] = {"backend": name, "scenarios": {}}
    workdir = Path(tempfile.mkdtemp(prefix=f"im-bench-{name}-"))
    try:
        with backend_context(name, workdir) as backend:
            secret = secrets.token_urlsafe(48)
            env = server_env(backend, secret, workdir)
            if backend.database_url is not None:
                migrate(env, workdir)
            result["redis_db"] = backend.redis_db
            im_port, bare_port, server, _ = start_pair(procs, env, workdir)
            players = prepare_players(Client(im_port), secret, workdir, args.players,
                                      backend.direct_url)
            if args.scenarios:
                result["scenarios"] = measurer.measure(backend, players, [im_port],
                                                       [bare_port], args.scenarios,
                                                       server_pid=_worker_pid(server.pid),
                                                       workdir=workdir)
            if "heartbeat_empty" not in args.scenarios:
                pass
            elif args.workers > 1 and backend.session_url != "memory://":
                result["workers"] = measurer.measure_workers(backend, env, workdir, players)
            elif args.workers > 1:
                result["workers_note"] = ("embedded keeps sessions in process memory: "
                                          "one process by design, --workers not run")
            if args.scale and set(SCALE_SCENARIOS) <= set(args.scenarios):
                log("scale: filling 1,000,000 history rows and 100,000 inbox rows")
                result["scale_fill"] = scale_fill(backend.direct_url)
                log(f"scale: {result['scale_fill']}")
                result["explain"] = explain(backend.direct_url, players.ack_uids[0],
                                            players.history_pairs[0])
                print(f"\n== EXPLAIN on {name} (after the scale fill) ==\n"
                      f"{result['explain']}\n", flush=True)
                result["scale"] = measurer.measure(backend, players, [im_port], [bare_port],
                                                   SCALE_SCENARIOS, workdir=workdir)
            procs.stop_all()
            if args.longpoll:
                log(f"long-poll: waiters {', '.join(map(str, args.waiters))}")
                result["longpoll"] = measure_longpoll(
                    procs, env, workdir, secret, args.waiters, args.longpoll_seconds,
                    players.files["heartbeat_empty"], args.duration, args.rounds,
                    two_nodes=backend.session_url != "memory://",
                    one_node_workers=args.workers if backend.session_url != "memory://" else 1)
            result.update(server_warnings(workdir))
            procs.stop_all()
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _worker_pid(master: int) -> int:
    """The gunicorn worker under ``master`` (what py-spy must watch), or ``master``."""
    with contextlib.suppress(OSError, ValueError):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
    return master


def server_warnings(workdir: Path) -> dict[str, Any]:
    """What the im-server logs in ``workdir`` warned about, for the report."""
    logs = "".join(p.read_text(errors="replace") for p in workdir.glob("im-*.log"))
    lines = [ln for ln in logs.splitlines() if re.search(r"WARNING|ERROR|Traceback", ln)]
    return {"server_warnings": len(lines), "server_warning_sample": lines[:5]}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backend", choices=[*BACKENDS, "all"], default="redis-postgres")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="im-server processes for the multi-process heartbeat run "
                             "(default: the number of cores; 1 skips it)")
    parser.add_argument("--players", type=int, default=400, help="players per scenario")
    parser.add_argument("--scenarios", default=",".join((*SCENARIOS, "longpoll")),
                        help="comma-separated subset of: " + ", ".join(SCENARIOS)
                        + ", longpoll")
    parser.add_argument("--waiters", default=",".join(map(str, LONGPOLL_WAITERS)),
                        help="long-poll: waiting players; the smallest count runs on two "
                             "nodes (Redis backends), every count above 1,000 on one node")
    parser.add_argument("--longpoll-seconds", type=float, default=10.0,
                        help="long-poll: seconds of sending per set-up")
    parser.add_argument("--scale", action="store_true",
                        help="also fill 1,000,000 history and 100,000 inbox rows and rerun")
    parser.add_argument("--profile", action="store_true",
                        help="also profile im-server with py-spy under each scenario's load")
    parser.add_argument("--write-docs", action="store_true",
                        help="write the results to docs/performance.md")
    parser.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    named = args.scenarios.split(",")
    args.scenarios = tuple(k for k in SCENARIOS if k in named)
    args.longpoll = "longpoll" in named
    if not args.scenarios and not args.longpoll:
        parser.error("--scenarios names none of: " + ", ".join(SCENARIOS) + ", longpoll")
    try:
        args.waiters = sorted({int(w) for w in args.waiters.split(",") if w})
    except ValueError:
        parser.error("--waiters: comma-separated numbers")
    if not args.memory_probe and (not args.waiters or not all(
            1 <= w <= 10_000 for w in args.waiters) or not 1 <= args.longpoll_seconds <= 60):
        parser.error("--waiters 1..10000 each, --longpoll-seconds 1..60")
    if not args.memory_probe and (not 1 <= args.rounds <= 50 or not 1 <= args.duration <= 120
                                  or not 1 <= args.workers <= 16):
        parser.error("--rounds 1..50, --duration 1..120, --workers 1..16")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_probe:
        memory_probe()
        return 0
    backends = list(BACKENDS) if args.backend == "all" else [args.backend]
    command = ".venv/bin/python -m bench.run " + " ".join(
        argv if argv is not None else sys.argv[1:])
    procs = Processes()

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    start = git_state()
    results = []
    try:
        log("measuring in-memory session size")
        memory = measure_memory()
        redis_memory = None
        if any(b != "embedded" for b in backends):
            redis_memory = measure_redis_memory()
        for name in backends:
            log(f"backend {name}")
            results.append(run_backend(name, args, procs))
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        return 130
    finally:
        procs.stop_all()
    table = report(results, memory, redis_memory, args)
    print("\n" + table, flush=True)
    if args.write_docs:
        path = write_docs(table, results, backends, command.strip(), start)
        log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
