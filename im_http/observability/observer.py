"""Request ids, access logs and the metrics' counting: one middleware around every request.

- **Request ids.** Every answer, errors included, carries ``X-Request-Id``: the
  caller's own when it sent a valid one (1 to 128 printable ASCII characters), so a
  client's or a proxy's id follows the request into our logs; a fresh one otherwise.
  The id is also in a context variable, so every log line written while the request
  runs (a 500's traceback included) names it. gevent keeps context variables per
  greenlet, so concurrent requests never see each other's id.
- **Access logs.** One line per request on the ``im_http.access`` logger: method,
  route template (never the path: it may name players), status, duration, request
  id. Never a header, token, query string or body.

Logging itself (levels, text or JSON lines) is configured in ``im_http.observability.logs``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

import falcon

from im_http.observability.logs import current_request_id, request_id_var
from im_http.observability.metrics import Metrics

__all__ = ["REQUEST_ID_HEADER", "Observer", "current_request_id", "valid_request_id"]

REQUEST_ID_HEADER = "X-Request-Id"
_VALID_ID = re.compile(r"[\x20-\x7e]{1,128}")
access_log = logging.getLogger("im_http.access")


def valid_request_id(raw: str | None) -> bool:
    """A caller's id is kept if it is 1 to 128 printable ASCII characters, no more.

    Anything else (control characters that could forge log lines, non-ASCII, a
    kilobyte of text) is replaced by a fresh id rather than refused: the id is a
    convenience, never a reason to fail a request.
    """
    return raw is not None and _VALID_ID.fullmatch(raw) is not None and raw.strip() != ""


class Observer:
    """Falcon middleware: the request id, the access log line and the metrics.

    One middleware rather than three, so that the clock is read once per request.
    It must be the first middleware, so that its id is on every answer.
    """

    def __init__(self, metrics: Metrics | None, *, access: bool = True) -> None:
        self._metrics = metrics
        self._access = access

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = req.get_header(REQUEST_ID_HEADER)
        request_id = given if given is not None and valid_request_id(given) else (
            uuid.uuid4().hex)
        req.context.request_id = request_id
        req.context.started = time.perf_counter()
        request_id_var.set(request_id)

    def process_response(self, req: falcon.Request, resp: falcon.Response,
                         resource: object, req_succeeded: bool) -> None:
        request_id: str = getattr(req.context, "request_id", None) or uuid.uuid4().hex
        resp.set_header(REQUEST_ID_HEADER, request_id)
        started: float = getattr(req.context, "started", None) or time.perf_counter()
        seconds = time.perf_counter() - started
        route: str | None = req.uri_template
        status = resp.status_code
        if self._metrics is not None:
            session_key = hash(req.auth) if req.auth and status < 400 else None
            self._metrics.observe(req.method, route, status, seconds, resp.media,
                                  session_key)
        if self._access and access_log.isEnabledFor(logging.INFO):
            duration_ms = round(seconds * 1000, 1)
            access_log.info(
                "%s %s %d %.1fms id=%s", req.method, route or "-", status, duration_ms,
                request_id,
                extra={"method": req.method, "route": route, "status": status,
                       "duration_ms": duration_ms},
            )
        # The greenlet may serve the connection's next request: no stale id meanwhile.
        request_id_var.set(None)
