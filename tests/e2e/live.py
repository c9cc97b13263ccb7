"""Talking to a real ``im-server`` process over HTTP, for the tests that start one."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

__all__ = ["call", "timed_call"]


def timed_call(port: int, method: str, path: str, body: Any = None,
               token: str | None = None, timeout: float = 10) -> tuple[int, Any, float]:
    """One request to 127.0.0.1:``port``: its status, JSON answer and seconds taken."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            answer = json.loads(raw) if raw else None
            return response.status, answer, time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), time.monotonic() - started


def call(port: int, method: str, path: str, body: Any = None,
         token: str | None = None, timeout: float = 10) -> tuple[int, Any]:
    """Like ``timed_call``, without the time."""
    status, answer, _ = timed_call(port, method, path, body, token, timeout)
    return status, answer
