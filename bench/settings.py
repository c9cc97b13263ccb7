"""What the benchmark runs with: paths, services, load shape, scenarios and targets.

One place for the numbers that the run, the seeding and the report must agree on
(docs/performance.md quotes several of them).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

__all__ = [
    "BACKENDS",
    "CONNECTIONS",
    "DESCRIPTIONS",
    "HEARTBEAT_INTERVAL",
    "HEARTBEAT_P99_TARGET",
    "HISTORY_DEPTH",
    "LONGPOLL_MAX_CONNECTIONS",
    "LONGPOLL_MAX_WAIT",
    "LONGPOLL_P50_TARGET",
    "LONGPOLL_P99_TARGETS",
    "LONGPOLL_PLAIN_TARGET",
    "LONGPOLL_RATE",
    "LONGPOLL_WAITERS",
    "LUA",
    "MARIADB_SERVER",
    "MEMORY_SESSIONS",
    "PAGE",
    "POOL_SIZE",
    "POSTGRES_SERVER",
    "PY",
    "REDIS_DBS",
    "REDIS_MEMORY_SESSIONS",
    "REDIS_SERVER",
    "ROOT",
    "SCALE_CONVERSATIONS",
    "SCALE_HISTORY",
    "SCALE_INBOX",
    "SCALE_SCENARIOS",
    "SCALE_TARGET",
    "SCENARIOS",
    "SESSION_BYTES_TARGET",
    "SESSION_TTL",
    "TARGETS",
    "WORKERS_TARGET",
    "WRK",
    "WRK_THREADS",
]

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "lua"
PY = sys.executable
WRK = shutil.which("wrk") or "/usr/bin/wrk"

REDIS_SERVER = "redis://127.0.0.1:6379"
REDIS_DBS = tuple(range(1, 14))
"""Redis databases a run may claim (an empty one, at random); only its ``im:*`` keys
are ever deleted. Database 0 is left alone, 14 and 15 to the tests."""
POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MARIADB_SERVER = "mysql+pymysql://root@127.0.0.1:3306/mysql"

POOL_SIZE = 16  # im-server's default IM_POOL_SIZE: database connections per worker
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

LONGPOLL_WAITERS = (1_000, 10_000)
"""Waiting players: the smallest count on two nodes, the larger ones on one node."""
LONGPOLL_MAX_WAIT = 8.0
"""IM_MAX_WAIT of the long-poll nodes: the default max_wait with the default 10 s TTL."""
LONGPOLL_MAX_CONNECTIONS = 12_000  # per worker: 10,000 waiters + the sender + spare
LONGPOLL_RATE = 100.0  # messages a second the sender sends to waiting players
LONGPOLL_P50_TARGET = 10.0  # ms, two nodes
LONGPOLL_P99_TARGETS = {"two_nodes": 50.0, "one_node": 200.0}  # ms
LONGPOLL_PLAIN_TARGET = 3.0  # plain heartbeat p99 while waiters wait / with nobody waiting
