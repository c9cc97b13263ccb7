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
    "LUA",
    "MARIADB_SERVER",
    "MEMORY_SESSIONS",
    "PAGE",
    "POSTGRES_SERVER",
    "PY",
    "REDIS_DB",
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
    "THREADS",
    "WORKERS_TARGET",
    "WRK",
    "WRK_THREADS",
]

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
