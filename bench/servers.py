"""The two servers under load: ``im-server serve`` and the bare yardstick app.

Both run as subprocesses served the same way (``im_http.serving.server.serve``: gunicorn, gevent
workers, ``--workers N`` on one port); the im-server gets its settings from a clean
environment (no ``IM_*`` from the caller's shell).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench.processes import Processes, free_port, wait_http
from bench.settings import HEARTBEAT_INTERVAL, PY, ROOT, SESSION_TTL
from bench.stores import Backend

__all__ = ["migrate", "server_env", "start_pair"]


def server_env(backend: Backend, secret: str, workdir: Path) -> dict[str, str]:
    """The environment ``im-server`` runs with on ``backend``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IM_")}
    env.update(
        IM_SESSION_STORE_URL=backend.session_url,
        IM_GAME_AUTH_JWT_SECRET=secret,
        IM_SESSION_TTL=str(SESSION_TTL),
        # The players' game tokens are minted once, before a run of about an hour.
        IM_GAME_TOKEN_MAX_AGE="7200",
        IM_HEARTBEAT_INTERVAL=str(HEARTBEAT_INTERVAL),
        IM_DEV_SECRET_FILE=str(workdir / ".im-dev-secret"),
        # wrk drives each player far above a person's pace, from one address: with
        # the limits on, nearly every request would be a 429. Their cost (one Redis
        # round trip per send and login) is not in these figures.
        IM_RATE_SENDS="off",
        IM_RATE_LOGINS="off",
        IM_RATE_LOGINS_PER_ADDRESS="off",
        PYTHONPATH=str(ROOT),
    )
    if backend.database_url is not None:
        env["IM_DATABASE_URL"] = backend.database_url
    return env


def migrate(env: dict[str, str], workdir: Path) -> None:
    """``im-server migrate``, as an operator would run it."""
    done = subprocess.run([PY, "-m", "im_http.serving.cli", "migrate"], env=env, cwd=workdir,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"im-server migrate failed:\n{done.stdout}\n{done.stderr}")


def start_pair(procs: Processes, env: dict[str, str], workdir: Path, workers: int = 1
               ) -> tuple[int, int, subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """Start one im-server and one bare app, each with ``workers`` worker processes on
    its port; return their ports and both processes (the im-server first)."""
    im_port, bare_port = free_port(), free_port()
    im_log = workdir / f"im-{im_port}.log"
    server = procs.start([PY, "-m", "im_http.serving.cli", "serve", "--port", str(im_port),
                          "--workers", str(workers)],
                         env=env, cwd=workdir, log_path=im_log)
    bare_log = workdir / f"bare-{bare_port}.log"
    bare = procs.start([PY, "-m", "bench.bare_app", "--port", str(bare_port),
                        "--workers", str(workers)],
                       env=env, cwd=ROOT, log_path=bare_log)
    wait_http(im_port, server, im_log)
    wait_http(bare_port, bare, bare_log)
    return im_port, bare_port, server, bare
