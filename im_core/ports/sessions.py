"""The session-store port: who is online, from which client, doing what.

A session is the article's ``<uid, {type, cmd, time}>`` record with a time to live
(the article: the design this server follows, named in docs/architecture.md):
login creates it, every authenticated call (above all the 2 s heartbeat) extends
it, logout deletes it, and an idle client simply lets it expire.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol

from im_core.errors import SessionExpired, StorageUnavailable
from im_core.models import Presence, Session, SessionToken

__all__ = [
    "LOGIN_POLICIES",
    "MAX_SESSIONS_DEFAULT",
    "LoginPolicy",
    "SessionEnded",
    "SessionReplaced",
    "SessionStore",
    "SessionStoreUnavailable",
]

MAX_SESSIONS_DEFAULT = 8
"""How many live sessions one uid may hold when nobody says otherwise."""


LoginPolicy = Literal["many", "one-per-client-type", "single"]
"""Which of a uid's sessions a new login ends: none (beyond the cap), those of the
same client type, or all of them."""

LOGIN_POLICIES: tuple[LoginPolicy, ...] = ("many", "one-per-client-type", "single")


class SessionStoreUnavailable(StorageUnavailable):
    """The session store did not answer in time or refused the command."""


class SessionReplaced(SessionExpired):
    """The session was ended by a newer login of its uid (the cap or the login policy).

    A kind of ``SessionExpired`` (the client logs in again), told apart so that a
    client can say "you logged in elsewhere" instead of looping on logins.
    """


class SessionEnded(SessionExpired):
    """The game's server ended the session (``end_sessions``: a kick or a ban).

    Told apart from an expiry so that a client shows "you were disconnected" and does
    not log in again at once.
    """


class SessionStore(Protocol):
    """Keeps sessions with a time to live, keyed by their token.

    Contract (times are milliseconds since the epoch, TTLs milliseconds):
        - No store keeps a token's secret, in memory or on the wire to a server:
          only ``token.digest`` (a hash of it), so reading the store yields nothing
          that authenticates.
        - ``create(session, ttl_ms, max_sessions, policy)`` stores a new session that
          lives ``ttl_ms`` after ``session.last_seen``. First the ``policy`` ends
          (*replaces*) the uid's other live sessions: none (``many``), those of the
          same client type (``one-per-client-type``) or all (``single``). Then the
          uid holds at most ``max_sessions`` live sessions: the new one stays, and
          those with the oldest last call (``last_seen``; among calls in the same
          millisecond, any) are replaced. All of it is atomic with the creation (one
          round trip). A replaced session is remembered, by its digest only, for
          ``ttl_ms``. It returns how many sessions it replaced.
        - ``end_all(uid, now_ms, ttl_ms)`` ends every live session of ``uid``,
          remembering each for ``ttl_ms`` as *ended*, and returns how many.
        - ``touch(token, command, now_ms, ttl_ms)`` returns the session with
          ``command`` and ``last_seen=now_ms`` recorded and its life extended to
          ``now_ms + ttl_ms``; it returns ``None``, changing nothing, when there is no
          live session for that exact token (unknown, deleted or expired), and raises
          ``SessionReplaced`` when the token's session was replaced less than the
          ``ttl_ms`` given to that ``create`` ago (``SessionEnded`` when it was ended
          by ``end_all``).
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
        self, session: Session, ttl_ms: int, max_sessions: int = MAX_SESSIONS_DEFAULT,
        policy: LoginPolicy = "many",
    ) -> int: ...

    def end_all(self, uid: str, now_ms: int, ttl_ms: int) -> int: ...

    def touch(
        self, token: SessionToken, command: str, now_ms: int, ttl_ms: int
    ) -> Session | None: ...

    def delete(self, token: SessionToken) -> None: ...

    def presence(self, uids: Iterable[str], now_ms: int) -> dict[str, Presence]: ...

    def ping(self) -> None: ...
