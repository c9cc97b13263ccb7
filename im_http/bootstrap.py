"""Build the ports from ``Settings``: the only place that knows which adapter is which.

``create_app`` (``im_http.app``) only wires; this module decides, from configuration,
what it wires. Tests skip this module and hand ``create_app`` in-memory ports.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

import attrs

from im_adapters import ConfigurationError
from im_core import (
    ChatService,
    GameAuth,
    InMemoryMailbox,
    InMemorySessionStore,
    MailboxRepository,
    SessionStore,
    SystemClock,
)
from im_http.settings import DEFAULT_DATABASE_URL, Settings

__all__ = ["Built", "build_game_auth", "build_service", "load_or_create_dev_secret"]

log = logging.getLogger("im_http")


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
    """
    file = Path(path)
    if file.exists():
        secret = file.read_text().strip()
        if len(secret) >= 32:
            return secret
    secret = secrets.token_urlsafe(48)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    return secret


def build_game_auth(settings: Settings) -> tuple[GameAuth, bool]:
    """The game-login verifier the settings ask for, and whether it is the dev one."""
    from im_adapters.game_auth import HttpGameAuth, JwtGameAuth

    if settings.game_auth_url:
        return HttpGameAuth.from_url(settings.game_auth_url,
                                     timeout_s=settings.game_auth_timeout), False
    checks = {"issuer": settings.game_auth_jwt_issuer,
              "audience": settings.game_auth_jwt_audience}
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
    if url.startswith(("redis://", "rediss://", "unix://")):
        from im_adapters.redis_sessions import RedisSessionStore

        return RedisSessionStore.from_url(url, timeout=settings.storage_timeout,
                                          max_connections=settings.threads * 2)
    raise ConfigurationError(
        "IM_SESSION_STORE_URL must be memory://, redis://host:port/db, rediss://host:port/db"
        f" or unix:///path/to/redis.sock, not {url.split(':')[0]}:"
    )


def _build_mailbox(settings: Settings, *, migrate: bool) -> MailboxRepository:
    url = settings.database_url
    if url == "memory://":
        return InMemoryMailbox()
    from im_adapters.sql import SqlMailbox, ensure_schema_current, upgrade_to_head

    mailbox = SqlMailbox.from_url(url, pool_size=settings.threads,
                                  timeout=settings.storage_timeout)
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
    """
    auth, dev = build_game_auth(settings)
    sessions = _build_sessions(settings)
    mailbox = _build_mailbox(settings, migrate=migrate)
    service = ChatService(
        sessions=sessions,
        mailbox=mailbox,
        auth=auth,
        clock=SystemClock(),
        session_ttl_ms=round(settings.session_ttl * 1000),
    )

    def close() -> None:
        for port in (sessions, mailbox, auth):
            closer = getattr(port, "close", None)
            if closer is not None:
                closer()

    return Built(service, close, dev)
