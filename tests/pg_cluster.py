"""A PostgreSQL primary and a streaming replica of the test's own, on loopback ports.

``initdb`` a primary, ``pg_basebackup -R`` a replica from it (it streams at once), in
a temp dir; ``synchronous=True`` makes every commit wait for the replica's flush
(``synchronous_standby_names = '*'``), which is what a failover that loses no
acknowledged write needs. The test plays the failover manager: ``kill_primary``
(kill -9), then ``promote`` (``pg_ctl promote``, and the synchronous standby
requirement dropped, since no standby is left to wait for). The servers run as
``postgres`` when the run is root's (PostgreSQL refuses root). Nothing here touches the
machine's PostgreSQL on 5432; every process is stopped by its pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from bench.processes import free_port

__all__ = ["BIN", "PostgresPair"]

BIN = Path("/usr/lib/postgresql/15/bin")


class PostgresPair:
    """A primary (index 0) and a replica (index 1); ``url`` names the database ``im``."""

    def __init__(self, directory: Path, *, synchronous: bool) -> None:
        self.directory = directory
        self.synchronous = synchronous
        self.ports = [free_port(), free_port()]
        self.processes: list[subprocess.Popen[bytes] | None] = [None, None]
        self._user = "postgres" if os.geteuid() == 0 else None

    def url(self, index: int) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.ports[index]}/im"

    def failover_url(self) -> str:
        """Both servers, the writable one chosen by libpq (``target_session_attrs``)."""
        hosts = "&".join(f"host=127.0.0.1:{port}" for port in self.ports)
        return f"postgresql+psycopg://postgres@/im?{hosts}&target_session_attrs=read-write"

    def start(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        primary, replica = self._data(0), self._data(1)
        for path in (primary, replica):
            path.mkdir(mode=0o700)
        if self._user is not None:
            os.chmod(self.directory, 0o755)
            for path in (self.directory, primary, replica):
                shutil.chown(path, self._user, self._user)
        self._run([str(BIN / "initdb"), "-D", str(primary), "-U", "postgres",
                   "--auth=trust", "--no-sync", "-E", "UTF8"])
        with open(primary / "postgresql.conf", "a") as conf:
            conf.write(f"""
listen_addresses = '127.0.0.1'
unix_socket_directories = '{self.directory}'
wal_level = replica
max_wal_senders = 5
hot_standby = on
fsync = off
shared_buffers = 32MB
max_connections = 200
wal_receiver_status_interval = 1s
""")
        with open(primary / "pg_hba.conf", "a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        self._spawn(0)
        self._wait_ready(0, deadline)
        self._psql(0, "CREATE DATABASE im", database="postgres")
        self._run([str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.ports[0]),
                   "-U", "postgres", "-D", str(replica), "-R", "-X", "stream",
                   "--no-sync", "--checkpoint=fast"])
        self._spawn(1)
        self._wait_ready(1, deadline)
        while self._psql(0, "SELECT count(*) FROM pg_stat_replication "
                            "WHERE state = 'streaming'") != "1":
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not start streaming")
            time.sleep(0.1)
        if self.synchronous:  # only now: with no standby, a commit would wait for ever
            self._psql(0, "ALTER SYSTEM SET synchronous_standby_names = '*'")
            self._psql(0, "SELECT pg_reload_conf()")
            while self._psql(0, "SELECT sync_state FROM pg_stat_replication") != "sync":
                if time.monotonic() > deadline:
                    raise RuntimeError("the replica did not become synchronous")
                time.sleep(0.1)

    def kill(self, index: int) -> None:
        """kill -9 of server ``index``'s postmaster (its backends follow it)."""
        process = self.processes[index]
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def promote(self, timeout_s: float = 30.0) -> float:
        """Make the replica the primary; seconds until it takes writes."""
        started = time.monotonic()
        self._run([str(BIN / "pg_ctl"), "promote", "-D", str(self._data(1)), "-w"])
        # No standby is left: a synchronous commit would wait for ever.
        self._psql(1, "ALTER SYSTEM SET synchronous_standby_names = ''")
        self._psql(1, "SELECT pg_reload_conf()")
        while self._psql(1, "SELECT pg_is_in_recovery()") != "f":
            if time.monotonic() > started + timeout_s:
                raise RuntimeError("the promoted replica did not leave recovery")
            time.sleep(0.05)
        return time.monotonic() - started

    def psql(self, index: int, statement: str) -> str:
        return self._psql(index, statement)

    def stop(self) -> None:
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.terminate()  # a smart shutdown would wait for clients: fast
        for process in self.processes:
            if process is None:
                continue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    # -- internals -------------------------------------------------------------------

    def _data(self, index: int) -> Path:
        return self.directory / f"pg{index}"

    def _run(self, args: list[str]) -> None:
        done = subprocess.run(args, capture_output=True, text=True, timeout=120,
                              user=self._user, cwd=self.directory)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr[-2000:]}")

    def _spawn(self, index: int) -> None:
        log = self.directory / f"pg{index}.log"
        with open(log, "ab") as out:
            self.processes[index] = subprocess.Popen(
                [str(BIN / "postgres"), "-D", str(self._data(index)),
                 "-p", str(self.ports[index])],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                user=self._user, cwd=self.directory)

    def _wait_ready(self, index: int, deadline: float) -> None:
        while self._psql(index, "SELECT 1", database="postgres") != "1":
            process = self.processes[index]
            if process is None or process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL {index} did not start; see "
                                   f"{self.directory / f'pg{index}.log'}")
            time.sleep(0.1)

    def _psql(self, index: int, statement: str, database: str = "im") -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            done = subprocess.run(
                [str(BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.ports[index]),
                 "-U", "postgres", "-d", database, "-At", "-c", statement],
                capture_output=True, text=True, timeout=10,
                env={**os.environ, "PGCONNECT_TIMEOUT": "2"})
            return done.stdout.strip() if done.returncode == 0 else ""
        return ""
