"""Talking to a real ``im-server`` process over HTTP, for the tests that start one."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

__all__ = ["call", "exchange", "timed_call"]


def exchange(port: int, method: str, path: str, body: Any = None, token: str | None = None,
             headers: dict[str, str] | None = None, timeout: float = 10
             ) -> tuple[int, Any, Any, float]:
    """One request to 127.0.0.1:``port`` on a new connection.

    Returns the status, the answer (JSON decoded; text if it is not JSON), the
    response headers and the seconds it took. Network failures are raised as they are.
    """
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw, status, answer_headers = response.read(), response.status, response.headers
    except urllib.error.HTTPError as error:
        raw, status, answer_headers = error.read(), error.code, error.headers
    kind = answer_headers.get("Content-Type", "") if answer_headers else ""
    answer = (json.loads(raw) if "json" in kind or not kind else raw.decode()) if raw else None
    return status, answer, answer_headers, time.monotonic() - started


def timed_call(port: int, method: str, path: str, body: Any = None,
               token: str | None = None, timeout: float = 10) -> tuple[int, Any, float]:
    """The status, JSON answer and seconds taken of one request."""
    status, answer, _, took = exchange(port, method, path, body, token, timeout=timeout)
    return status, answer, took


def call(port: int, method: str, path: str, body: Any = None,
         token: str | None = None, timeout: float = 10) -> tuple[int, Any]:
    """The status and JSON answer of one request."""
    status, answer, _, _ = exchange(port, method, path, body, token, timeout=timeout)
    return status, answer
