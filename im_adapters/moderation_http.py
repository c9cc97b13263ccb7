"""``HttpMessageFilter``: the message filter that asks the game's own moderation service.

The service receives ``POST {"sender", "target", "body"}`` as JSON and answers 200
with ``{"action": "allow"}``, ``{"action": "reject", "reason": "..."}`` or
``{"action": "replace", "body": "..."}``. Every call is bounded by ``timeout_s`` and
never retried. When the service cannot answer (timeout, no connection, another
status, a malformed verdict) the filter fails *open* (the message is allowed, the
failure logged and counted) or *closed* (``ModerationUnavailable``: 503, nothing
stored), as configured. The body is never logged.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Literal

import urllib3
from urllib3.util import parse_url

from im_core.errors import ConfigurationError
from im_core.ports import ALLOW, ModerationUnavailable, Verdict

__all__ = ["HttpMessageFilter"]

log = logging.getLogger("im_adapters")

FailMode = Literal["open", "closed"]


class HttpMessageFilter:
    """Asks the moderation service at ``url``; see the module docstring."""

    def __init__(self, pool: urllib3.PoolManager, url: str, *, timeout_s: float = 0.5,
                 fail: FailMode = "open") -> None:
        parsed = parse_url(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigurationError("IM_MODERATION_URL must be an http(s):// URL with a host")
        if not timeout_s > 0:
            raise ConfigurationError(f"the moderation timeout must be > 0 s, not {timeout_s}")
        self._pool = pool
        self._url = url
        port = f":{parsed.port}" if parsed.port else ""
        self._safe_url = f"{parsed.scheme}://{parsed.host}{port}"  # for logs: no credentials
        self._timeout = urllib3.Timeout(total=timeout_s)
        self._fail = fail
        self._lock = threading.Lock()
        self.failures = 0
        """How many calls the service could not answer (each let through or refused)."""

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 0.5, fail: FailMode = "open",
                 max_connections: int = 16) -> HttpMessageFilter:
        pool = urllib3.PoolManager(maxsize=max_connections, block=False, retries=False)
        return cls(pool, url, timeout_s=timeout_s, fail=fail)

    def check(self, sender: str, target: str, body: str) -> Verdict:
        payload = json.dumps({"sender": sender, "target": target, "body": body}).encode()
        try:
            answer = self._pool.request("POST", self._url, body=payload,
                                        headers={"Content-Type": "application/json"},
                                        timeout=self._timeout, retries=False)
            if answer.status != 200:
                return self._failed(f"answered {answer.status}")
            verdict = json.loads(answer.data)
        except (urllib3.exceptions.HTTPError, ValueError) as error:
            return self._failed(type(error).__name__)
        if not isinstance(verdict, dict):
            return self._failed("answered something other than a JSON object")
        action = verdict.get("action")
        if action == "allow":
            return ALLOW
        if action == "reject":
            reason = verdict.get("reason")
            return Verdict("reject", reason=reason if isinstance(reason, str) and reason
                           else None)
        if action == "replace" and isinstance(verdict.get("body"), str) and verdict["body"]:
            return Verdict("replace", body=verdict["body"])
        return self._failed("answered no valid action")

    def _failed(self, why: str) -> Verdict:
        with self._lock:
            self.failures += 1
        if self._fail == "closed":
            log.warning("moderation service at %s %s: message refused (fails closed)",
                        self._safe_url, why)
            raise ModerationUnavailable("the moderation service did not answer")
        log.warning("moderation service at %s %s: message allowed (fails open)",
                    self._safe_url, why)
        return ALLOW

    def close(self) -> None:
        self._pool.clear()
