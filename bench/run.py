"""The benchmark: the IM's throughput and latency as a share of its own HTTP stack's limit.

    .venv/bin/python -m bench.run [--backend embedded|redis-postgres|redis-mariadb|all]
        [--rounds N] [--duration S] [--workers N] [--scale] [--profile] [--write-docs]

For each backend it starts, on loopback, ``im-server serve`` (8 waitress threads) and
``bench/bare_app.py`` (a Falcon app with one JSON-in/JSON-out resource, same waitress
settings) as subprocesses, logs in a few hundred distinct players, then loads both with
``wrk -t2 -c32 --latency`` in alternating runs (bare, scenario, bare, scenario...) so
that drift hits both alike. A scenario's figure is the median over rounds of its
per-round ratio to the bare run just before it. See docs/performance.md for what each
scenario measures and why.

Everything it starts it stops (try/finally, also on Ctrl-C and SIGTERM); scratch
databases are dropped; in Redis it uses a database number of its own (``REDIS_DB``)
and deletes only its own ``im:*`` keys there.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "lua"
PY = sys.executable
WRK = shutil.which("wrk") or "/usr/bin/wrk"

REDIS_SERVER = "redis://127.0.0.1:6379"
REDIS_DB = 14
"""Redis database the benchmark uses; only its ``im:*`` keys are ever deleted."""
POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MARIADB_SERVER = "mysql+pymysql://root@127.0.0.1:3306/mysql"

THREADS = 8
CONNECTIONS = 32
WRK_THREADS = 2
HEARTBEAT_INTERVAL = 2.0
SESSION_TTL = 3600.0
PAGE = 10  # messages per heartbeat in the heartbeat_ack scenario
HISTORY_DEPTH = 50  # messages per conversation in the history scenario
SCALE_HISTORY = 1_000_000
SCALE_INBOX = 100_000
SCALE_CONVERSATIONS = 20_000
MEMORY_SESSIONS = 100_000
REDIS_MEMORY_SESSIONS = 20_000

BACKENDS = ("embedded", "redis-postgres", "redis-mariadb")
SCENARIOS = ("heartbeat_empty", "heartbeat_ack", "send", "history", "login")
SCALE_SCENARIOS = ("heartbeat_empty", "heartbeat_ack", "history")

TARGETS: dict[str, tuple[str, float]] = {
    # scenario -> (what, bound); checked on the redis-postgres backend
    "heartbeat_empty": ("ratio", 0.65),
    "send": ("ratio", 0.35),
    "history": ("ratio", 0.45),
}
HEARTBEAT_P99_TARGET = 2.0
WORKERS_TARGET = 1.5
SCALE_TARGET = 1.25
SESSION_BYTES_TARGET = 2048

DESCRIPTIONS = {
    "heartbeat_empty": "POST /v1/heartbeat {} (inbox empty)",
    "heartbeat_ack": f"POST /v1/heartbeat ack + next {PAGE}",
    "send": "POST /v1/messages (40 chars)",
    "history": "GET history page of 20",
    "login": "POST /v1/login (JWT game token)",
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- processes


class Processes:
    """Every subprocess the benchmark started; ``stop_all`` ends each one by its pid."""

    def __init__(self) -> None:
        self._items: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], *, env: dict[str, str], cwd: Path,
              log_path: Path) -> subprocess.Popen[bytes]:
        out = open(log_path, "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self._items.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=10)
        if proc in self._items:
            self._items.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self._items)):
            self.stop(proc)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, proc: subprocess.Popen[bytes], log_path: Path,
              path: str = "/healthz", timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited ({proc.returncode}):\n"
                               + log_path.read_text(errors="replace")[-3000:])
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} not ready after {timeout}s")


# --------------------------------------------------------------------------- wrk


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


def wrk(ports: list[int], script: str, args: list[str], duration: float) -> Run:
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
    extra: dict[str, int] = {}
    for r in runs:
        for k, v in r.extra.items():
            extra[k] = extra.get(k, 0) + v
    return Run(sum(r.rps for r in runs), max(r.p50 for r in runs), max(r.p99 for r in runs),
               sum(r.requests for r in runs), sum(r.errors for r in runs), extra)


# --------------------------------------------------------------------------- backends


@dataclass
class Backend:
    name: str
    session_url: str
    database_url: str | None  # None: the embedded default (im.sqlite3 in the server's cwd)
    direct_url: str  # what the benchmark itself connects to for bulk inserts
    kind: str  # sqlite | postgresql | mysql


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """Create an empty database (like tests/conftest.py); drop it afterwards."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    name = f"im_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    mysql = url.get_backend_name() == "mysql"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                f"CREATE DATABASE {name}" + (" CHARACTER SET utf8mb4" if mysql else ""))
        log(f"created scratch database {name}")
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if url.get_backend_name() == "postgresql":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()
        log(f"dropped scratch database {name}")


def clear_redis_namespace() -> None:
    """Delete the benchmark's own keys (``im:*`` in ``REDIS_DB``); nothing else."""
    import redis

    client = redis.Redis.from_url(f"{REDIS_SERVER}/{REDIS_DB}", socket_timeout=5)
    try:
        batch = []
        for key in client.scan_iter(match="im:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    finally:
        client.close()


@contextlib.contextmanager
def backend_context(name: str, workdir: Path) -> Iterator[Backend]:
    if name == "embedded":
        yield Backend(name, "memory://", None, f"sqlite:///{workdir}/im.sqlite3", "sqlite")
        return
    server = POSTGRES_SERVER if name == "redis-postgres" else MARIADB_SERVER
    kind = "postgresql" if name == "redis-postgres" else "mysql"
    clear_redis_namespace()
    try:
        with scratch_database(server) as url:
            yield Backend(name, f"{REDIS_SERVER}/{REDIS_DB}", url, url, kind)
    finally:
        clear_redis_namespace()


def server_env(backend: Backend, secret: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IM_")}
    env.update(
        IM_SESSION_STORE_URL=backend.session_url,
        IM_GAME_AUTH_JWT_SECRET=secret,
        IM_SESSION_TTL=str(SESSION_TTL),
        IM_HEARTBEAT_INTERVAL=str(HEARTBEAT_INTERVAL),
        IM_DEV_SECRET_FILE=str(workdir / ".im-dev-secret"),
        PYTHONPATH=str(ROOT),
    )
    if backend.database_url is not None:
        env["IM_DATABASE_URL"] = backend.database_url
    return env


def migrate(env: dict[str, str], workdir: Path) -> None:
    done = subprocess.run([PY, "-m", "im_http.cli", "migrate"], env=env, cwd=workdir,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"im-server migrate failed:\n{done.stdout}\n{done.stderr}")


# --------------------------------------------------------------------------- players


class Client:
    """A tiny keep-alive HTTP JSON client, one connection per thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._local = threading.local()

    def call(self, method: str, path: str, body: Any = None,
             token: str | None = None) -> tuple[int, Any]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                                  timeout=30)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self._local.conn = None
            raise
        return resp.status, json.loads(raw) if raw else None


def login_all(client: Client, secret: str, uids: list[str]) -> dict[str, str]:
    from im_adapters.game_auth import mint_game_token

    def one(uid: str) -> tuple[str, str]:
        status, body = client.call("POST", "/v1/login", {
            "uid": uid, "game_token": mint_game_token(secret, uid, ttl_s=7200),
            "client_type": "pc"})
        if status != 200:
            raise RuntimeError(f"login {uid}: {status} {body}")
        return uid, body["token"]

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(one, uids))


@dataclass
class Players:
    files: dict[str, Path]
    ack_uids: list[str]
    history_pairs: list[tuple[str, str]]
    ack_tokens: dict[str, str]


def prepare_players(client: Client, secret: str, workdir: Path, count: int,
                    direct_url: str) -> Players:
    from im_adapters.game_auth import mint_game_token

    groups = {g: [f"{g}-{i:04d}" for i in range(count)] for g in ("hb", "ha", "sd", "hi", "lg")}
    t0 = time.monotonic()
    tokens = login_all(client, secret, [u for g in groups.values() for u in g])
    log(f"logged in {len(tokens)} players in {time.monotonic() - t0:.1f}s")
    files = {}

    def write(name: str, lines: list[str]) -> None:
        path = workdir / f"{name}.txt"
        path.write_text("\n".join(lines) + "\n")
        files[name] = path

    write("heartbeat_empty", [tokens[u] for u in groups["hb"]])
    write("send", [f"{tokens[u]} {u}" for u in groups["sd"]])
    pairs = [(groups["hi"][i], groups["hi"][i + 1]) for i in range(0, count - 1, 2)]
    write("history", [line for a, b in pairs for line in (f"{tokens[a]} {b}", f"{tokens[b]} {a}")])
    write("login", [f"{u} {mint_game_token(secret, u, ttl_s=7200)}" for u in groups["lg"]])
    # The history conversations, written directly (50 messages each, both directions).
    rows = []
    for n in range(HISTORY_DEPTH):
        for a, b in pairs:
            s, r = (a, b) if n % 2 == 0 else (b, a)
            rows.append(message_row(s, r, f"history message {n} between {a} and {b}", None))
    engine = direct_engine(direct_url)
    try:
        insert_messages(engine, rows)
    finally:
        engine.dispose()
    ack = {u: tokens[u] for u in groups["ha"]}
    return Players(files, groups["ha"], pairs, ack)


# --------------------------------------------------------------------------- direct SQL


def direct_engine(url: str) -> Any:
    from im_adapters.sql import create_engine_from_url

    return create_engine_from_url(url, pool_size=2, timeout=120)


def message_row(sender: str, recipient: str, body: str, client_msg_id: str | None,
                sent_at: int | None = None) -> dict[str, Any]:
    from im_adapters.sql.mailbox import conversation_key

    return {"conversation": conversation_key(sender, recipient), "sender": sender,
            "recipient": recipient, "body": body,
            "sent_at": sent_at if sent_at is not None else time.time_ns() // 1_000_000,
            "client_msg_id": client_msg_id}


_COLUMNS = ("conversation", "sender", "recipient", "body", "sent_at", "client_msg_id")


def insert_messages(engine: Any, rows: Any, chunk: int = 5000) -> int:
    """Bulk-insert message rows: COPY on PostgreSQL, executemany elsewhere.

    msgids come from the table's identity in insertion order, as the server's do.
    """
    from im_adapters.sql.tables import messages

    count = 0
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy(f"COPY messages ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(tuple(row[c] for c in _COLUMNS))
                    count += 1
            raw.commit()
        finally:
            raw.close()
        return count
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in rows:
            batch.append(row)
            if len(batch) >= chunk:
                conn.execute(messages.insert(), batch)
                count += len(batch)
                batch = []
        if batch:
            conn.execute(messages.insert(), batch)
            count += len(batch)
    return count


def queue_marked(engine: Any, sender: str, prefix: str) -> int:
    """Put every message from ``sender`` whose client_msg_id starts with ``prefix`` into
    its recipient's inbox (``offline``), in one INSERT ... SELECT."""
    import sqlalchemy as sa

    from im_adapters.sql.tables import messages, offline

    select = sa.select(messages.c.recipient, messages.c.msgid).where(
        messages.c.sender == sender, messages.c.client_msg_id.like(f"{prefix}%"))
    with engine.begin() as conn:
        return conn.execute(offline.insert().from_select(["recipient", "msgid"], select)).rowcount


FEEDER = "bench-feeder"


def note_new_messages(session_url: str, uids: list[str]) -> None:
    """Tell the session store, as ``ChatService.send`` does, that these inboxes changed,
    so that no "inbox known empty" hint hides the directly inserted rows."""
    from im_adapters.redis_sessions import RedisSessionStore

    store = RedisSessionStore.from_url(session_url, timeout=5)
    try:
        for uid in uids:
            store.note_new_message(uid)
    finally:
        store.close()


def top_up_inboxes(direct_url: str, session_url: str, uids: list[str], per_player: int,
                   tag: str) -> dict[str, int]:
    """Make every inbox in ``uids`` hold at least ``per_player`` waiting messages.

    The in-memory session store lives inside the server process and cannot be told;
    there the inboxes simply never run dry (the scenario counts short pages).
    Returns, per uid, the ack to start from (the msgid just before its oldest waiting
    message), so the first heartbeat of a run deletes nothing it should not.
    """
    import sqlalchemy as sa

    from im_adapters.sql.tables import offline

    engine = direct_engine(direct_url)
    try:
        with engine.connect() as conn:
            have = dict(conn.execute(
                sa.select(offline.c.recipient, sa.func.count())
                .where(offline.c.recipient.in_(uids)).group_by(offline.c.recipient)).all())
        rows = []
        n = 0
        for uid in uids:
            for _ in range(max(0, per_player - have.get(uid, 0))):
                rows.append(message_row(FEEDER, uid, f"queued message {n} for {uid}",
                                        f"{tag}-{n}"))
                n += 1
        if rows:
            insert_messages(engine, rows)
            queue_marked(engine, FEEDER, f"{tag}-")
            if session_url.startswith("redis://"):
                note_new_messages(session_url, uids)
        with engine.connect() as conn:
            oldest = dict(conn.execute(
                sa.select(offline.c.recipient, sa.func.min(offline.c.msgid))
                .where(offline.c.recipient.in_(uids)).group_by(offline.c.recipient)).all())
        return {u: (oldest[u] - 1 if u in oldest else 0) for u in uids}
    finally:
        engine.dispose()


def scale_fill(direct_url: str) -> dict[str, Any]:
    """1,000,000 history messages (20,000 conversations of 50, interleaved) and 100,000
    of them waiting in inboxes, bulk-inserted, then the tables analyzed."""
    import sqlalchemy as sa

    engine = direct_engine(direct_url)
    t0 = time.monotonic()
    now = time.time_ns() // 1_000_000
    first_inbox = SCALE_HISTORY - SCALE_INBOX

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(SCALE_HISTORY):
            c = i % SCALE_CONVERSATIONS
            a, b = f"fl-{2 * c:05d}", f"fl-{2 * c + 1:05d}"
            s, r = (a, b) if (i // SCALE_CONVERSATIONS) % 2 == 0 else (b, a)
            yield message_row(s, r, f"filler message number {i} of the scale run",
                              f"fi-{i}" if i >= first_inbox else None, now)

    try:
        inserted = insert_messages(engine, rows(), chunk=10_000)
        t1 = time.monotonic()
        from im_adapters.sql.tables import messages, offline

        select = sa.select(messages.c.recipient, messages.c.msgid).where(
            messages.c.client_msg_id.like("fi-%"))
        with engine.begin() as conn:
            queued = conn.execute(
                offline.insert().from_select(["recipient", "msgid"], select)).rowcount
        t2 = time.monotonic()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE messages")
                conn.exec_driver_sql("ANALYZE offline")
            elif engine.dialect.name == "mysql":
                conn.exec_driver_sql("ANALYZE TABLE messages, offline").all()
            else:
                conn.exec_driver_sql("ANALYZE")
        with engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(messages)).scalar()
            waiting = conn.execute(sa.select(sa.func.count()).select_from(offline)).scalar()
        return {"inserted": inserted, "queued": queued, "messages": total, "offline": waiting,
                "insert_s": round(t1 - t0, 1), "queue_s": round(t2 - t1, 1)}
    finally:
        engine.dispose()


def explain(direct_url: str, ack_uid: str, pair: tuple[str, str]) -> str:
    """EXPLAIN the heartbeat pull (and its ack delete) and the history query."""
    import sqlalchemy as sa

    from im_adapters.sql.mailbox import _HISTORY, _PG_ACK_AND_PULL, _PULL, conversation_key
    from im_adapters.sql.tables import offline

    engine = direct_engine(direct_url)
    dialect = engine.dialect.name
    statements = [
        ("heartbeat pull", _PULL.params(uid=ack_uid, limit=PAGE + 1), True),
        ("heartbeat ack delete", sa.delete(offline).where(
            offline.c.recipient == ack_uid, offline.c.msgid <= 1), False),
        *([("heartbeat ack + pull (PostgreSQL: one statement)", _PG_ACK_AND_PULL.bindparams(
            uid=ack_uid, ack=1, limit=PAGE + 1), True)] if dialect == "postgresql" else []),
        ("history page", _HISTORY.params(conversation=conversation_key(*pair), low=-1,
                                         high=2**63 - 1, limit=21), True),
        ("history page, scale conversation", _HISTORY.params(
            conversation=conversation_key("fl-00000", "fl-00001"), low=-1, high=2**63 - 1,
            limit=21), True),
    ]
    out = []
    try:
        with engine.connect() as conn:
            for title, stmt, select in statements:
                sql = str(stmt.compile(dialect=engine.dialect,
                                       compile_kwargs={"literal_binds": True}))
                if dialect == "postgresql":
                    prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if select else "EXPLAIN "
                elif dialect == "mysql":
                    prefix = "EXPLAIN "
                else:
                    prefix = "EXPLAIN QUERY PLAN "
                result = conn.exec_driver_sql(prefix + sql)
                keys = list(result.keys())
                lines = [f"-- {title}", " ".join(sql.split())]
                if dialect == "mysql":
                    for row in result:
                        lines.append("  " + ", ".join(f"{k}={v}" for k, v in zip(keys, row,
                                                                                 strict=True)
                                                      if v is not None))
                else:
                    lines.extend("  " + str(row[-1]) for row in result)
                out.append("\n".join(lines))
            conn.rollback()
    finally:
        engine.dispose()
    return "\n\n".join(out)


# --------------------------------------------------------------------------- memory


def memory_probe() -> None:
    """Run in a fresh process: bytes per session in ``InMemorySessionStore``."""
    import gc
    import tracemalloc

    from im_core.memory import InMemorySessionStore, ManualClock
    from im_core.models import Session, SessionToken
    from im_core.service import new_session_secret

    clock = ManualClock()
    ttl = 10_000
    store = InMemorySessionStore()
    # Uids and secrets as the server sees them: strings that arrive with each request.
    uids = [f"player-{i:07d}" for i in range(MEMORY_SESSIONS)]
    secrets_ = [new_session_secret() for _ in range(MEMORY_SESSIONS)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for uid, secret in zip(uids, secrets_, strict=True):
        store.create(Session(SessionToken(uid, secret), "pc", "login", clock.now_ms()), ttl)
    gc.collect()
    live = tracemalloc.get_traced_memory()[0]
    # The strings are counted too: they stay alive only because the store holds them.
    strings = sum(sys.getsizeof(u) + sys.getsizeof(s) for u, s in zip(uids, secrets_,
                                                                      strict=True))
    clock.advance(ttl + 1)
    store.create(Session(SessionToken("late", new_session_secret()), "pc", "login",
                         clock.now_ms()), ttl)  # create() sweeps what has expired
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    # A second wave of as many sessions, swept the same way: if the memory left after
    # the first sweep is the tables' high-water mark (reused), this adds nothing.
    for uid, secret in zip(uids, secrets_, strict=True):
        store.create(Session(SessionToken(uid, secret + "x"), "pc", "login", clock.now_ms()),
                     ttl)
    clock.advance(ttl + 1)
    store.create(Session(SessionToken("late2", new_session_secret()), "pc", "login",
                         clock.now_ms()), ttl)
    gc.collect()
    after_second = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(json.dumps({
        "sessions": MEMORY_SESSIONS,
        "structure_bytes_per_session": (live - before) / MEMORY_SESSIONS,
        "bytes_per_session": (live - before + strings) / MEMORY_SESSIONS,
        "live_after_sweep": len(store),
        "bytes_left_after_sweep": after - before,
        "bytes_left_after_second_wave": after_second - before,
    }))


def measure_memory() -> dict[str, Any]:
    done = subprocess.run([PY, "-m", "bench.run", "--memory-probe"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_redis_memory() -> dict[str, Any]:
    """Bytes of Redis ``used_memory`` per session created by ``RedisSessionStore``."""
    import redis

    from im_adapters.redis_sessions import RedisSessionStore
    from im_core.models import Session, SessionToken
    from im_core.service import new_session_secret

    namespace = f"imbench-mem-{secrets.token_hex(3)}"
    client = redis.Redis.from_url(f"{REDIS_SERVER}/{REDIS_DB}", socket_timeout=5)
    store = RedisSessionStore(client, namespace)
    try:
        before = int(client.info("memory")["used_memory"])
        now = time.time_ns() // 1_000_000
        for i in range(REDIS_MEMORY_SESSIONS):
            store.create(Session(SessionToken(f"player-{i:07d}", new_session_secret()), "pc",
                                 "login", now), 600_000)
        after = int(client.info("memory")["used_memory"])
        return {"sessions": REDIS_MEMORY_SESSIONS,
                "bytes_per_session": (after - before) / REDIS_MEMORY_SESSIONS}
    finally:
        batch = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        for start in range(0, len(batch), 1000):
            client.delete(*batch[start:start + 1000])
        client.close()


# --------------------------------------------------------------------------- profile


def profile(pid: int, seconds: float, out: Path, *,
            gil: bool = False) -> subprocess.Popen[bytes] | None:
    """py-spy on ``pid``: every non-idle thread, or (``gil``) only the GIL holder."""
    spy = Path(PY).parent / "py-spy"
    if not spy.exists():
        spy = Path(shutil.which("py-spy") or "py-spy")
    if not spy.exists():
        log("py-spy is not installed (pip install py-spy): no profile")
        return None
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--duration",
                             str(int(seconds)), "--rate", "250", "--format", "raw", "--output",
                             str(out), "--nonblocking", *(["--gil"] if gil else [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize_profile(path: Path, top: int = 18) -> str:
    """Top frames of py-spy's collapsed stacks: inclusive and self share of samples.

    Waitress' idle threads (waiting on a condition or in select) are left out so the
    shares are of the time spent working.
    """
    idle = ("wait (threading.py", "select (selectors.py", "poll (selectors.py",
            "handler_thread", "_recv_into", "run (waitress/server.py", "loop (asyncore")
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        if any(mark in leaf for mark in idle) or "wait (threading.py" in stack.split(";")[-1]:
            continue
        n = int(count)
        total += n
        own[leaf] = own.get(leaf, 0) + n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
    if not total:
        return "(no busy samples)"

    def short(frame: str) -> str:
        frame = re.sub(r"/[^ ]*/(site-packages|lib/python3\.\d+)/", "", frame)
        return frame.replace(str(ROOT) + "/", "")

    lines = [f"busy samples: {total}", "inclusive (frames on the stack):"]
    skip = ("<module>", "run (threading.py", "_bootstrap", "worker (waitress", "service (waitress",
            "handler_thread (waitress")
    ranked = [kv for kv in sorted(inclusive.items(), key=lambda kv: -kv[1])
              if not any(s in kv[0] for s in skip)]
    lines += [f"  {100 * n / total:5.1f}%  {short(f)}" for f, n in ranked[:top]]
    lines.append("self (leaf frames):")
    lines += [f"  {100 * n / total:5.1f}%  {short(f)}"
              for f, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the run


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
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def summary(pairs: list[Pairing]) -> dict[str, Any]:
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


class Bench:
    def __init__(self, args: argparse.Namespace, procs: Processes) -> None:
        self.args = args
        self.procs = procs

    def start_pair(self, backend: Backend, env: dict[str, str],
                   workdir: Path) -> tuple[int, int, subprocess.Popen[bytes]]:
        """Start one im-server and one bare app; return their ports and the server."""
        im_port, bare_port = free_port(), free_port()
        im_log = workdir / f"im-{im_port}.log"
        server = self.procs.start([PY, "-m", "im_http.cli", "serve", "--port", str(im_port),
                                   "--threads", str(THREADS)], env=env, cwd=workdir,
                                  log_path=im_log)
        bare_log = workdir / f"bare-{bare_port}.log"
        bare = self.procs.start([PY, "-m", "bench.bare_app", "--port", str(bare_port),
                                 "--threads", str(THREADS)], env=env, cwd=ROOT,
                                log_path=bare_log)
        wait_http(im_port, server, im_log)
        wait_http(bare_port, bare, bare_log)
        return im_port, bare_port, server

    def run_backend(self, name: str) -> dict[str, Any]:
        args = self.args
        result: dict[str, Any] = {"backend": name}
        workdir = Path(tempfile.mkdtemp(prefix=f"im-bench-{name}-"))
        try:
            with backend_context(name, workdir) as backend:
                secret = secrets.token_urlsafe(48)
                env = server_env(backend, secret, workdir)
                if backend.database_url is not None:
                    migrate(env, workdir)
                im_port, bare_port, server = self.start_pair(backend, env, workdir)
                client = Client(im_port)
                players = prepare_players(client, secret, workdir, args.players,
                                          backend.direct_url)
                result["scenarios"] = self.measure(backend, players, [im_port], [bare_port],
                                                   args.scenarios, server_pid=server.pid,
                                                   workdir=workdir)
                if "heartbeat_empty" not in args.scenarios:
                    pass
                elif args.workers > 1 and backend.session_url != "memory://":
                    result["workers"] = self.measure_workers(backend, env, workdir, players,
                                                             im_port, bare_port)
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
                    result["scale"] = self.measure(backend, players, [im_port], [bare_port],
                                                   SCALE_SCENARIOS, workdir=workdir)
                logs = "".join(p.read_text(errors="replace") for p in workdir.glob("im-*.log"))
                queue = [ln for ln in logs.splitlines() if "Task queue depth" in ln]
                result["queue_warnings"] = len(queue)
                lines = [ln for ln in logs.splitlines() if "Task queue depth" not in ln
                         and re.search(r"WARNING|ERROR|Traceback", ln)]
                result["server_warnings"] = len(lines)
                result["server_warning_sample"] = lines[:5]
                self.procs.stop_all()
        finally:
            self.procs.stop_all()
            shutil.rmtree(workdir, ignore_errors=True)
        return result

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
        wrk(bare_ports, "bare", bare_args, 1)
        for sc in scenarios:
            warm = wrk(im_ports, sc, scenario_args(sc, 1), 1)
            if sc == "heartbeat_empty":
                est["rate"] = warm.rps
        pairs: dict[str, list[Pairing]] = {sc: [] for sc in scenarios}
        for r in range(args.rounds):
            for sc in scenarios:
                sargs = scenario_args(sc, args.duration)
                bare = wrk(bare_ports, "bare", bare_args, args.duration)
                run = wrk(im_ports, sc, sargs, args.duration)
                if sc == "heartbeat_empty":
                    est["rate"] = max(est["rate"], run.rps)
                pairs[sc].append(Pairing(bare, run))
                log(f"{backend.name} round {r + 1}/{args.rounds} {sc:16s} "
                    f"{run.rps:8.0f} req/s p50 {run.p50:6.2f} ms p99 {run.p99:6.2f} ms | "
                    f"bare {bare.rps:8.0f} req/s p99 {bare.p99:6.2f} ms | "
                    f"ratio {run.rps / bare.rps:.2f}"
                    + (f" errors {run.errors}" if run.errors else "")
                    + (f" {run.extra}" if run.extra else ""))
        out = {sc: summary(p) for sc, p in pairs.items()}
        if self.args.profile and server_pid is not None:
            out["_profiles"] = self.profile_scenarios(backend, players, im_ports, server_pid,
                                                      workdir, scenario_args)
        return out

    def profile_scenarios(self, backend: Backend, players: Players, im_ports: list[int],
                          pid: int, workdir: Path,
                          scenario_args: Callable[[str, float], list[str]]) -> dict[str, str]:
        found = {}
        seconds = max(5, int(self.args.duration))
        for sc in ("heartbeat_empty", "send", "heartbeat_ack", "history"):
            out = workdir / f"profile-{sc}.txt"
            gil_out = workdir / f"profile-{sc}-gil.txt"
            sargs = scenario_args(sc, seconds + 2)
            spy = profile(pid, seconds, out)
            if spy is None:
                return found
            spy_gil = profile(pid, seconds, gil_out, gil=True)
            time.sleep(0.5)
            wrk(im_ports, sc, sargs, seconds + 1)
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
                        players: Players, im_port: int, bare_port: int) -> dict[str, Any]:
        """Heartbeat (empty inbox) on N im-server processes, each on its own port, each
        loaded by its own wrk (side by side); the same for N bare apps."""
        n = self.args.workers
        extra = [self.start_pair(backend, env, workdir) for _ in range(n - 1)]
        im_ports = [im_port] + [e[0] for e in extra]
        bare_ports = [bare_port] + [e[1] for e in extra]
        bare_args = [str(players.files["heartbeat_empty"])]
        sc_args = [str(players.files["heartbeat_empty"])]
        wrk(bare_ports, "bare", bare_args, 1)
        wrk(im_ports, "heartbeat_empty", sc_args, 1)
        pairs = []
        for r in range(self.args.rounds):
            bare = wrk(bare_ports, "bare", bare_args, self.args.duration)
            run = wrk(im_ports, "heartbeat_empty", sc_args, self.args.duration)
            pairs.append(Pairing(bare, run))
            log(f"{backend.name} workers={n} round {r + 1}: heartbeat {run.rps:.0f} req/s "
                f"p99 {run.p99:.2f} ms | bare {bare.rps:.0f} req/s | "
                f"ratio {run.rps / bare.rps:.2f}")
        for e in extra:
            self.procs.stop(e[2])
        out = summary(pairs)
        out["workers"] = n
        return out


# --------------------------------------------------------------------------- report


def fmt(value: float, digits: int = 0) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:,.{digits}f}"


def check(ok: bool) -> str:
    return "ok" if ok else "MISSED"


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
        if "heartbeat_empty" not in sc:
            continue
        hb = sc["heartbeat_empty"]["rps"]
        online = (f"Online players per node (heartbeat req/s x {HEARTBEAT_INTERVAL:g} s "
                  f"interval), 1 process: **{fmt(hb * HEARTBEAT_INTERVAL)}**")
        if "workers" in res:
            w = res["workers"]
            scale = w["rps"] / hb if hb else math.nan
            online += f"; {w['workers']} processes: **{fmt(w['rps'] * HEARTBEAT_INTERVAL)}** "
            out.append(online +
                       f"(heartbeat {fmt(w['rps'])} req/s, p99 {fmt(w['p99'], 2)} ms, "
                       f"{fmt(scale, 2)}x one process, target >= {WORKERS_TARGET} "
                       f"{check(scale >= WORKERS_TARGET)}; bare app x{w['workers']}: "
                       f"{fmt(w['bare_rps'])} req/s, ratio {fmt(w['ratio'], 2)})")
        elif "workers_note" in res:
            out.append(online + f" ({res['workers_note']})")
        else:
            out.append(online)
        out.append("")
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
        if res.get("server_warnings"):
            out.append(f"im-server log lines with WARNING/ERROR (other than waitress' queue "
                       f"depth): {res['server_warnings']} "
                       f"(first: {res.get('server_warning_sample', [''])[0]!r})\n")
        if res.get("queue_warnings"):
            out.append(f"waitress logged \"Task queue depth is N\" {res['queue_warnings']:,} "
                       f"times in im-server (32 connections on 8 threads: requests wait for a "
                       f"thread; the bare app logs the same).\n")
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


def machine() -> dict[str, str]:
    info: dict[str, str] = {"nproc": str(os.cpu_count())}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory"] = f"{int(line.split()[1]) // 1024} MiB"
    info["os"] = platform.platform()
    return info


GIT_STATE: dict[str, tuple[str, str]] = {}


def git_state() -> tuple[str, str]:
    """(HEAD, a digest of the server's code: im_core, im_adapters, im_http as committed at
    HEAD plus any uncommitted change to them). Commits that touch only docs or tests
    leave the digest as it was."""
    import hashlib

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                              text=True, timeout=5).stdout

    try:
        head = git("rev-parse", "--short", "HEAD").strip()
        code = (git("ls-tree", "HEAD", "im_core", "im_adapters", "im_http")
                + git("diff", "HEAD", "--", "im_core", "im_adapters", "im_http")
                + git("ls-files", "--others", "--exclude-standard", "im_core", "im_adapters",
                      "im_http"))
        dirty = bool(git("status", "--porcelain", "--", "im_core", "im_adapters", "im_http"))
    except (OSError, subprocess.SubprocessError):
        return "unknown", "unknown"
    label = head + (" with uncommitted changes to the server" if dirty else "")
    return label, hashlib.sha1(code.encode()).hexdigest()[:10]


def versions(backends: list[str]) -> dict[str, str]:
    from importlib.metadata import version

    found: dict[str, str] = {}
    (start, start_code), (end, end_code) = GIT_STATE.get("start", ("?", "?")), git_state()
    if start_code == end_code:
        found["im-server commit"] = f"{start} (server code digest {start_code})" + (
            f"; HEAD was {end} at the end (no change to the server's code)"
            if end != start else "")
    else:
        found["im-server commit"] = (f"{start} at the start, {end} at the end: THE SERVER'S "
                                     f"CODE CHANGED DURING THE RUN")
    found["python"] = platform.python_version()
    for dist in ("falcon", "waitress", "redis", "hiredis", "sqlalchemy", "psycopg", "pymysql"):
        with contextlib.suppress(Exception):
            found[dist] = version(dist)
    with contextlib.suppress(Exception):
        import falcon

        found["falcon"] += " (cython)" if falcon.__file__.endswith(".so") or getattr(
            falcon, "is_cython_compiled", lambda: False)() else " (pure Python)"
    with contextlib.suppress(Exception):
        found["wrk"] = subprocess.run([WRK, "-v"], capture_output=True, text=True,
                                      timeout=5).stdout.split("[")[0].strip()
    import sqlalchemy as sa

    if any(b != "embedded" for b in backends):
        with contextlib.suppress(Exception):
            import redis

            c = redis.Redis.from_url(f"{REDIS_SERVER}/{REDIS_DB}", socket_timeout=2)
            found["Redis server"] = c.info("server")["redis_version"]
            c.close()
    for label, url, query in (("PostgreSQL", POSTGRES_SERVER, "SHOW server_version"),
                              ("MariaDB", MARIADB_SERVER, "SELECT VERSION()")):
        if (label == "PostgreSQL" and "redis-postgres" in backends) or (
                label == "MariaDB" and "redis-mariadb" in backends):
            with contextlib.suppress(Exception):
                e = sa.create_engine(url)
                with e.connect() as conn:
                    found[label] = str(conn.exec_driver_sql(query).scalar())
                e.dispose()
    if "embedded" in backends:
        import sqlite3

        found["SQLite"] = sqlite3.sqlite_version
    return found


def write_docs(table: str, results: list[dict[str, Any]], backends: list[str],
               command: str) -> Path:
    path = ROOT / "docs" / "performance.md"
    m = machine()
    v = versions(backends)
    explains = "\n\n".join(f"#### {r['backend']}\n\n```\n{r['explain']}\n```"
                           for r in results if r.get("explain"))
    profiles = "\n\n".join(f"#### {r['backend']}: {sc}\n\n```\n{text}\n```"
                           for r in results
                           for sc, text in r["scenarios"].get("_profiles", {}).items())
    doc = DOC_TEMPLATE.format(
        command=command,
        date=time.strftime("%Y-%m-%d"),
        machine="\n".join(f"- {k}: {val}" for k, val in m.items()),
        versions="\n".join(f"- {k}: {val}" for k, val in v.items()),
        table=table,
        explain=("### EXPLAIN after the scale fill\n\n" + explains) if explains else
        "(not run: add `--scale`)",
        profiles=("### py-spy profiles of im-server under load\n\n" + profiles) if profiles
        else "",
    )
    path.write_text(doc)
    return path


DOC_TEMPLATE = """# Performance

Every figure on this page was printed by one run of the benchmark, on {date}:

```
{command}
```

## What is measured

`bench/run.py` starts everything it needs on loopback and stops it afterwards:
`im-server serve` (waitress, 8 threads) and, as the yardstick, `bench/bare_app.py`, a
Falcon app with one resource that parses a small JSON body and answers a small JSON
body, with orjson through the same `im_http.app` functions as the server, served by
waitress with the same settings. Both are loaded with
`wrk -t2 -c32 --latency` in alternating runs (bare, scenario, bare, scenario, ...),
so drift hits both alike. A scenario's **ratio** is the median over rounds of its
req/s divided by the req/s of the bare run just before it; **p99 / bare p99** likewise.
req/s, p50 and p99 are medians over rounds. The machine has only 2 cores, shared by
wrk, the server, Redis and the database: the figures are for comparing with the
stack's own limit on the same box, not absolute capacity.

Players: 400 distinct players per scenario, each logged in through `POST /v1/login`
with a game token minted by `im_adapters.game_auth.mint_game_token`; the wrk Lua
scripts (`bench/lua/`) read their tokens from a file and use them round-robin, each
wrk thread with its own share. The benchmark server runs with `IM_SESSION_TTL=3600` so
that the sessions outlive the whole run; every call still does the full session work
(a Redis `EVALSHA` touch that extends the session).

- **heartbeat, empty inbox**: `POST /v1/heartbeat` `{{}}` for players with nothing
  waiting. Since the inbox hint, once a player's inbox has been seen empty the
  heartbeat is one Redis touch (or in-memory lookup) and no database query; the first
  heartbeat of each player (in the warm-up) does the query and sets the hint.
- **heartbeat, ack + next 10**: each player's inbox is filled beforehand (direct
  inserts into `messages` and `offline`, enough for the whole run, followed on the
  Redis backends by the `note_new_message` that `send` does, so no stale "inbox
  empty" hint hides them); every heartbeat
  sends `{{"ack": <last msgid it was given>, "limit": 10}}`, so it deletes the 10
  messages it acknowledges and returns the next 10 (about 2 KB of JSON). The script
  learns the last msgid from each response's `to` and `msgid` fields. "full / short
  pages" counts responses with 10 messages and with fewer (a short page would mean
  an inbox ran dry; the first call of a run per player acks nothing).
- **send**: `POST /v1/messages` from one of 400 players to a random other one, a
  40-character body, a `client_msg_id` unique per request.
- **history page**: `GET /v1/messages/history?peer=X&limit=20` in 200 conversations
  of 50 messages each.
- **login**: `POST /v1/login` with pre-minted HS256 game tokens (400 players who
  have logged in before, so `users` gets an update): JWT check, user upsert, new
  session.

Backends: `embedded` is sessions in process memory and the SQLite file `im.sqlite3`
in the server's working directory (a temporary directory); `redis-postgres` and
`redis-mariadb` use Redis database {redis_db} (only the benchmark's `im:*` keys in it are
ever deleted) and a scratch database created, migrated with `im-server migrate`, and
dropped at the end.

**Several processes (`--workers N`)**: waitress has no fork-workers mode and a
load balancer in front would be one more process on the same 2 cores, so the
benchmark runs N `im-server serve` processes, each on its own port, and N wrk
processes side by side, one per server, each with 2/N threads and 32/N connections
(the client side stays the same size); req/s are summed and the worst p50/p99 is
shown. The bare app gets the same treatment for its ratio. Only the Redis backends:
the embedded backend keeps sessions in process memory, one process by design.

**Online players per node** = heartbeat (empty inbox) req/s x the heartbeat
interval (2 s): how many players heartbeating every 2 s the node keeps up with.

**Scale (`--scale`)**: after the small-table rounds, 1,000,000 messages in 20,000
conversations (interleaved, so a conversation's rows are spread over the table) are
bulk-inserted (COPY on PostgreSQL, executemany elsewhere), 100,000 of them are put
in inboxes, the tables are analyzed, and the heartbeat and history scenarios are
run again; the table compares their latency with the small-table run, each
relative to the bare app measured beside it (the machine drifts between the two runs).

**Session memory**: in a separate Python process, 100,000 sessions are created in
`InMemorySessionStore` and measured with `tracemalloc` (the uid and secret strings
the store keeps alive are counted); then the clock passes the TTL and one `create`
sweeps the expired ones.

## Machine

{machine}

## Versions

{versions}

## Results

{table}

{explain}

{profiles}

## Targets

Ratio to the bare app in the same run (Redis + PostgreSQL, 1 process, 8 threads, 32
connections): heartbeat with an empty inbox >= 0.65, send >= 0.35, history page
>= 0.45, heartbeat p99 <= 2x bare p99; `--workers 2` heartbeat >= 1.5x one process;
scale run latency <= 1.25x; in-memory session <= 2 KiB.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--backend", choices=[*BACKENDS, "all"], default="redis-postgres")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="im-server processes for the multi-process heartbeat run "
                             "(default: the number of cores; 1 skips it)")
    parser.add_argument("--players", type=int, default=400, help="players per scenario")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma-separated subset of: " + ", ".join(SCENARIOS))
    parser.add_argument("--scale", action="store_true",
                        help="also fill 1,000,000 history and 100,000 inbox rows and rerun")
    parser.add_argument("--profile", action="store_true",
                        help="also profile im-server with py-spy under each scenario's load")
    parser.add_argument("--write-docs", action="store_true",
                        help="write the results to docs/performance.md")
    parser.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.scenarios = tuple(k for k in SCENARIOS if k in args.scenarios.split(","))
    if not args.scenarios:
        parser.error("--scenarios names none of: " + ", ".join(SCENARIOS))
    if args.memory_probe:
        memory_probe()
        return 0
    if not 1 <= args.rounds <= 50 or not 1 <= args.duration <= 120 or not 1 <= args.workers <= 16:
        parser.error("--rounds 1..50, --duration 1..120, --workers 1..16")
    backends = list(BACKENDS) if args.backend == "all" else [args.backend]
    command = ".venv/bin/python -m bench.run " + " ".join(
        argv if argv is not None else sys.argv[1:])
    procs = Processes()

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    GIT_STATE["start"] = git_state()
    bench = Bench(args, procs)
    results = []
    try:
        log("measuring in-memory session size")
        memory = measure_memory()
        redis_memory = None
        if any(b != "embedded" for b in backends):
            redis_memory = measure_redis_memory()
        for name in backends:
            log(f"backend {name}")
            results.append(bench.run_backend(name))
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        return 130
    finally:
        procs.stop_all()
    table = report(results, memory, redis_memory, args)
    print("\n" + table, flush=True)
    if args.write_docs:
        path = write_docs(table, results, backends, command.strip())
        log(f"wrote {path}")
    return 0


DOC_TEMPLATE = DOC_TEMPLATE.replace("{redis_db}", str(REDIS_DB))

if __name__ == "__main__":
    sys.exit(main())
