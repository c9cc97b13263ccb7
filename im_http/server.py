"""How ``im-server`` is served: waitress, and the process settings that go with it.

The benchmark's bare app is served by this same function, so that the stack's own
limit it measures is exactly this stack's.

SIGTERM (what service managers and ``docker stop`` send) and SIGINT end the server
the same gentle way: stop accepting, let the requests in flight finish within a
bound, close the connections, return; the caller then closes the stores.
"""

from __future__ import annotations

import errno
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["SHUTDOWN_GRACE_S", "CannotListen", "serve"]

# Python's GIL switch interval is left at its default (5 ms): measured with the
# benchmark, 0.5 ms cost a third of the send throughput and tripled p99 latencies.

SHUTDOWN_GRACE_S = 5.0
"""How long requests in flight get to finish once the server is told to stop."""

log = logging.getLogger("im_http")


class CannotListen(OSError):
    """The address or port cannot be listened on (in use, not permitted, no such host)."""


class _Stop(Exception):
    """Raised by the SIGTERM handler to leave the serving loop."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Make SIGTERM leave the loop as SIGINT does (a no-op outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(app: Any, *, host: str, port: int, threads: int,
          on_listening: Callable[[str, int], None] | None = None,
          grace_s: float = SHUTDOWN_GRACE_S) -> None:
    """Serve the WSGI ``app`` with waitress until SIGTERM or SIGINT, then stop gently.

    Args:
        app: the WSGI application.
        host: the address to listen on.
        port: the port to listen on (0: any free port).
        threads: the worker threads, each running one request at a time.
        on_listening: called with the address and port actually bound, once bound.
        grace_s: how long requests in flight may take to finish when told to stop.

    Raises:
        CannotListen: the address cannot be bound (for instance, the port is in use).
    """
    import waitress.server
    from waitress import wasyncore

    # waitress warns "Task queue depth is N" for every request that waits for a free
    # thread: under load that is every request, and the logging costs more than it says.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    try:
        server = waitress.server.create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            ident="im-server",
            connection_limit=1000,
            channel_timeout=30,
            max_request_body_size=1024 * 1024,
            clear_untrusted_proxy_headers=True,
        )
    except OSError as error:
        why = "the port is in use" if error.errno == errno.EADDRINUSE else error.strerror
        raise CannotListen(f"cannot listen on {host}:{port}: {why}") from error
    if on_listening is not None:
        on_listening(server.effective_host, int(server.effective_port))
    with _stop_on_sigterm():
        try:
            wasyncore.loop(timeout=server.adj.asyncore_loop_timeout, map=server._map,
                           use_poll=server.adj.asyncore_use_poll)
        except (_Stop, KeyboardInterrupt):
            log.info("stopping: finishing the requests in flight (at most %gs)", grace_s)
    _drain(server, grace_s)


def _drain(server: Any, grace_s: float) -> None:
    """Stop accepting, let in-flight requests finish within ``grace_s``, close all."""
    from waitress import wasyncore
    from waitress.channel import HTTPChannel

    wasyncore.dispatcher.close(server)  # the listening socket only: no new connections
    deadline = time.monotonic() + grace_s

    def busy() -> bool:
        return any(isinstance(c, HTTPChannel) and (c.requests or c.total_outbufs_len)
                   for c in list(server._map.values()))

    while busy() and time.monotonic() < deadline:
        wasyncore.loop(timeout=0.05, map=server._map, use_poll=True, count=1)
    server.task_dispatcher.shutdown(cancel_pending=True,
                                    timeout=max(0.0, deadline - time.monotonic()))
    wasyncore.close_all(server._map)
