"""What the figures were measured on: the machine, the code and the versions.

Figures without these cannot be compared with the next run's; the code digest also
tells whether the server's code changed while the benchmark ran.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import subprocess
from pathlib import Path

from bench.settings import MARIADB_SERVER, POSTGRES_SERVER, REDIS_SERVER, ROOT, WRK

__all__ = ["git_state", "machine", "versions"]

_SERVER_CODE = ("im_core", "im_adapters", "im_http")


def machine() -> dict[str, str]:
    """Cores, CPU model, memory and OS."""
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


def git_state() -> tuple[str, str]:
    """(HEAD, a digest of the server's code: im_core, im_adapters, im_http as committed at
    HEAD plus any uncommitted change to them). Commits that touch only docs or tests
    leave the digest as it was."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                              text=True, timeout=5).stdout

    try:
        head = git("rev-parse", "--short", "HEAD").strip()
        code = (git("ls-tree", "HEAD", *_SERVER_CODE)
                + git("diff", "HEAD", "--", *_SERVER_CODE)
                + git("ls-files", "--others", "--exclude-standard", *_SERVER_CODE))
        dirty = bool(git("status", "--porcelain", "--", *_SERVER_CODE))
    except (OSError, subprocess.SubprocessError):
        return "unknown", "unknown"
    label = head + (" with uncommitted changes to the server" if dirty else "")
    return label, hashlib.sha1(code.encode()).hexdigest()[:10]


def versions(backends: list[str], start: tuple[str, str]) -> dict[str, str]:
    """The code (``start``: ``git_state()`` when the run began, compared with now) and
    the versions of everything the backends ran on."""
    from importlib.metadata import version

    import sqlalchemy as sa

    found: dict[str, str] = {}
    (start_label, start_code), (end, end_code) = start, git_state()
    if start_code == end_code:
        found["im-server commit"] = f"{start_label} (server code digest {start_code})" + (
            f"; HEAD was {end} at the end (no change to the server's code)"
            if end != start_label else "")
    else:
        found["im-server commit"] = (f"{start_label} at the start, {end} at the end: THE "
                                     f"SERVER'S CODE CHANGED DURING THE RUN")
    found["python"] = platform.python_version()
    for dist in ("falcon", "gunicorn", "gevent", "redis", "hiredis", "sqlalchemy", "psycopg",
                 "pymysql"):
        with contextlib.suppress(Exception):
            found[dist] = version(dist)
    with contextlib.suppress(Exception):
        import falcon

        found["falcon"] += " (cython)" if falcon.__file__.endswith(".so") or getattr(
            falcon, "is_cython_compiled", lambda: False)() else " (pure Python)"
    with contextlib.suppress(Exception):
        found["wrk"] = subprocess.run([WRK, "-v"], capture_output=True, text=True,
                                      timeout=5).stdout.split("[")[0].strip()
    if any(b != "embedded" for b in backends):
        with contextlib.suppress(Exception):
            import redis

            c = redis.Redis.from_url(f"{REDIS_SERVER}/0", socket_timeout=2)  # INFO only
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
