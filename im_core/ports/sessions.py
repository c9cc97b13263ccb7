"""The session-store port: who is online, from which client, doing what.

A session is the article's ``<uid, {type, cmd, time}>`` record with a time to live
(the article: the design this server follows, named in docs/architecture.md):
login creates it, every authenticated call (above all the 2 s heartbeat) extends
it, logout deletes it, and an idle client simply lets it expire.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from im_core.errors import StorageUnavailable
from im_core.models import Presence, Session, SessionToken

__all__ = ["SessionStore", "SessionStoreUnavailable"]

class SessionStoreUnavailable(StorageUnavailable):
    """The session store did not answer in time or refused the command."""


class SessionStore(Protocol):
    """Keeps sessions with a time to live, keyed by their token.

    Contract (times are milliseconds since the epoch, TTLs milliseconds):
        - ``create(session, ttl_ms)`` stores a new session that lives ``ttl_ms``
          after ``session.last_seen``.
        - ``touch(token, command, now_ms, ttl_ms)`` returns the session with
          ``command`` and ``last_seen=now_ms`` recorded and its life extended to
          ``now_ms + ttl_ms``; it returns ``None``, changing nothing, when there is no
          live session for that exact token (unknown, deleted or expired).
        - ``delete(token)`` ends that session; deleting a dead one is not an error.
        - ``presence(uids, now_ms)`` returns an entry for exactly the uids (each
          once) that have at least one live session: ``online=True`` with the client
          type and time of the most recent call among its live sessions. Every other
          uid (logged out, expired, never seen) has no entry; nothing of a session
          outlives it, so every store answers alike. It costs the same whatever the
          number of users online.
        - ``ping()`` returns if the store answers.
        - Every method raises ``SessionStoreUnavailable`` when the store cannot
          answer in bounded time, and changes nothing it did not report.
    """

    def create(self, session: Session, ttl_ms: int) -> None: ...

    def touch(
        self, token: SessionToken, command: str, now_ms: int, ttl_ms: int
    ) -> Session | None: ...

    def delete(self, token: SessionToken) -> None: ...

    def presence(self, uids: Iterable[str], now_ms: int) -> dict[str, Presence]: ...

    def ping(self) -> None: ...
