"""The stores a backend runs on: Redis and a scratch SQL database, cleaned up after.

In Redis the benchmark uses a database number of its own (``REDIS_DB``) and deletes
only its own ``im:*`` keys there; SQL databases are created empty for the run (by
``im_adapters.sql.admin``, as the tests' are) and dropped at the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.log import log
from bench.settings import MARIADB_SERVER, POSTGRES_SERVER, REDIS_DB, REDIS_SERVER

__all__ = ["Backend", "backend_context", "clear_redis_namespace", "scratch_database"]


@dataclass
class Backend:
    name: str
    session_url: str
    database_url: str | None  # None: the embedded default (im.sqlite3 in the server's cwd)
    direct_url: str  # what the benchmark itself connects to for bulk inserts
    kind: str  # sqlite | postgresql | mysql


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
    """The named backend's stores, ready and empty, for the with-block."""
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
