"""How ``im-server`` is served: waitress, and the process settings that go with it.

The benchmark's bare app is served by this same function, so that the stack's own
limit it measures is exactly this stack's.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["serve"]

# Python's GIL switch interval is left at its default (5 ms): measured with the
# benchmark, 0.5 ms cost a third of the send throughput and tripled p99 latencies.


def serve(app: Any, *, host: str, port: int, threads: int) -> None:
    """Serve the WSGI ``app`` with waitress until interrupted.

    Args:
        app: the WSGI application.
        host: the address to listen on.
        port: the port to listen on.
        threads: the worker threads, each running one request at a time.
    """
    import waitress

    # waitress warns "Task queue depth is N" for every request that waits for a free
    # thread: under load that is every request, and the logging costs more than it says.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    waitress.serve(
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
