"""The session-store port: who is online, from which client, doing what.

A session is the article's ``<uid, {type, cmd, time}>`` record with a time to live
(the article: the design this server follows, named in docs/architecture.md):
login creates it, every authenticated call (above all the 2 s heartbeat) extends
it, logout deletes it, and an idle client simply lets it expire.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from im_core.errors import SessionExpired, StorageUnavailable
from im_core.models import Presence, Session, SessionToken

__all__ = [
    "MAX_SESSIONS_DEFAULT",
    "SessionReplaced",
    "SessionStore",
    "SessionStoreUnavailable",
]

MAX_SESSIONS_DEFAULT = 8
"""How many live sessions one uid may hold when nobody says otherwise."""


class SessionStoreUnavailable(StorageUnavailable):
    """The session store did not answer in time or refused the command."""


class SessionReplaced(SessionExpired):
    """The session was ended because its uid logged in once too often (the cap).

    A kind of ``SessionExpired`` (the client logs in again), told apart so that a
    client can say "you logged in elsewhere" instead of looping on logins.
    """


class SessionStore(Protocol):
    """Keeps sessions with a time to live, keyed by their token.

    Contract (times are milliseconds since the epoch, TTLs milliseconds):
        - No store keeps a token's secret, in memory or on the wire to a server:
          only ``token.digest`` (a hash of it), so reading the store yields nothing
          that authenticates.
        - ``create(session, ttl_ms, max_sessions)`` stores a new session that lives
          ``ttl_ms`` after ``session.last_seen``. Then the uid holds at most
          ``max_sessions`` live sessions: the new one stays, and those with the
          oldest last call (``last_seen``; among calls in the same millisecond, any)
          are ended (*replaced*), atomically with the creation. A replaced session
          is remembered, by its digest only, for ``ttl_ms``.
        - ``touch(token, command, now_ms, ttl_ms)`` returns the session with
          ``command`` and ``last_seen=now_ms`` recorded and its life extended to
          ``now_ms + ttl_ms``; it returns ``None``, changing nothing, when there is no
          live session for that exact token (unknown, deleted or expired), and raises
          ``SessionReplaced`` when the token's session was replaced less than the
          ``ttl_ms`` given to that ``create`` ago.
        - ``delete(token)`` ends that session; deleting a dead one is not an error.
        - ``presence(uids, now_ms)`` returns an entry for exactly the uids (each
          once) that have at least one live session: ``online=True`` with the client
          type and time of the most recent call among its live sessions. Every other
          uid (logged out, expired, replaced, never seen) has no entry; nothing of a
          session outlives it, so every store answers alike. It costs the same
          whatever the number of users online, and whatever the number of logins
          (each uid's work is bounded by ``max_sessions``).
        - ``ping()`` returns if the store answers.
        - Every method raises ``SessionStoreUnavailable`` when the store cannot
          answer in bounded time, and changes nothing it did not report.
    """

    def create(
        self, session: Session, ttl_ms: int, max_sessions: int = MAX_SESSIONS_DEFAULT
    ) -> None: ...

    def touch(
        self, token: SessionToken, command: str, now_ms: int, ttl_ms: int
    ) -> Session | None: ...

    def delete(self, token: SessionToken) -> None: ...

    def presence(self, uids: Iterable[str], now_ms: int) -> dict[str, Presence]: ...

    def ping(self) -> None: ...
