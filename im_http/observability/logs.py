"""Logging: the level (``IM_LOG_LEVEL``), text or JSON lines (``IM_LOG_FORMAT``).

Every record logged while a request runs carries its request id (``request_id``:
a context variable set by ``im_http.observability.observer``; gevent keeps context
variables per greenlet, so concurrent requests never see each other's). JSON lines
put it, and the extras of access lines, in fields of their own, for log collectors.

Imported by ``im-server`` before gevent patches the standard library, so this
module imports nothing that opens sockets or starts threads.
"""

from __future__ import annotations

import contextvars
import datetime
import logging
import sys
from typing import Any

import orjson

__all__ = ["JsonFormatter", "configure_logging", "current_request_id", "request_id_var"]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "im_request_id", default=None)

# Attributes of a LogRecord that are its own, not extras given by the caller.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}


def current_request_id() -> str | None:
    """The id of the request this code runs for, if any."""
    return request_id_var.get()


class _RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record logged while a request runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send every log record to stderr at ``level``, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
