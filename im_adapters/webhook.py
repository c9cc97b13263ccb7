"""``WebhookEvents``: the events port over HTTP, to the game's URL, signed, in the background.

``message_sent`` puts the event on a bounded queue and returns; one background worker
posts batches (up to ``batch`` events) as ``{"events": [{"type": "message.sent",
"message": {...}}]}``. Each request carries ``X-IM-Timestamp`` (ms since the epoch) and
``X-IM-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` under the
shared secret, so the game can check who sent it and refuse a replay. A batch that
fails (no answer within the timeout, or a status other than 2xx) is retried with
exponential backoff (0.5 s doubling, at most 30 s, ``attempts`` in all), then dropped
and counted. A full queue drops the new event and counts it: a slow or dead endpoint
never slows a send. Nothing of a body is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import urllib3
from urllib3.util import parse_url

from im_core.errors import ConfigurationError
from im_core.models import Message

__all__ = ["WEBHOOK_SECRET_MIN_CHARS", "WebhookEvents", "signature"]

log = logging.getLogger("im_adapters")

WEBHOOK_SECRET_MIN_CHARS = 32


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-IM-Signature`` of a request: what a receiver recomputes and compares."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _event(message: Message) -> dict[str, Any]:
    return {"type": "message.sent", "message": {
        "msgid": message.msgid, "from": message.sender, "to": message.recipient,
        "body": message.body, "sent_at": message.sent_at,
        "client_msg_id": message.client_msg_id}}


class WebhookEvents:
    """See the module docstring. Call ``start`` before use and ``close`` at the end."""

    def __init__(self, pool: urllib3.PoolManager, url: str, secret: str, *,
                 timeout_s: float = 2.0, capacity: int = 10_000, batch: int = 100,
                 attempts: int = 5, first_backoff_s: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        parsed = parse_url(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigurationError("IM_WEBHOOK_URL must be an http(s):// URL with a host")
        if len(secret) < WEBHOOK_SECRET_MIN_CHARS:
            raise ConfigurationError(
                f"IM_WEBHOOK_SECRET must be at least {WEBHOOK_SECRET_MIN_CHARS} characters")
        self._pool = pool
        self._url = url
        self._where = f"{parsed.scheme}://{parsed.host}"
        self._secret = secret
        self._timeout = urllib3.Timeout(total=timeout_s)
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(capacity)
        self._batch = batch
        self._attempts = attempts
        self._first_backoff_s = first_backoff_s
        self._sleep = sleep
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.delivered = 0
        """Events the endpoint took (2xx)."""
        self.dropped = 0
        """Events dropped: the queue was full, or every attempt failed."""

    @classmethod
    def from_url(cls, url: str, secret: str, **kwargs: Any) -> WebhookEvents:
        pool = urllib3.PoolManager(maxsize=2, block=False, retries=False)
        return cls(pool, url, secret, **kwargs)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="im-webhook", daemon=True)
        self._thread.start()

    def message_sent(self, message: Message) -> None:
        try:
            self._queue.put_nowait(_event(message))
        except queue.Full:
            self._count_dropped(1)

    def close(self, flush_s: float = 2.0) -> None:
        """Deliver what is queued for at most ``flush_s`` more seconds (no retries), then
        stop the worker."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(flush_s)
        self._pool.clear()

    def _run(self) -> None:
        while True:
            try:
                events = [self._queue.get(timeout=0.2)]
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            while len(events) < self._batch:
                try:
                    events.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._deliver(events)

    def _deliver(self, events: list[dict[str, Any]]) -> None:
        body = json.dumps({"events": events}).encode()
        backoff = self._first_backoff_s
        for attempt in range(1, self._attempts + 1):
            timestamp = str(int(time.time() * 1000))
            headers = {"Content-Type": "application/json", "X-IM-Timestamp": timestamp,
                       "X-IM-Signature": signature(self._secret, timestamp, body)}
            try:
                answer = self._pool.request("POST", self._url, body=body, headers=headers,
                                            timeout=self._timeout, retries=False)
                if 200 <= answer.status < 300:
                    with self._lock:
                        self.delivered += len(events)
                    return
                why = f"answered {answer.status}"
            except urllib3.exceptions.HTTPError as error:
                why = type(error).__name__
            if attempt == self._attempts or self._stopping.is_set():
                break
            log.warning("webhook at %s %s; retrying %d events in %.1f s", self._where, why,
                        len(events), backoff)
            self._sleep(backoff)
            backoff = min(backoff * 2, 30.0)
        log.warning("webhook at %s failed %d times: %d events dropped", self._where,
                    self._attempts, len(events))
        self._count_dropped(len(events))

    def _count_dropped(self, count: int) -> None:
        with self._lock:
            self.dropped += count
