"""How ``im-server`` is served: gunicorn's pre-fork master with gevent workers.

Why this serving model (the figures are in docs/architecture.md): a long-polling
heartbeat holds its request for seconds, and one node must hold 10,000 of them. A
thread per request (waitress) could not: it never held more than about 3,000. Under
gevent each request is a greenlet, so the sync resources, use cases and adapters stay
as they are while a waiting request costs about 20 KB and no thread; psycopg 3 and
redis-py cooperate with gevent. gunicorn adds what a production server needs around
that: N worker processes on one port (``--workers``), a master that replaces a dead
worker, and a graceful stop on SIGTERM.

The benchmark's bare app is served by this same function, so that the stack's own
limit it measures is exactly this stack's.

Stopping (SIGTERM, as service managers and ``docker stop`` send, or SIGINT): the
master stops accepting and tells every worker to stop; each worker ends its held
long-polls at once (``Served.stop``: they answer with what the inbox holds), lets the
other requests in flight finish within ``grace_s``, closes its stores
(``Served.close``) and exits; the master exits 0.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import resource
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["SHUTDOWN_GRACE_S", "CannotListen", "Served", "raise_open_file_limit", "serve"]

SHUTDOWN_GRACE_S = 5.0
"""How long requests in flight get to finish once the server is told to stop."""

KEEPALIVE_S = 75
"""How long an idle keep-alive connection is kept (longer than any load balancer's)."""

log = logging.getLogger("im_http")


class CannotListen(OSError):
    """The address or port cannot be listened on (in use, not permitted, no such host)."""


def _nothing() -> None:
    return None


@attrs.frozen
class Served:
    """What one worker serves, and how it ends.

    Attributes:
        app: the WSGI application, built in the worker (after the fork).
        stop: called when the worker is told to stop: ends held long-polls.
        close: called when the worker exits: closes its stores.
    """

    app: Any
    stop: Callable[[], None] = _nothing
    close: Callable[[], None] = _nothing


def raise_open_file_limit(wanted: int) -> tuple[int, int]:
    """Raise this process's open-file limit towards ``wanted``, up to the hard limit.

    Every connection is a file descriptor: 10,000 waiting players need more than the
    usual soft limit of 1,024. Returns the soft limit before and after.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return soft, target
    return soft, soft


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so that a busy port is one clear line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        listener = socket.socket(family, kind, proto)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(2048)
        except OSError:
            listener.close()
            raise
    except OSError as error:
        why = "the port is in use" if error.errno == errno.EADDRINUSE else (
            error.strerror or str(error))
        raise CannotListen(f"cannot listen on {host}:{port}: {why}") from error
    listener.set_inheritable(True)
    return listener


def serve(
    load: Callable[[], Served],
    *,
    host: str,
    port: int,
    workers: int = 1,
    connections: int = 10_000,
    on_listening: Callable[[str, int], None] | None = None,
    grace_s: float = SHUTDOWN_GRACE_S,
) -> None:
    """Serve until SIGTERM or SIGINT, then stop gently (see the module docstring).

    Args:
        load: builds what a worker serves; called once in each worker process.
        host: the address to listen on.
        port: the port to listen on (0: any free port).
        workers: worker processes sharing the port.
        connections: open connections each worker holds at most (waiting long-polls
            included); more wait in the listen backlog.
        on_listening: called in the master with the address and port actually bound.
        grace_s: how long requests in flight may take to finish when told to stop.

    Raises:
        CannotListen: the address cannot be bound (for instance, the port is in use).
    """
    from gunicorn.app.base import BaseApplication
    from gunicorn.arbiter import Arbiter

    listener = _listen(host, port)
    metrics_dir = _metrics_directory()
    master = os.getpid()
    bound_host, bound_port = listener.getsockname()[:2]
    if on_listening is not None:
        on_listening(bound_host, int(bound_port))

    class _GracefulOnInt(Arbiter):  # type: ignore[misc]
        """SIGINT (Ctrl-C) stops as gently as SIGTERM; gunicorn's own is abrupt."""

        def handle_int(self) -> None:
            self.handle_term()

    class _Application(BaseApplication):  # type: ignore[misc]
        def __init__(self) -> None:
            self.served: Served | None = None
            super().__init__()

        def load_config(self) -> None:
            options = {
                "bind": [f"fd://{listener.fileno()}"],
                "workers": workers,
                "worker_class": "gevent",
                "worker_connections": connections,
                "keepalive": KEEPALIVE_S,
                "graceful_timeout": max(1, round(grace_s)),
                "timeout": 30,
                # gunicorn's defaults, pinned: docs/api.md names them (414 and 431).
                "limit_request_line": 4094,
                "limit_request_fields": 100,
                "limit_request_field_size": 8190,
                "proc_name": "im-server",
                "loglevel": "warning",
                "errorlog": "-",
                "post_worker_init": _post_worker_init,
                "worker_exit": _worker_exit,
                "child_exit": _child_exit,
            }
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self) -> Any:
            self.served = load()
            return self.served.app

        def run(self) -> None:
            _GracefulOnInt(self).run()

    try:
        _Application().run()
    except SystemExit as stopped:  # gunicorn's master ends with sys.exit, 0 when stopped
        if stopped.code not in (None, 0):
            raise
    finally:
        # Workers leave through here too (gunicorn forks inside run): only the master
        # may remove the directory every worker writes in.
        if metrics_dir is not None and os.getpid() == master:
            shutil.rmtree(metrics_dir, ignore_errors=True)


_METRICS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def _metrics_directory() -> str | None:
    """Give the workers a directory for prometheus_client's multiprocess mode.

    Set in the master before any worker is forked (and before a worker first imports
    prometheus_client), so each worker writes its counts there and a scrape answered
    by any worker sums them all (``im_http.observability.metrics``). A directory the operator named
    is kept; the one made here is removed when the server stops. Returns the one
    made here, if any.
    """
    if os.environ.get(_METRICS_VARIABLE):
        return None
    made = tempfile.mkdtemp(prefix="im-server-metrics-")
    os.environ[_METRICS_VARIABLE] = made
    return made


def _child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker has exited (or died): drop its live gauges."""
    if os.environ.get(_METRICS_VARIABLE):
        try:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
        except Exception:  # metrics must never take the master down
            log.exception("marking a dead worker's metrics failed")


def _post_worker_init(worker: Any) -> None:
    """In each worker, once its app is built: tune the collector, hook the stop."""
    # A full collection walks every object: with 10,000 held requests that took up to
    # 0.6 s, all of it a stall for every waiter (measured; docs/architecture.md).
    # Freezing what start-up built and collecting the young generation less often
    # brought the largest pause under 90 ms.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    served: Served | None = getattr(worker.app, "served", None)
    if served is None:
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        # Not here: a signal handler runs in gevent's loop callback, where blocking
        # (stopping the ring subscriber joins it) is forbidden; a greenlet of its own
        # runs the stop as soon as the loop gets to it.
        import gevent

        gevent.spawn(served.stop)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)


def _worker_exit(server: Any, worker: Any) -> None:
    served: Served | None = getattr(worker.app, "served", None)
    if served is not None:
        try:
            served.close()
        except Exception:  # a store that fails to close must not hide the exit
            log.exception("closing the stores failed")
