"""A soak: hundreds of players for minutes on Redis + PostgreSQL, and what went wrong.

``python -m bench.soak`` (``--minutes``, default 10; ``--players``, default 500) starts
its own ``im-server serve`` on a scratch PostgreSQL database and a Redis namespace of
its own (both removed afterwards), and simulates players with asyncio over
keep-alive connections: half long-poll (``wait`` = the server's ``max_wait``), half
heartbeat every ``heartbeat_interval``; each sends now and then to a random other
player, with a ``client_msg_id``, retrying a 503 or a lost answer with the same id.

The report counts what must stay zero:

- ``false_offline``: a 401 to a player whose previous answered call was *sent* less
  than the session TTL before this one (the session expired although its client
  called on time);
- ``errors``: any other non-2xx answer, a timeout or a broken connection;
- ``lost``: a send answered 2xx whose msgid its recipient never received;
- ``duplicated``: a msgid delivered twice to its recipient (every ack arrives, so
  none should be), or one ``client_msg_id`` answered with two msgids;

and the server's resident memory (master and workers): after a warm-up (a quarter of
the run, at most 2 minutes), it must grow less than ``RSS_GROWTH_LIMIT`` (20 %) to
the end. The exit status is 1 if any count is not zero or the memory grew more.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.processes import Processes, free_port, wait_http
from bench.settings import POSTGRES_SERVER, PY, REDIS_SERVER, ROOT

__all__ = ["RSS_GROWTH_LIMIT", "main", "soak"]

RSS_GROWTH_LIMIT = 0.20
SECRET = "soak-secret-" + "s" * 40
SEND_EVERY_S = 20.0  # each player sends about this often
DRAIN_S = 20.0
CALL_TIMEOUT_S = 30.0


class CallFailed(Exception):
    """No answer: the connection broke or the call timed out."""


class Connection:
    """One keep-alive HTTP/1.1 connection to the server (Content-Length bodies)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def call(self, method: str, path: str, body: Any = None,
                   token: str | None = None) -> tuple[int, Any]:
        try:
            return await asyncio.wait_for(self._call(method, path, body, token),
                                          CALL_TIMEOUT_S)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
            self.close()
            raise CallFailed(f"{method} {path}: {error!r}") from error

    async def _call(self, method: str, path: str, body: Any,
                    token: str | None) -> tuple[int, Any]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self._reader is not None
        data = json.dumps(body).encode() if body is not None else b""
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1",
                f"Content-Length: {len(data)}"]
        if data:
            head.append("Content-Type: application/json")
        if token:
            head.append(f"Authorization: Bearer {token}")
        self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        await self._writer.drain()
        status = int((await self._reader.readuntil(b"\r\n")).split()[1])
        length, closing = 0, False
        while (line := await self._reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "connection" and "close" in value.lower():
                closing = True
        raw = await self._reader.readexactly(length) if length else b""
        if closing:
            self.close()
        return status, json.loads(raw) if raw else None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass
class Tally:
    """What every player adds to while the soak runs."""

    calls: Counter[str] = field(default_factory=Counter)
    false_offline: int = 0
    relogins: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    sent: dict[str, tuple[str, int]] = field(default_factory=dict)  # cmid -> (to, msgid)
    reanswered: int = 0  # a cmid answered with another msgid than the first time
    received: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    latencies: list[float] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors[what] += 1


@dataclass
class Player:
    uid: str
    long_polls: bool
    port: int
    tally: Tally
    uids: list[str]
    rng: random.Random
    token: str = ""
    ack: int | None = None
    last_ok_sent: float = 0.0
    sends: int = 0

    async def login(self, conn: Connection) -> None:
        from im_adapters.game_auth import mint_game_token

        for _ in range(20):
            try:
                status, answer = await conn.call("POST", "/v1/login", {
                    "uid": self.uid, "game_token": mint_game_token(SECRET, self.uid, ttl_s=3600),
                    "client_type": "pc"})
            except CallFailed:
                self.tally.error("login: no answer")
                await asyncio.sleep(1)
                continue
            if status == 200:
                self.token = answer["token"]
                self.last_ok_sent = time.monotonic()
                return
            self.tally.error(f"login: {status}")
            await asyncio.sleep(1)
        raise RuntimeError(f"{self.uid} could not log in")

    async def authed(self, conn: Connection, method: str, path: str, body: Any,
                     ttl: float) -> tuple[int, Any] | None:
        """One authenticated call; on 401, count it, log in again and return None."""
        sent_at = time.monotonic()
        try:
            status, answer = await conn.call(method, path, body, self.token)
        except CallFailed as failed:
            self.tally.error(f"{path}: no answer ({str(failed)[-60:]})")
            return None
        self.tally.calls[path] += 1
        if status == 401:
            if sent_at - self.last_ok_sent < ttl:
                self.tally.false_offline += 1
            self.tally.relogins += 1
            await self.login(conn)
            return None
        if status < 300:
            self.last_ok_sent = sent_at
            if path == "/v1/messages":
                self.tally.latencies.append(time.monotonic() - sent_at)
        return status, answer

    def take(self, answer: Any) -> None:
        for message in answer["messages"]:
            self.tally.received[self.uid][message["msgid"]] += 1
            self.ack = message["msgid"] if self.ack is None else max(self.ack, message["msgid"])

    async def send(self, conn: Connection, ttl: float) -> None:
        self.sends += 1
        cmid = f"{self.uid}-{self.sends}"
        to = self.rng.choice([uid for uid in self.uids if uid != self.uid])
        body = {"to": to, "body": f"soak {cmid}", "client_msg_id": cmid}
        for _ in range(10):  # the client's retries: same client_msg_id
            result = await self.authed(conn, "POST", "/v1/messages", body, ttl)
            if result is None:
                await asyncio.sleep(0.2)
                continue
            status, answer = result
            if status in (200, 201):
                first = self.tally.sent.setdefault(cmid, (to, answer["msgid"]))
                if first != (to, answer["msgid"]):
                    self.tally.reanswered += 1
                return
            self.tally.error(f"send: {status} {answer and answer.get('code')}")
            if status != 503:
                return
            await asyncio.sleep(0.5)

    async def run(self, login_answer: dict[str, Any], sending_until: float,
                  until: float, drained: asyncio.Event) -> None:
        ttl = float(login_answer["session_ttl"])
        interval = float(login_answer["heartbeat_interval"])
        wait = float(login_answer["max_wait"])
        conn = Connection(self.port)
        try:
            await self.login(conn)
            next_send = time.monotonic() + self.rng.uniform(0, 2 * SEND_EVERY_S)
            await asyncio.sleep(self.rng.uniform(0, interval))
            while time.monotonic() < until and not drained.is_set():
                now = time.monotonic()
                if now < sending_until and now >= next_send:
                    await self.send(conn, ttl)
                    next_send = now + self.rng.expovariate(1 / SEND_EVERY_S)
                body: dict[str, Any] = {"ack": self.ack}
                if self.long_polls:
                    body["wait"] = min(wait, max(0.0, until - time.monotonic()))
                started = time.monotonic()
                result = await self.authed(conn, "POST", "/v1/heartbeat", body, ttl)
                if result is not None:
                    status, answer = result
                    if status == 200:
                        self.take(answer)
                        if answer["more"]:
                            continue
                    else:
                        self.tally.error(f"heartbeat: {status} {answer and answer.get('code')}")
                if not self.long_polls or result is None:
                    await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
            # The last ack, so that nothing waits in the inbox afterwards.
            await self.authed(conn, "POST", "/v1/heartbeat", {"ack": self.ack}, ttl)
        finally:
            conn.close()


def process_tree_rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and its children (kB), from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children[ppid].append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


async def _drive(port: int, players: int, seconds: float, server_pid: int,
                 seed: int) -> dict[str, Any]:
    from im_adapters.game_auth import mint_game_token

    tally = Tally()
    rng = random.Random(seed)
    uids = [f"p{i:04d}" for i in range(players)]
    probe = Connection(port)
    status, login_answer = await probe.call("POST", "/v1/login", {
        "uid": "soak-probe", "game_token": mint_game_token(SECRET, "soak-probe", ttl_s=60),
        "client_type": "pc"})
    probe.close()
    assert status == 200, login_answer
    started = time.monotonic()
    until = started + seconds
    sending_until = until - min(DRAIN_S, seconds / 4)
    drained = asyncio.Event()
    roster = [Player(uid, i % 2 == 0, port, tally, uids, random.Random(rng.random()))
              for i, uid in enumerate(uids)]
    tasks = [asyncio.create_task(player.run(login_answer, sending_until, until + DRAIN_S,
                                            drained)) for player in roster]
    warm_until = started + min(120.0, seconds / 4)
    rss: list[tuple[float, int]] = []
    while time.monotonic() < until + DRAIN_S:
        rss.append((time.monotonic() - started, process_tree_rss_kb(server_pid)))
        if time.monotonic() > until:
            expected = defaultdict(set)
            for to, msgid in tally.sent.values():
                expected[to].add(msgid)
            if all(expected[uid] <= set(tally.received[uid]) for uid in uids):
                drained.set()
                break
        await asyncio.sleep(1.0)
    rss_after_warmup = next((kb for at, kb in rss if at >= warm_until - started), rss[-1][1])
    drained.set()
    await asyncio.gather(*tasks, return_exceptions=False)

    expected = defaultdict(set)
    for to, msgid in tally.sent.values():
        expected[to].add(msgid)
    lost = sum(len(expected[uid] - set(tally.received[uid])) for uid in uids)
    redelivered = sum(n - 1 for counts in tally.received.values() for n in counts.values())
    latencies = sorted(tally.latencies) or [0.0]
    rss_end = rss[-1][1]
    growth = (rss_end - rss_after_warmup) / rss_after_warmup
    return {
        "players": players,
        "seconds": round(seconds),
        "calls": dict(tally.calls),
        "sends_answered_2xx": len(tally.sent),
        "send_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "false_offline": tally.false_offline,
        "relogins": tally.relogins,
        "errors": sum(tally.errors.values()),
        "error_kinds": dict(tally.errors.most_common(10)),
        "lost": lost,
        "duplicated": redelivered + tally.reanswered,
        "rss_kb_start": rss[0][1],
        "rss_kb_after_warmup": rss_after_warmup,
        "rss_kb_end": rss_end,
        "rss_growth_after_warmup": round(growth, 3),
        "rss_growth_limit": RSS_GROWTH_LIMIT,
    }


def failures(report: dict[str, Any]) -> list[str]:
    """What in ``report`` breaks the soak's promises (empty: it held)."""
    bad = [f"{key} = {report[key]}" for key in ("false_offline", "errors", "lost", "duplicated")
           if report[key]]
    if report["rss_growth_after_warmup"] >= RSS_GROWTH_LIMIT:
        bad.append(f"server RSS grew {report['rss_growth_after_warmup']:.0%} after warm-up")
    if report["sends_answered_2xx"] == 0:
        bad.append("no send was answered")
    return bad


def soak(minutes: float, players: int, seed: int = 1) -> dict[str, Any]:
    """Run the soak on its own server and stores; return the report."""
    import redis

    from bench.stores import scratch_database

    namespace = f"imsoak-{secrets.token_hex(4)}"
    procs = Processes()
    with tempfile.TemporaryDirectory(prefix="im-soak-") as tmp, \
            scratch_database(POSTGRES_SERVER) as database_url:
        workdir = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("IM_")}
        env.update(IM_DATABASE_URL=database_url, IM_SESSION_STORE_URL=f"{REDIS_SERVER}/0",
                   IM_REDIS_NAMESPACE=namespace, IM_GAME_AUTH_JWT_SECRET=SECRET,
                   XDG_DATA_HOME=str(workdir), PYTHONPATH=str(ROOT),
                   # Every simulated player comes from one address: that limit is off;
                   # the per-player limits stay on, as in production.
                   IM_RATE_LOGINS_PER_ADDRESS="off")
        try:
            from bench.servers import migrate

            migrate(env, workdir)
            port = free_port()
            log_path = workdir / "im-server.log"
            server = procs.start([PY, "-m", "im_http.serving.cli", "serve", "--port", str(port)],
                                 env=env, cwd=workdir, log_path=log_path)
            wait_http(port, server, log_path)
            report = asyncio.run(_drive(port, players, minutes * 60, server.pid, seed))
            report["server_alive"] = server.poll() is None
            return report
        finally:
            procs.stop_all()
            client = redis.Redis.from_url(f"{REDIS_SERVER}/0", socket_timeout=5)
            try:
                keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
                for start in range(0, len(keys), 1000):
                    client.delete(*keys[start:start + 1000])
            finally:
                client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--players", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the report there")
    args = parser.parse_args(argv)
    report = soak(args.minutes, args.players, args.seed)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    bad = failures(report)
    for line in bad:
        print(f"soak: FAILED: {line}", file=sys.stderr)
    if not bad:
        print("soak: OK: no false offline, no error, nothing lost or duplicated, "
              f"RSS growth {report['rss_growth_after_warmup']:.1%} < {RSS_GROWTH_LIMIT:.0%}",
              file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
