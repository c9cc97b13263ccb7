"""The stores a backend runs on: Redis and a scratch SQL database, cleaned up after.

In Redis each run claims a database of its own (``claim_redis_db``: a random empty one
among ``REDIS_DBS``, marked by a key that no other run's claim can take) and deletes
only its own ``im:*`` keys there, so runs side by side never touch each other's keys;
SQL databases are created empty for the run (by ``im_adapters.sql.admin``, as the
tests' are) and dropped at the end.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.log import log
from bench.settings import MARIADB_SERVER, POSTGRES_SERVER, REDIS_DBS, REDIS_SERVER

__all__ = ["Backend", "backend_context", "claim_redis_db", "clear_redis_namespace",
           "release_redis_db", "scratch_database"]

CLAIM_KEY = "imbench:claim"
"""The key that marks a Redis database as taken by a benchmark run (not ``im:*``)."""


@dataclass
class Backend:
    name: str
    session_url: str
    database_url: str | None  # None: the embedded default (im.sqlite3 in the server's cwd)
    direct_url: str  # what the benchmark itself connects to for bulk inserts
    kind: str  # sqlite | postgresql | mysql
    redis_db: int | None = None


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """An empty database for the run (its URL), dropped afterwards; both logged."""
    from sqlalchemy.engine import make_url

    from im_adapters.sql.admin import create_database, drop_database

    url = create_database(server_url, prefix="im_bench")
    name = make_url(url).database
    log(f"created scratch database {name}")
    try:
        yield url
    finally:
        drop_database(server_url, url)
        log(f"dropped scratch database {name}")


def claim_redis_db() -> int:
    """A Redis database for this run alone: a random one among ``REDIS_DBS`` that is
    empty, claimed with ``SET NX`` on ``CLAIM_KEY`` (which also makes it non-empty for
    any other run looking)."""
    import redis

    dbs = list(REDIS_DBS)
    random.shuffle(dbs)
    for db in dbs:
        client = redis.Redis.from_url(f"{REDIS_SERVER}/{db}", socket_timeout=5)
        try:
            if client.dbsize() == 0 and client.set(CLAIM_KEY, f"pid {os.getpid()}", nx=True,
                                                   ex=6 * 3600):
                log(f"using Redis database {db}")
                return db
        finally:
            client.close()
    raise RuntimeError(f"no empty Redis database among {REDIS_DBS[0]}..{REDIS_DBS[-1]}")


def release_redis_db(db: int) -> None:
    import redis

    client = redis.Redis.from_url(f"{REDIS_SERVER}/{db}", socket_timeout=5)
    try:
        client.delete(CLAIM_KEY)
    finally:
        client.close()


def clear_redis_namespace(db: int) -> None:
    """Delete the benchmark's own keys (``im:*`` in its database ``db``); nothing else."""
    import redis

    client = redis.Redis.from_url(f"{REDIS_SERVER}/{db}", socket_timeout=5)
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
    """The named backend's stores, ready and empty, for the with-block."""
    if name == "embedded":
        yield Backend(name, "memory://", None, f"sqlite:///{workdir}/im.sqlite3", "sqlite")
        return
    server = POSTGRES_SERVER if name == "redis-postgres" else MARIADB_SERVER
    kind = "postgresql" if name == "redis-postgres" else "mysql"
    db = claim_redis_db()
    try:
        with scratch_database(server) as url:
            yield Backend(name, f"{REDIS_SERVER}/{db}", url, url, kind, db)
    finally:
        clear_redis_namespace(db)
        release_redis_db(db)
