"""``HttpGameAuth``: the game's login service, asked over HTTP, vouches for a player.

For games whose tokens are opaque session ids. The game token is a bearer
credential: it never goes into an error message or a log line, nor does the URL's
password.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Self

import urllib3
from urllib3.util import Url, parse_url

from im_adapters.urls import redacted
from im_core.errors import ConfigurationError
from im_core.ports.auth import AuthUnavailable, InvalidCredentials

__all__ = ["HttpGameAuth"]


class HttpGameAuth:
    """Asks the game's login service whether a token proves a uid.

    The service receives ``POST {"uid": ..., "game_token": ...}`` as JSON and answers
    2xx (yes), 401/403 (no); anything else means it could not decide. Every call is
    bounded by ``timeout_s`` and never retried, so a slow service delays a login by
    at most that long.
    """

    def __init__(self, pool: urllib3.PoolManager, url: str, timeout_s: float = 2.0) -> None:
        """Use a ready connection pool, shared with nothing that needs retries.

        Args:
            pool: the pool the requests go through (keep-alive connections).
            url: the login service's verify endpoint, ``http(s)://host[:port]/path``.
                Credentials in it (``user:pass@``) are sent as HTTP basic auth.
            timeout_s: the most a call may take, connecting included.

        Raises:
            ConfigurationError: the URL is not http(s) with a host, or the timeout
                is not positive.
        """
        parsed = _parse_service_url(url)
        if not timeout_s > 0:
            raise ConfigurationError(f"the game login timeout must be > 0 s, not {timeout_s}")
        self._pool = pool
        self._url = url
        self._safe_url = redacted(url)  # the only form that goes into messages
        self._timeout = urllib3.Timeout(total=timeout_s)
        self._headers: dict[str, str] = {"Content-Type": "application/json"}
        if parsed.auth:
            self._headers.update(urllib3.make_headers(basic_auth=parsed.auth))

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 2.0, max_connections: int = 16) -> Self:
        """Build the pool too: at most ``max_connections`` kept alive per host.

        ``block=False``: a burst beyond the pool opens extra short-lived connections
        rather than queueing logins behind each other.

        Raises:
            ConfigurationError: see the constructor; or ``max_connections`` < 1.
        """
        _parse_service_url(url)
        if max_connections < 1:
            raise ConfigurationError(
                f"the game login pool needs max_connections >= 1, not {max_connections}"
            )
        pool = urllib3.PoolManager(maxsize=max_connections, block=False, retries=False)
        return cls(pool, url, timeout_s=timeout_s)

    def verify(self, uid: str, game_token: str) -> None:
        """Ask the service; believe a 2xx or a 401/403, and nothing else.

        Raises:
            InvalidCredentials: the service answered 401 or 403.
            AuthUnavailable: any other status, a timeout, or no connection.
        """
        body = json.dumps({"uid": uid, "game_token": game_token}).encode("utf-8")
        status = self._request("POST", body=body, headers=self._headers)
        if 200 <= status < 300:
            return
        if status in (401, 403):
            raise InvalidCredentials(f"the game login service refused the token ({status})")
        raise AuthUnavailable(
            f"the game login service at {self._safe_url} answered {status}, not a verdict"
        )

    def ping(self) -> None:
        """Reachable means: some HTTP answer to a HEAD within the timeout, any status.

        Raises:
            AuthUnavailable: no answer in time, or no connection.
        """
        self._request("HEAD", body=None, headers=None)

    def _request(
        self, method: str, *, body: bytes | None, headers: Mapping[str, str] | None
    ) -> int:
        """Send one request with no retries and no redirects; return the status."""
        try:
            response = self._pool.request(
                method,
                self._url,
                body=body,
                headers=headers,
                timeout=self._timeout,
                retries=False,
                redirect=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise AuthUnavailable(
                f"the game login service at {self._safe_url} gave no answer: {type(error).__name__}"
            ) from None
        return response.status


def _parse_service_url(url: str) -> Url:
    """Accept only ``http(s)://host...``: anything else cannot reach a login service."""
    try:
        parsed = parse_url(url)
    except (urllib3.exceptions.LocationParseError, ValueError):
        raise ConfigurationError("the game login URL cannot be parsed") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(
            "the game login URL must be http:// or https:// with a host, "
            "e.g. https://login.example.com/verify"
        )
    return parsed
