"""Prometheus metrics: what an operator needs to see the chat's load, served at ``/metrics``.

Counted by the request middleware (``im_http.observability.observer``), never by the
resources or the core: requests by route template and status, their latency,
errors by the API's ``code``, messages sent (a ``201`` from ``POST /v1/messages``;
a retry answered ``200`` is not a new message) and delivered (the messages a
heartbeat's answer carries: a message pulled twice, because its ack was lost,
counts twice), logins.

Sampled at each scrape (and every second in each worker when several processes
serve): the long-polls waiting (the signals' own count of open waiters), and the
sessions active, a per-process count of the distinct session tokens that made an
authenticated call within the session TTL; with a read replica, the history and list
reads each database served (``im_database_reads_served``). That count needs no query, but with
several workers a session whose calls land on two workers counts twice (keep-alive
connections usually keep a client on one worker). The inbox rows waiting are not
exported: counting them is a query over the whole inbox table on each scrape, and
the mailbox port has no such call; ``im_messages_sent_total`` minus
``im_messages_delivered_total`` is the cheap trend instead.

Several processes (``im-server serve``, even with one worker, since gunicorn may
replace it): prometheus_client's multiprocess mode. The master points
``PROMETHEUS_MULTIPROC_DIR`` at a directory of its own before any worker starts
(``im_http.serving.server``); each worker writes its values there, a scrape answered by any
worker sums them all, and a worker that exits is marked dead so that its gauges
leave the sums. That is why prometheus_client is imported lazily, here: the
variable must be set before its first import in the process.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from typing import Any

__all__ = ["MULTIPROC_VARIABLE", "Metrics"]

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# From a cache hit to a long-poll held for the whole of a long max_wait.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            30.0, 60.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
_REFRESH_S = 1.0


class _ActiveSessions:
    """Distinct session tokens seen within the TTL, in this process, kept as hashes.

    An ``OrderedDict`` in the order of last use: with one TTL for all, the expired
    are at the front and are popped off cheaply. Only ``hash()`` of the header is
    kept, never the token.
    """

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._seen: OrderedDict[int, float] = OrderedDict()

    def seen(self, key: int, now: float) -> None:
        with self._lock:
            self._seen[key] = now + self._ttl_s
            self._seen.move_to_end(key)

    def forget(self, key: int) -> None:
        with self._lock:
            self._seen.pop(key, None)

    def count(self, now: float) -> int:
        with self._lock:
            while self._seen:
                key, expires = next(iter(self._seen.items()))
                if expires > now:
                    break
                del self._seen[key]
            return len(self._seen)


def _waiting(signals: object) -> int:
    """Open long-poll waiters in this process, whichever signals implementation."""
    counter = getattr(signals, "waiting", None)
    if counter is None:
        counter = getattr(getattr(signals, "local", None), "waiting", None)
    return int(counter()) if callable(counter) else 0


class Metrics:
    """This process's metrics and how to scrape them (all processes, when several)."""

    def __init__(self, *, signals: object = None, mailbox: object = None,
                 session_ttl_s: float = 10.0) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self._signals = signals
        self._mailbox = mailbox
        self._multiprocess_dir = os.environ.get(MULTIPROC_VARIABLE) or None
        self._sessions = _ActiveSessions(session_ttl_s)
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("im_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("im_http_request_duration_seconds",
                                 "Time to answer, held long-polls included",
                                 ["route"], buckets=_BUCKETS, registry=r)
        self.errors = Counter("im_http_errors", "Error answers by the API's code",
                              ["code"], registry=r)
        self.sent = Counter("im_messages_sent", "Messages stored (201 answers)", registry=r)
        self.delivered = Counter("im_messages_delivered",
                                 "Messages returned by heartbeats (pulls)", registry=r)
        self.logins = Counter("im_logins", "Successful logins", registry=r)
        self.sessions_active = Gauge(
            "im_sessions_active", "Distinct sessions that called within the TTL, per process",
            registry=r, multiprocess_mode="livesum")
        self.long_polls = Gauge("im_long_polls_waiting", "Heartbeats held waiting for a ring",
                                registry=r, multiprocess_mode="livesum")
        self.reads_served = Gauge(
            "im_database_reads_served",
            "History and list reads since start, by the database that served them "
            "(with a read replica)", ["served_by"], registry=r, multiprocess_mode="livesum")
        self._stop = threading.Event()
        if self._multiprocess_dir:
            # Each worker keeps its own sampled gauges fresh, since a scrape is
            # answered by one worker only.
            threading.Thread(target=self._refresh_forever, name="metrics-refresh",
                             daemon=True).start()

    def observe(self, method: str, route: str | None, status: int, seconds: float,
                media: Any, session_key: int | None) -> None:
        """Count one answered request (called by the middleware, once per request)."""
        label = route or "unmatched"
        self.requests.labels(method if method in _METHODS else "OTHER", label,
                             str(status)).inc()
        self.latency.labels(label).observe(seconds)
        if status >= 400:
            code = media.get("code") if isinstance(media, dict) else None
            self.errors.labels(code if isinstance(code, str) else str(status)).inc()
            return
        if route == "/v1/heartbeat" and isinstance(media, dict):
            self.delivered.inc(len(media.get("messages") or ()))
        elif route == "/v1/messages" and method == "POST" and status == 201:
            self.sent.inc()
        elif route == "/v1/login":
            self.logins.inc()
        if session_key is not None:
            if route == "/v1/logout":
                self._sessions.forget(session_key)
            else:
                self._sessions.seen(session_key, time.monotonic())

    def refresh(self) -> None:
        """Sample the gauges that are read rather than counted."""
        self.long_polls.set(_waiting(self._signals))
        self.sessions_active.set(self._sessions.count(time.monotonic()))
        served = getattr(getattr(self._mailbox, "replica", None), "served", None)
        if isinstance(served, dict):
            for where, count in served.items():
                self.reads_served.labels(where).set(count)

    def _refresh_forever(self) -> None:
        while not self._stop.wait(_REFRESH_S):
            self.refresh()

    def close(self) -> None:
        """Stop the refresher (multiprocess mode)."""
        self._stop.set()

    def render(self) -> tuple[bytes, str]:
        """The scrape: the text exposition format and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        self.refresh()
        if self._multiprocess_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client.multiprocess import MultiProcessCollector

        every_process = CollectorRegistry()
        MultiProcessCollector(every_process, path=self._multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(every_process), CONTENT_TYPE_LATEST
