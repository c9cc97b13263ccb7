"""The long-poll scenario: many held heartbeats, and how fast a message reaches them.

The client is plain asyncio (raw streams, HTTP/1.1 keep-alive, one connection per
waiting player). Each waiter sends ``POST /v1/heartbeat {"wait": W, "limit": 100,
"ack": <last msgid it got>}`` and re-issues it at once after every answer. A sender
sends, at a fixed rate, to players who are waiting right now (their heartbeat has been
out for at least ``SETTLE_S`` and no message to them is on its way); a message's
**delivery latency** runs from the moment its send request is written to the moment
the waiter's answer holding it has been read. Every message carries its sequence
number in its body, so the client sees any message lost (never delivered) or
duplicated (delivered twice, i.e. an ack that deleted nothing).

Two set-ups, each on its own ``im-server serve`` processes (``IM_MAX_WAIT`` = 8 s, the
default ``max_wait`` with the default 10 s TTL):

- **two nodes**: two processes on two ports over one Redis and one database, the
  waiters spread over both, each message sent through the *other* node (the ring
  crosses Redis pub/sub). Also: wrk's plain empty heartbeats from other players, on
  both nodes, with nobody waiting and with everyone waiting.
- **one node**: 10,000 waiters (by default) on one process: every connection held?
  any refusal, reset, error, loss or duplicate? delivery latency, the server's memory
  per waiting player, and what an idle player costs in requests per minute.

Waiters start spread evenly over one ``max_wait`` so that their waits end spread out,
as real players' would, instead of all at once every 8 s.

The pure parts (``latency_stats``, ``idle_cost``) are unit-tested; the rest needs
the servers and is what ``python -m bench.run --scenarios ...,longpoll`` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import re
import resource
import secrets
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.log import log
from bench.processes import Processes, free_port, wait_http
from bench.settings import (
    LONGPOLL_MAX_CONNECTIONS,
    LONGPOLL_MAX_WAIT,
    LONGPOLL_RATE,
    PY,
)
from bench.wrk import Run, run_wrk

__all__ = ["HttpConn", "idle_cost", "latency_stats", "measure_longpoll", "raise_nofile"]

SETTLE_S = 0.1
"""A waiter is sent to only once its heartbeat has been out this long (so it is held)."""
LIMIT = 100
RETRY_S = 1.0
"""After a failed heartbeat a waiter waits this long before the next, as a client would."""
LOGIN_CONCURRENCY = 48
SENDER_CONNECTIONS = 4  # per node
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.I)
_CLOSE = re.compile(rb"\r\nconnection:\s*close", re.I)


# -- pure parts -----------------------------------------------------------------------

def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values; NaN if there are none."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_stats(seconds: Sequence[float]) -> dict[str, float]:
    """count, p50, p90, p99 and max of latencies given in seconds, in milliseconds."""
    ordered = sorted(s * 1000 for s in seconds)
    return {"count": len(ordered), "p50": percentile(ordered, 50),
            "p90": percentile(ordered, 90), "p99": percentile(ordered, 99),
            "max": ordered[-1] if ordered else math.nan}


def idle_cost(requests: int, players: int, seconds: float) -> float:
    """Requests per player per minute."""
    return requests / players / (seconds / 60) if players and seconds > 0 else math.nan


def raise_nofile() -> int:
    """This process's open-file limit raised to the hard limit; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


# -- a tiny HTTP/1.1 keep-alive client ---------------------------------------------------

class HttpConn:
    """One keep-alive connection to 127.0.0.1:port; requests one at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: Any = None,
                      token: str | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        data = orjson.dumps(body) if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                + (f"Authorization: Bearer {token}\r\n" if token else "") + "\r\n")
        self.writer.write(head.encode() + data)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        m = _CONTENT_LENGTH.search(raw)
        payload = await self.reader.readexactly(int(m.group(1))) if m else b""
        if _CLOSE.search(raw):
            self.close()
        return status, payload


async def login_many(ports: list[int], secret: str, uids: list[str]) -> dict[str, str]:
    """Log every uid in through ``POST /v1/login`` (many at a time, over ``ports``),
    then fetch its (empty) inbox with one plain heartbeat, as a game client does after
    logging in: that first read is the one that queries the database (later ones find
    the inbox hint), and it belongs to the login, not to the first wait."""
    from im_adapters.game_auth import mint_game_token

    tokens: dict[str, str] = {}
    todo = list(uids)

    async def worker(index: int) -> None:
        conn = HttpConn(ports[index % len(ports)])
        try:
            while todo:
                uid = todo.pop()
                status, body = await conn.request("POST", "/v1/login", {
                    "uid": uid, "game_token": mint_game_token(secret, uid, ttl_s=7200),
                    "client_type": "pc"})
                if status != 200:
                    raise RuntimeError(f"login {uid}: {status} {body[:200]!r}")
                tokens[uid] = token = orjson.loads(body)["token"]
                status, body = await conn.request("POST", "/v1/heartbeat", {}, token)
                if status != 200:
                    raise RuntimeError(f"first heartbeat {uid}: {status} {body[:200]!r}")
        finally:
            conn.close()

    await asyncio.gather(*(worker(i) for i in range(LOGIN_CONCURRENCY)))
    return tokens


# -- the waiters and the sender ----------------------------------------------------------

@dataclass
class Waiter:
    uid: str
    token: str
    port: int
    out_since: float | None = None  # when its current heartbeat went out
    pending: int | None = None  # the sequence number of the message on its way to it
    ack: int | None = None
    requests: int = 0
    received: int = 0


@dataclass
class Tally:
    """What the client saw (counts by kind; latencies in seconds)."""

    latencies: list[float] = field(default_factory=list)
    sent_at: dict[int, float] = field(default_factory=dict)
    delivered: set[int] = field(default_factory=set)
    duplicates: int = 0
    unknown: int = 0
    sent: int = 0
    skipped: int = 0  # no waiter was free when a send was due
    send_errors: dict[str, int] = field(default_factory=dict)
    waiter_errors: dict[str, int] = field(default_factory=dict)
    empty_answers: int = 0
    open_connections: int = 0

    def error(self, kind: dict[str, int], name: str) -> None:
        kind[name] = kind.get(name, 0) + 1


def _error_name(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, (ConnectionResetError, BrokenPipeError,
                          asyncio.IncompleteReadError)):
        return "reset"
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    return type(error).__name__


class LongPoll:
    """Waiters holding heartbeats on ``ports`` and a sender, in one event loop."""

    def __init__(self, waiters: list[Waiter], wait_s: float) -> None:
        self.waiters = waiters
        self.wait_s = wait_s
        self.tally = Tally()
        self.tasks: list[asyncio.Task[None]] = []
        self.seq = 0
        self.tag = secrets.token_hex(3)
        self.stopping = False

    async def _wait_loop(self, w: Waiter) -> None:
        t = self.tally
        conn = HttpConn(w.port)
        try:
            await conn.open()
        except OSError as e:
            t.error(t.waiter_errors, _error_name(e))
            return
        t.open_connections += 1
        try:
            while not self.stopping:
                body: dict[str, Any] = {"wait": self.wait_s, "limit": LIMIT}
                if w.ack is not None:
                    body["ack"] = w.ack
                w.out_since = time.perf_counter()
                w.requests += 1
                try:
                    async with asyncio.timeout(self.wait_s + 15):
                        status, data = await conn.request("POST", "/v1/heartbeat", body,
                                                          w.token)
                except (TimeoutError, OSError, asyncio.IncompleteReadError) as e:
                    w.out_since = None
                    t.error(t.waiter_errors, _error_name(e))
                    conn.close()
                    await asyncio.sleep(RETRY_S)
                    continue
                now = time.perf_counter()
                w.out_since = None
                if status != 200:
                    t.error(t.waiter_errors, f"http {status}")
                    await asyncio.sleep(RETRY_S)
                    continue
                try:
                    self._read_answer(w, data, now)
                except (ValueError, KeyError, TypeError, IndexError) as e:
                    t.error(t.waiter_errors, f"bad answer ({type(e).__name__})")
        finally:
            t.open_connections -= 1
            conn.close()

    def _read_answer(self, w: Waiter, data: bytes, now: float) -> None:
        """Check off the messages in one answer; the next heartbeat acks them."""
        t = self.tally
        messages = orjson.loads(data)["messages"]
        if not messages:
            t.empty_answers += 1
        mark = f"lp {self.tag} "
        for m in messages:
            w.ack = max(w.ack or 0, m["msgid"])
            seq = int(m["body"][len(mark):]) if m["body"].startswith(mark) else None
            if seq is None or seq not in t.sent_at:
                t.unknown += 1
            elif seq in t.delivered:
                t.duplicates += 1
            else:
                t.delivered.add(seq)
                t.latencies.append(now - t.sent_at[seq])
                w.received += 1
                if w.pending == seq:
                    w.pending = None

    async def start_waiters(self, ramp_s: float) -> None:
        """Start every waiter, evenly spread over ``ramp_s`` seconds."""
        start = time.perf_counter()
        n = len(self.waiters)
        for i, w in enumerate(self.waiters):
            delay = start + ramp_s * i / n - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.tasks.append(asyncio.create_task(self._wait_loop(w)))

    def held(self) -> int:
        """Waiters whose heartbeat is out right now."""
        return sum(1 for w in self.waiters if w.out_since is not None)

    def _pick(self, now: float) -> Waiter | None:
        for _ in range(64):
            w = random.choice(self.waiters)
            if w.pending is None and w.out_since is not None and now - w.out_since >= SETTLE_S:
                return w
        return None

    async def send(self, rate: float, seconds: float,
                   sender_port: Callable[[Waiter], int], senders: dict[int, list[str]]) -> None:
        """Send ``rate`` messages a second for ``seconds`` to waiters waiting right now,
        each through ``sender_port(waiter)``; ``senders`` are the sender accounts'
        tokens by port, one connection each."""
        t = self.tally
        queues: dict[int, asyncio.Queue[tuple[Waiter, int] | None]] = {
            p: asyncio.Queue() for p in senders}

        async def connection(port: int, token: str) -> None:
            conn = HttpConn(port)
            queue = queues[port]
            try:
                while (job := await queue.get()) is not None:
                    w, seq = job
                    body = {"to": w.uid, "body": f"lp {self.tag} {seq}",
                            "client_msg_id": f"{self.tag}-{seq}"}
                    t.sent_at[seq] = time.perf_counter()
                    try:
                        async with asyncio.timeout(30):
                            status, data = await conn.request("POST", "/v1/messages", body,
                                                              token)
                    except (TimeoutError, OSError, asyncio.IncompleteReadError) as e:
                        status, data = 0, _error_name(e).encode()
                        conn.close()
                    if status not in (200, 201):
                        t.error(t.send_errors, f"http {status}" if status else data.decode())
                        t.sent_at.pop(seq, None)
                        w.pending = None
                    else:
                        t.sent += 1
            finally:
                conn.close()

        workers = [asyncio.create_task(connection(p, tok))
                   for p, toks in senders.items() for tok in toks]
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            w = self._pick(time.perf_counter())
            if w is None:
                t.skipped += 1
                continue
            self.seq += 1
            w.pending = self.seq
            queues[sender_port(w)].put_nowait((w, self.seq))
        for p, toks in senders.items():
            for _ in toks:
                queues[p].put_nowait(None)
        await asyncio.gather(*workers)

    async def drain(self, timeout: float) -> None:
        """Wait until every message sent has been delivered, or ``timeout``."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline and len(self.tally.delivered) < len(
                self.tally.sent_at):
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """End every waiter (its held heartbeat is abandoned: the connection closes)."""
        self.stopping = True
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=5)

    def summary(self) -> dict[str, Any]:
        t = self.tally
        lost = len(set(t.sent_at) - t.delivered)
        return {"waiters": len(self.waiters), "latency": latency_stats(t.latencies),
                "sent": t.sent, "delivered": len(t.delivered), "lost": lost,
                "duplicates": t.duplicates, "unknown": t.unknown, "skipped": t.skipped,
                "send_errors": dict(t.send_errors), "waiter_errors": dict(t.waiter_errors)}


# -- the servers -----------------------------------------------------------------------

def start_node(procs: Processes, env: dict[str, str], workdir: Path,
               workers: int = 1) -> tuple[int, subprocess.Popen[bytes]]:
    """One ``im-server serve`` for the long-poll runs (``IM_MAX_WAIT`` set, room for
    ``LONGPOLL_MAX_CONNECTIONS`` connections per worker)."""
    port = free_port()
    log_path = workdir / f"im-lp-{port}.log"
    node_env = {**env, "IM_MAX_WAIT": f"{LONGPOLL_MAX_WAIT:g}"}
    proc = procs.start([PY, "-m", "im_http.serving.cli", "serve", "--port", str(port),
                        "--workers", str(workers),
                        "--max-connections", str(LONGPOLL_MAX_CONNECTIONS)],
                       env=node_env, cwd=workdir, log_path=log_path)
    wait_http(port, proc, log_path)
    return port, proc


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its child processes (gunicorn master + workers)."""
    def rss(p: int) -> int:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry))
    return rss(pid) + sum(rss(c) for c in children)


def _uids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(count)]


async def _sampler(poll: LongPoll, out: list[tuple[int, int]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        out.append((poll.held(), poll.tally.open_connections))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


async def _send_phase(poll: LongPoll, seconds: float, sender_port: Callable[[Waiter], int],
                      senders: dict[int, list[str]]) -> dict[str, Any]:
    """Send for ``seconds``, then drain; ``held`` is sampled meanwhile."""
    samples: list[tuple[int, int]] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sampler(poll, samples, stop))
    requests_before = {id(w): w.requests for w in poll.waiters}
    t0 = time.perf_counter()
    await poll.send(LONGPOLL_RATE, seconds, sender_port, senders)
    elapsed = time.perf_counter() - t0
    stop.set()
    await sampler
    idle = [w for w in poll.waiters if w.received == 0]
    idle_requests = sum(w.requests - requests_before[id(w)] for w in idle)
    await poll.drain(LONGPOLL_MAX_WAIT + 2)
    return {"held_min": min((h for h, _ in samples), default=0),
            "held_max": max((h for h, _ in samples), default=0),
            "open_min": min((o for _, o in samples), default=0),
            "idle_per_minute": idle_cost(idle_requests, len(idle), elapsed)}


async def _two_nodes(ports: list[int], secret: str, count: int, seconds: float,
                     plain: Callable[[], Run], plain_rounds: int) -> dict[str, Any]:
    uids = _uids("lpa", count)
    send_uids = _uids("lpa-sender", SENDER_CONNECTIONS * len(ports))
    t0 = time.perf_counter()
    tokens = await login_many(ports, secret, uids + send_uids)
    log(f"long-poll two nodes: logged in {len(tokens)} players in "
        f"{time.perf_counter() - t0:.1f}s")
    waiters = [Waiter(u, tokens[u], ports[i % len(ports)]) for i, u in enumerate(uids)]
    senders = {p: [tokens[u] for u in send_uids[i::len(ports)]] for i, p in enumerate(ports)}
    quiet = []
    busy = []
    for _ in range(plain_rounds):
        quiet.append(await asyncio.to_thread(plain))
    poll = LongPoll(waiters, LONGPOLL_MAX_WAIT)
    try:
        await poll.start_waiters(LONGPOLL_MAX_WAIT)
        await asyncio.sleep(1)
        log(f"long-poll two nodes: {poll.held()} of {count} waiting; sending "
            f"{LONGPOLL_RATE:g}/s for {seconds:g}s through the other node")
        other = {ports[0]: ports[1], ports[1]: ports[0]}
        phase = await _send_phase(poll, seconds, lambda w: other[w.port], senders)
        for _ in range(plain_rounds):
            busy.append(await asyncio.to_thread(plain))
        held_during_plain = poll.held()
    finally:
        await poll.stop()
    for _ in range(plain_rounds):
        quiet.append(await asyncio.to_thread(plain))
    out = poll.summary() | phase
    out["held_during_plain"] = held_during_plain
    out["plain_quiet"] = [(r.rps, r.p99, r.errors) for r in quiet]
    out["plain_busy"] = [(r.rps, r.p99, r.errors) for r in busy]
    return out


async def _one_node(port: int, pid: int, secret: str, count: int,
                    seconds: float, workers: int) -> dict[str, Any]:
    uids = _uids("lpb", count)
    send_uids = _uids("lpb-sender", SENDER_CONNECTIONS)
    t0 = time.perf_counter()
    tokens = await login_many([port], secret, uids + send_uids)
    login_s = time.perf_counter() - t0
    log(f"long-poll one node: logged in {len(tokens)} players in {login_s:.1f}s "
        f"({len(tokens) / login_s:.0f}/s)")
    waiters = [Waiter(u, tokens[u], port) for u in uids]
    await asyncio.sleep(0.5)
    rss_before = rss_bytes(pid)
    poll = LongPoll(waiters, LONGPOLL_MAX_WAIT)
    try:
        await poll.start_waiters(LONGPOLL_MAX_WAIT)
        await asyncio.sleep(1)
        held = poll.held()
        rss_after = rss_bytes(pid)
        log(f"long-poll one node: {held} of {count} waiting, server RSS "
            f"{rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB; sending "
            f"{LONGPOLL_RATE:g}/s for {seconds:g}s")
        phase = await _send_phase(poll, seconds, lambda w: port,
                                  {port: [tokens[u] for u in send_uids]})
    finally:
        await poll.stop()
    out = poll.summary() | phase
    out.update(held_at_start=held, rss_before=rss_before, rss_after=rss_after,
               rss_per_waiter=(rss_after - rss_before) / count, login_rate=count / login_s,
               workers=workers)
    return out


def measure_longpoll(procs: Processes, env: dict[str, str], workdir: Path, secret: str,
                     waiters: Sequence[int], seconds: float, plain_file: Path | None,
                     duration: float, rounds: int, two_nodes: bool,
                     one_node_workers: int = 1) -> dict[str, Any]:
    """The long-poll runs: for each count in ``waiters``, the smallest on two nodes (if
    ``two_nodes``; one worker each) and every count of more than 1,000 (or all, without
    two nodes) on one node (``one_node_workers`` gevent workers on one port).
    ``plain_file``: wrk's tokens for the plain heartbeats."""
    limit = raise_nofile()
    log(f"long-poll: client open-file limit {limit}")
    result: dict[str, Any] = {"max_wait": LONGPOLL_MAX_WAIT, "rate": LONGPOLL_RATE,
                              "seconds": seconds}
    counts = sorted(set(waiters))
    if two_nodes and counts:
        count = counts[0]
        nodes = [start_node(procs, env, workdir) for _ in range(2)]
        ports = [p for p, _ in nodes]

        def plain() -> Run:
            assert plain_file is not None
            return run_wrk(ports, "heartbeat_empty", [str(plain_file)], duration)

        if plain_file is not None:
            run_wrk(ports, "heartbeat_empty", [str(plain_file)], 1)  # warm-up
        result["two_nodes"] = asyncio.run(_two_nodes(
            ports, secret, count, seconds, plain, rounds if plain_file is not None else 0))
        log(f"long-poll two nodes: {_brief(result['two_nodes'])}")
        for _, proc in nodes:
            procs.stop(proc)
        counts = [c for c in counts if c > 1000]
    result["one_node"] = []
    for count in counts:
        port, proc = start_node(procs, env, workdir, one_node_workers)
        try:
            one = asyncio.run(_one_node(port, proc.pid, secret, count, seconds,
                                        one_node_workers))
        finally:
            procs.stop(proc)
        log(f"long-poll one node, {count} waiters: {_brief(one)}")
        result["one_node"].append(one)
    return result


def _brief(r: dict[str, Any]) -> str:
    lat = r["latency"]
    return (f"delivered {r['delivered']}/{r['sent']} p50 {lat['p50']:.1f} ms p99 "
            f"{lat['p99']:.1f} ms max {lat['max']:.1f} ms, lost {r['lost']}, duplicates "
            f"{r['duplicates']}, waiter errors {r['waiter_errors']}, send errors "
            f"{r['send_errors']}, held {r['held_min']}..{r['held_max']}")
