"""Build the ports from ``Settings``: the only place that knows which adapter is which.

``create_app`` (``im_http.api.app``) only wires; this module decides, from configuration,
what it wires. Tests skip this module and hand ``create_app`` in-memory ports.

Start-up policy, the same for every store: a store that does not answer when the
server starts stops it with one line naming the store (``StoreUnreachable``). A server
that cannot reach its stores at start is misconfigured; an outage later is a 503.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import attrs

from im_adapters.urls import redacted
from im_core import (
    ChatService,
    GameAuth,
    InMemoryInboxSignals,
    InMemoryMailbox,
    InMemoryRateLimiter,
    InMemorySessionStore,
    MailboxRepository,
    RateLimiter,
    SessionStore,
    SystemClock,
)
from im_core.errors import ConfigurationError, StorageUnavailable
from im_core.ports import InboxSignals, SignalsUnavailable
from im_http.serving.settings import DEFAULT_DATABASE_URL, Settings

if TYPE_CHECKING:
    from im_adapters.sql.replica import WriteMarks

__all__ = [
    "Built",
    "StoreUnreachable",
    "build_game_auth",
    "build_service",
    "driver_reason",
    "load_or_create_dev_secret",
    "redacted",
]

log = logging.getLogger("im_http")


_T = TypeVar("_T")


class StoreUnreachable(ConnectionError):
    """A store did not answer when the server started; the message names it."""


def driver_reason(error: BaseException, url: str = "") -> str:
    """The first line of what the driver said, at the bottom of ``error``'s causes.

    Our errors wrap SQLAlchemy's, which wrap the driver's: the driver's own words
    ("database "chat" does not exist", "Access denied for user...") are the ones a
    human can act on. The password of ``url``, should a driver echo it, is hidden.
    """
    cause = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    cause = getattr(cause, "orig", None) or cause  # SQLAlchemy's DBAPIError: the driver's
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    text = lines[0] if lines else type(cause).__name__
    password = urlsplit(url).password if url else None
    return text.replace(password, "***") if password else text


@attrs.frozen
class Built:
    """A ready ``ChatService`` and what must be closed when the server stops."""

    service: ChatService
    close: Callable[[], None]
    dev_secret: bool


def load_or_create_dev_secret(path: str) -> str:
    """Return the development secret in ``path``, creating it (mode 0600) if missing.

    ``serve`` and ``token`` run as separate processes; the file is how a token that
    ``im-server token`` prints is accepted by a server started without a secret.
    The file appears whole or not at all (written aside, then linked), so two
    processes starting at once agree on one secret.
    """
    file = Path(path)
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    while True:
        try:
            found = file.read_text().strip()
        except FileNotFoundError:
            found = ""
        if len(found) >= 32:
            return found
        secret = secrets.token_urlsafe(48)
        draft = file.with_name(f".{file.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w") as out:
            out.write(secret + "\n")
        try:
            if found:  # too short to be ours: replace it
                os.replace(draft, file)
            else:
                os.link(draft, file)  # fails if another process was first: read theirs
            return secret
        except FileExistsError:
            continue
        finally:
            draft.unlink(missing_ok=True)


def build_game_auth(settings: Settings) -> tuple[GameAuth, bool]:
    """The game-login verifier the settings ask for, and whether it is the dev one."""
    from im_adapters.game_auth import HttpGameAuth, JwtGameAuth

    if settings.game_auth_url:
        return HttpGameAuth.from_url(settings.game_auth_url,
                                     timeout_s=settings.game_auth_timeout), False
    checks = {"issuer": settings.game_auth_jwt_issuer,
              "audience": settings.game_auth_jwt_audience,
              "max_age_s": settings.game_token_max_age}
    if settings.game_auth_jwt_public_key:
        return JwtGameAuth.from_public_key_file(settings.game_auth_jwt_public_key,
                                                **checks), False
    if settings.game_auth_jwt_secret:
        return JwtGameAuth.from_secret(settings.game_auth_jwt_secret, **checks), False
    secret = load_or_create_dev_secret(settings.dev_secret_file)
    return JwtGameAuth.from_secret(secret, **checks), True


def _build_sessions(settings: Settings) -> SessionStore:
    url = settings.session_store_url
    if url == "memory://":
        return InMemorySessionStore()
    if url.startswith(("redis://", "rediss://", "unix://", "redis+cluster://")):
        from im_adapters.redis_sessions import RedisSessionStore

        return _check_answers("session store", url, lambda: RedisSessionStore.from_url(
            url, namespace=settings.redis_namespace, timeout=settings.storage_timeout,
            max_connections=_redis_connections(settings)))
    raise ConfigurationError(
        "IM_SESSION_STORE_URL must be memory://, redis://host:port/db, rediss://host:port/db,"
        f" unix:///path/to/redis.sock or redis+cluster://host:port, not {url.split(':')[0]}:"
    )


def _redis_connections(settings: Settings) -> int:
    """Redis connections per store and worker: every request makes a round trip, and a
    worker may hold thousands of requests, so more than the database gets (Redis is
    cheap per connection); at least 64."""
    return max(64, settings.pool_size * 4)


def _build_signals(settings: Settings) -> InboxSignals:
    """Rings travel where the sessions are: within the process, or over Redis pub/sub."""
    url = settings.session_store_url
    if url == "memory://":
        return InMemoryInboxSignals()
    from im_adapters.redis_signals import RedisInboxSignals

    signals = RedisInboxSignals.from_url(url, namespace=settings.redis_namespace,
                                         timeout=settings.storage_timeout,
                                         max_connections=_redis_connections(settings))
    signals.start()
    if not signals.wait_connected(max(settings.storage_timeout, 1.0)):
        signals.close()
        raise SignalsUnavailable("the ring subscription did not come up")
    return signals


def _build_limiter(settings: Settings) -> RateLimiter:
    """Limits are counted where the sessions are: in the process, or in Redis for all
    nodes (on the sessions' Redis, under the same namespace)."""
    url = settings.session_store_url
    if url == "memory://":
        return InMemoryRateLimiter()
    from im_adapters.redis_limits import RedisRateLimiter

    # A guard that lets calls through when it fails must not spend their time budget:
    # a short timeout, so a hung Redis costs a login little more than its own 503.
    return RedisRateLimiter.from_url(url, namespace=settings.redis_namespace,
                                     timeout=min(settings.storage_timeout, 0.25),
                                     max_connections=_redis_connections(settings))


def _build_write_marks(settings: Settings) -> WriteMarks | None:
    """With a read replica, each player's last write position, where the sessions are
    (every node must see them: a player's next call may land on another node)."""
    if settings.database_read_url is None:
        return None
    from im_adapters.sql.replica import InMemoryWriteMarks, RedisWriteMarks

    if settings.session_store_url == "memory://":
        return InMemoryWriteMarks()
    return RedisWriteMarks.from_url(settings.session_store_url,
                                    namespace=settings.redis_namespace,
                                    timeout=min(settings.storage_timeout, 0.5),
                                    max_connections=_redis_connections(settings))


def _build_mailbox(settings: Settings, *, migrate: bool) -> MailboxRepository:
    url = settings.database_url
    if url == "memory://":
        return InMemoryMailbox()
    from im_adapters.sql import SqlMailbox, ensure_schema_current, upgrade_to_head

    mailbox = SqlMailbox.from_url(url, pool_size=settings.pool_size,
                                  timeout=settings.storage_timeout,
                                  read_url=settings.database_read_url,
                                  marks=_build_write_marks(settings))
    # The embedded default is a file only this server uses: it may migrate itself.
    # A shared database is migrated on purpose, with `im-server migrate`.
    if migrate or url == DEFAULT_DATABASE_URL:
        upgrade_to_head(mailbox.engine)
    else:
        ensure_schema_current(mailbox.engine)
    return mailbox


def build_service(settings: Settings, *, migrate: bool = False) -> Built:
    """Build every port from ``settings`` and wire them into a ``ChatService``.

    Raises:
        ConfigurationError: a setting cannot work (bad URL, missing driver, old schema).
        StoreUnreachable: the session store or the database does not answer.
    """
    auth, dev = build_game_auth(settings)
    sessions = _build_sessions(settings)
    opened: list[object] = [sessions]
    try:
        _check_answers("session store", settings.session_store_url, sessions.ping)
        signals = _check_answers("session store's pub/sub", settings.session_store_url,
                                 lambda: _build_signals(settings))
        opened.append(signals)
        limiter = _check_answers("session store", settings.session_store_url,
                                 lambda: _build_limiter(settings))
        opened.append(limiter)
        mailbox = _check_answers("database", settings.database_url,
                                 lambda: _build_mailbox(settings, migrate=migrate))
    except BaseException:
        for port in opened:
            _close(port)
        raise
    service = ChatService(
        sessions=sessions,
        mailbox=mailbox,
        auth=auth,
        clock=SystemClock(),
        session_ttl_ms=round(settings.session_ttl * 1000),
        signals=signals,
        max_wait_ms=settings.max_wait_ms,
        max_logins_in_flight=settings.max_logins_in_flight,
        limiter=limiter,
        limits=settings.limits,
        presence_scope=settings.presence_scope,
        max_sessions_per_uid=settings.max_sessions_per_uid,
    )

    def close() -> None:
        for port in (signals, limiter, sessions, mailbox, auth):
            _close(port)

    return Built(service, close, dev)


def _check_answers(store: str, url: str, attempt: Callable[[], _T]) -> _T:
    """Run ``attempt``; if the store does not answer, say which one, in one line."""
    try:
        return attempt()
    except StorageUnavailable as error:
        raise StoreUnreachable(
            f"the {store} at {redacted(url)} does not answer: {driver_reason(error, url)}"
        ) from error


def _close(port: object) -> None:
    closer = getattr(port, "close", None)
    if closer is not None:
        closer()
