"""A three-node MariaDB Galera cluster of the test's own, on loopback, in a temp dir.

Debian's MariaDB ships galera-4 (``/usr/lib/galera/libgalera_smm.so``). The first node
is bootstrapped with ``--wsrep-new-cluster``; the other two join it and receive the
data by rsync SST. Every node has its own ports (SQL, group communication, IST, SST),
its own ``my.cnf`` (the SST scripts read it) and its own data directory. Nothing here
touches the machine's MariaDB on 3306; every process is stopped by its pid.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from bench.processes import free_port

__all__ = ["PROVIDER", "GaleraCluster"]

PROVIDER = "/usr/lib/galera/libgalera_smm.so"


class GaleraCluster:
    """Three ``mariadbd`` with wsrep on. ``url(i)`` names node ``i``'s database ``im``."""

    NODES = 3

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ports = [free_port() for _ in range(self.NODES)]
        self.gcomm = [free_port() for _ in range(self.NODES)]
        self.ist = [free_port() for _ in range(self.NODES)]
        self.sst = [free_port() for _ in range(self.NODES)]
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * self.NODES
        # As root, the nodes run as ``mysql``: the rsync SST daemon started by root would
        # write as ``nobody``. The directory must then be theirs, and reachable.
        self._user = "mysql" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def url(self, index: int, database: str = "im") -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.ports[index]}/{database}"

    def start(self, timeout_s: float = 120.0) -> None:
        """Bootstrap node 0, join 1 and 2, create the database ``im``.

        Raises:
            RuntimeError: a node did not start or join in time (its log is named).
        """
        for tool in ("mariadbd", "mariadb-install-db", "rsync"):
            if shutil.which(tool) is None:
                raise FileNotFoundError(f"{tool} is not on PATH")
        if not Path(PROVIDER).exists():
            raise FileNotFoundError(f"{PROVIDER} is missing (apt-get install galera-4)")
        deadline = time.monotonic() + timeout_s
        for index in range(self.NODES):
            self._configure(index)
        self._install(0)
        self._spawn(0, bootstrap=True)
        self._wait_synced(0, deadline)
        self._sql(0, "CREATE DATABASE IF NOT EXISTS im")
        for index in (1, 2):
            self._spawn(index)
            self._wait_synced(index, deadline)
        self._wait_size(self.NODES, deadline)

    def kill(self, index: int) -> None:
        """kill -9 of node ``index``: no goodbye to the group."""
        process = self.processes[index]
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def restart(self, index: int, timeout_s: float = 90.0) -> float:
        """Start node ``index`` again; it rejoins (IST from a peer). Seconds it took."""
        started = time.monotonic()
        self._spawn(index)
        self._wait_synced(index, started + timeout_s)
        return time.monotonic() - started

    def status(self, index: int, variable: str) -> str:
        """A ``wsrep_%`` status value of node ``index`` ("" if it does not answer)."""
        out = self._sql(index, f"SHOW GLOBAL STATUS LIKE '{variable}'", check=False)
        parts = out.split("\t")
        return parts[1].strip() if len(parts) == 2 else ""

    def stop(self) -> None:
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in self.processes:
            if process is None:
                continue
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    # -- internals -------------------------------------------------------------------

    def _node_dir(self, index: int) -> Path:
        return self.directory / f"node{index}"

    def _configure(self, index: int) -> None:
        home = self._node_dir(index)
        (home / "data").mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chmod(self.directory, 0o755)
            for path in (home, home / "data"):
                shutil.chown(path, self._user, self._user)
        peers = ",".join(f"127.0.0.1:{port}" for port in self.gcomm)
        options = ";".join([
            f"gmcast.listen_addr=tcp://127.0.0.1:{self.gcomm[index]}",
            f"ist.recv_addr=127.0.0.1:{self.ist[index]}",
            # Notice a dead peer within seconds (defaults: 5 s suspect, 15 s inactive).
            "evs.suspect_timeout=PT2S", "evs.inactive_timeout=PT4S",
            "evs.inactive_check_period=PT0.5S", "evs.keepalive_period=PT0.5S",
            "gcache.size=64M",
        ])
        (home / "my.cnf").write_text(f"""[mysqld]
user={self._user}
datadir={home / 'data'}
socket={home / 'mysqld.sock'}
pid-file={home / 'mysqld.pid'}
log-error={home / 'error.log'}
port={self.ports[index]}
bind-address=127.0.0.1
skip-name-resolve
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
innodb_buffer_pool_size=64M
innodb_log_file_size=32M
innodb_flush_log_at_trx_commit=2
max_connections=300
wsrep_on=ON
wsrep_provider={PROVIDER}
wsrep_cluster_name=im-test
wsrep_cluster_address=gcomm://{peers}
wsrep_node_address=127.0.0.1:{self.gcomm[index]}
wsrep_node_incoming_address=127.0.0.1:{self.ports[index]}
wsrep_node_name=node{index}
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:{self.sst[index]}
wsrep_provider_options="{options}"
wsrep_slave_threads=2
# Causal reads: a read waits until this node has applied what the cluster committed
# before it began, so a player whose next call lands on another node sees its acks.
wsrep_sync_wait=1

[client]
socket={home / 'mysqld.sock'}
""")

    def _install(self, index: int) -> None:
        home = self._node_dir(index)
        done = subprocess.run(
            ["mariadb-install-db", f"--defaults-file={home / 'my.cnf'}", f"--user={self._user}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {done.stderr[-2000:]}")

    def _spawn(self, index: int, *, bootstrap: bool = False) -> None:
        home = self._node_dir(index)
        args = ["mariadbd", f"--defaults-file={home / 'my.cnf'}"]
        if bootstrap:
            args.append("--wsrep-new-cluster")
        with open(home / "stdout.log", "ab") as out:
            self.processes[index] = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=home)

    def _wait_synced(self, index: int, deadline: float) -> None:
        while self.status(index, "wsrep_local_state_comment") != "Synced":
            process = self.processes[index]
            if process is None or process.poll() is not None:
                raise RuntimeError(f"Galera node {index} exited; see "
                                   f"{self._node_dir(index) / 'error.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Galera node {index} did not sync; see "
                                   f"{self._node_dir(index) / 'error.log'}")
            time.sleep(0.2)

    def _wait_size(self, size: int, deadline: float) -> None:
        while self.status(0, "wsrep_cluster_size") != str(size):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Galera cluster did not reach {size} nodes")
            time.sleep(0.2)

    def _sql(self, index: int, statement: str, *, check: bool = True) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            done = subprocess.run(
                ["mariadb", "-h", "127.0.0.1", "-P", str(self.ports[index]), "-u", "root",
                 "--batch", "--skip-column-names", "--connect-timeout=2", "-e", statement],
                capture_output=True, text=True, timeout=10)
            if check and done.returncode != 0:
                raise RuntimeError(f"{statement!r} on node {index}: {done.stderr.strip()}")
            return done.stdout.strip()
        if check:
            raise RuntimeError(f"{statement!r} on node {index} timed out")
        return ""
