"""The guild scenario: a message to a 500-member group whose members all long-poll.

    .venv/bin/python -m bench.guild [--backend redis-postgres|redis-mariadb|embedded]
        [--members 500,50] [--messages 40] [--interval 0.5] [--workers 1]

For each group size it starts ``im-server serve`` (gunicorn, gevent; ``IM_MAX_WAIT``
8 s), logs the members in, makes one group of all of them (the sender is its owner),
and holds one long-polling heartbeat per other member, re-issued at once after each
answer with ``ack`` = the highest msgid it got (as the SDK does). The owner then sends
``--messages`` group messages, one every ``--interval`` seconds, over one keep-alive
connection. It reports:

- **delivery latency**, per (member, message): from the moment the send request is
  written to the moment the member's answer holding the message has been read;
- **send latency**: the group send's own request, from write to answer (the
  transaction that writes the history row and every member's inbox row);
- **lost** (a member that never got a message sent while it was a member) and
  **duplicated** (a member that got one twice: an ack that deleted nothing).

Each message carries its sequence number in its body. Every process it starts it
stops; its scratch database and Redis keys are removed (``bench.stores``). The group
sizes run side by side in one run, so their ratio is measured under the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.log import log
from bench.longpoll import HttpConn, latency_stats, login_many, raise_nofile, start_node
from bench.processes import Processes
from bench.servers import migrate, server_env
from bench.settings import BACKENDS, LONGPOLL_MAX_WAIT
from bench.stores import backend_context

__all__ = ["GuildRun", "main", "measure_guild"]


@dataclass
class GuildRun:
    """What the client saw of one group (latencies in seconds)."""

    members: int
    sent_at: dict[int, float] = field(default_factory=dict)
    got: dict[str, set[int]] = field(default_factory=dict)
    delivery: list[float] = field(default_factory=list)
    sends: list[float] = field(default_factory=list)
    duplicates: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    stopping: bool = False

    def error(self, name: str) -> None:
        self.errors[name] = self.errors.get(name, 0) + 1

    def summary(self) -> dict[str, Any]:
        expected = set(self.sent_at)
        lost = sum(len(expected - got) for got in self.got.values())
        return {"members": self.members, "messages": len(self.sent_at),
                "deliveries": len(self.delivery), "lost": lost,
                "duplicates": self.duplicates, "delivery": latency_stats(self.delivery),
                "send": latency_stats(self.sends), "errors": dict(self.errors)}


async def _member(run: GuildRun, port: int, uid: str, token: str, mark: str) -> None:
    conn = HttpConn(port)
    ack: int | None = None
    got = run.got.setdefault(uid, set())
    try:
        while not run.stopping:
            body: dict[str, Any] = {"wait": LONGPOLL_MAX_WAIT, "limit": 100}
            if ack is not None:
                body["ack"] = ack
            try:
                status, data = await conn.request("POST", "/v1/heartbeat", body, token)
            except (OSError, asyncio.IncompleteReadError) as error:
                run.error(type(error).__name__)
                conn.close()
                await asyncio.sleep(1)
                continue
            now = time.perf_counter()
            if status != 200:
                run.error(f"heartbeat {status}")
                await asyncio.sleep(1)
                continue
            for message in orjson.loads(data)["messages"]:
                ack = max(ack or 0, message["msgid"])
                if not message["body"].startswith(mark):
                    continue
                seq = int(message["body"][len(mark):])
                if seq in got:
                    run.duplicates += 1
                    continue
                got.add(seq)
                run.delivery.append(now - run.sent_at[seq])
    finally:
        conn.close()


async def _guild(port: int, secret: str, members: int, messages: int,
                 interval: float) -> dict[str, Any]:
    tag = secrets.token_hex(3)
    uids = [f"gm{tag}-{i:04d}" for i in range(members)]
    t0 = time.perf_counter()
    tokens = await login_many([port], secret, uids)
    log(f"guild {members}: logged in {members} players in {time.perf_counter() - t0:.1f}s")
    owner, others = uids[0], uids[1:]
    sender = HttpConn(port)
    status, data = await sender.request("POST", "/v1/groups", {
        "name": f"bench {tag}", "members": others}, tokens[owner])
    if status != 201:
        raise RuntimeError(f"making the group: {status} {data[:300]!r}")
    gid = orjson.loads(data)["id"]
    run = GuildRun(members)
    mark = f"guild {tag} "
    tasks = [asyncio.create_task(_member(run, port, uid, tokens[uid], mark)) for uid in others]
    await asyncio.sleep(2)  # every heartbeat out and held
    try:
        start = time.perf_counter()
        for seq in range(messages):
            delay = start + seq * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            run.sent_at[seq] = written = time.perf_counter()
            status, data = await sender.request(
                "POST", f"/v1/groups/{gid}/messages",
                {"body": f"{mark}{seq}", "client_msg_id": f"{tag}-{seq}"}, tokens[owner])
            run.sends.append(time.perf_counter() - written)
            if status != 201:
                run.error(f"send {status}")
        deadline = time.perf_counter() + LONGPOLL_MAX_WAIT + 2
        while time.perf_counter() < deadline and len(run.delivery) < len(others) * messages:
            await asyncio.sleep(0.05)
    finally:
        run.stopping = True
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=5)
        sender.close()
    return run.summary()


def measure_guild(backend_name: str, sizes: list[int], messages: int, interval: float,
                  workers: int, procs: Processes) -> list[dict[str, Any]]:
    """One server per group size (a fresh one each, on one backend's stores)."""
    raise_nofile()
    results = []
    workdir = Path(tempfile.mkdtemp(prefix="im-bench-guild-"))
    with backend_context(backend_name, workdir) as backend:
        secret = secrets.token_urlsafe(48)
        env = server_env(backend, secret, workdir)
        env["IM_GROUP_MAX_MEMBERS"] = str(max(sizes))
        if backend.database_url is not None:
            migrate(env, workdir)
        for size in sizes:
            port, proc = start_node(procs, env, workdir, workers)
            try:
                result = asyncio.run(_guild(port, secret, size, messages, interval))
            finally:
                procs.stop(proc)
            result["workers"] = workers
            log(f"guild {size}: {_brief(result)}")
            results.append(result)
    return results


def _brief(r: dict[str, Any]) -> str:
    d, s = r["delivery"], r["send"]
    return (f"{r['deliveries']} deliveries of {r['messages']} messages: delivery p50 "
            f"{d['p50']:.1f} p90 {d['p90']:.1f} p99 {d['p99']:.1f} max {d['max']:.1f} ms; "
            f"send p50 {s['p50']:.1f} p99 {s['p99']:.1f} max {s['max']:.1f} ms; lost "
            f"{r['lost']}, duplicates {r['duplicates']}, errors {r['errors']}")


def table(backend: str, results: list[dict[str, Any]]) -> str:
    """The results as a Markdown table, group sizes side by side."""
    rows = ["| members | messages | deliveries | delivery p50 / p90 / p99 / max (ms) | "
            "send p50 / p99 / max (ms) | lost | duplicated |", "|---|---|---|---|---|---|---|"]
    for r in results:
        d, s = r["delivery"], r["send"]
        rows.append(f"| {r['members']} | {r['messages']} | {r['deliveries']} | "
                    f"{d['p50']:.1f} / {d['p90']:.1f} / {d['p99']:.1f} / {d['max']:.1f} | "
                    f"{s['p50']:.1f} / {s['p99']:.1f} / {s['max']:.1f} | {r['lost']} | "
                    f"{r['duplicates']} |")
    return f"{backend}, {results[0]['workers'] if results else 1} worker(s)\n\n" + "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.guild", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=BACKENDS, default="redis-postgres")
    parser.add_argument("--members", default="500,50")
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.members.split(",")]
    if not all(2 <= s <= 2000 for s in sizes) or not 1 <= args.messages <= 1000:
        parser.error("--members 2..2000 each, --messages 1..1000")
    procs = Processes()
    try:
        results = measure_guild(args.backend, sizes, args.messages, args.interval,
                                args.workers, procs)
    except KeyboardInterrupt:
        return 130
    finally:
        with contextlib.suppress(Exception):
            procs.stop_all()
    print("\n" + table(args.backend, results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
