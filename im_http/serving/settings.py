"""Configuration: one frozen object, read from the environment here and nowhere else.

Command-line flags override the environment, which overrides the defaults. A flag is
checked exactly as its variable is, and a flag that is given replaces its variable
before the check, so a bad ``IM_PORT`` is no obstacle to ``--port 9000``. A bad value
raises ``ConfigurationError`` with one line saying which setting and why;
``im-server`` prints that line and exits instead of showing a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from im_core.errors import ConfigurationError
from im_core.limits import GROUP_MEMBERS_CAP, Limits, PresenceScope, RateLimit
from im_core.models import check_max_wait, default_max_wait_ms
from im_core.ports import LOGIN_POLICIES, LoginPolicy
from im_http.api.client_address import DEFAULT_TRUSTED_PROXIES, IpNetwork, parse_networks
from im_http.serving.env_values import (
    Source,
    api_keys,
    choice,
    duration,
    integer,
    networks,
    number,
    optional_number,
    rate,
    switch,
    text,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "Settings",
    "default_dev_secret_file",
    "variable_of",
]

DEFAULT_DATABASE_URL = "sqlite:///im.sqlite3"

# The variable behind each setting; a flag overriding a setting takes its place.
_VARIABLES = {
    "host": "IM_HOST",
    "port": "IM_PORT",
    "workers": "IM_WORKERS",
    "max_connections": "IM_MAX_CONNECTIONS",
    "pool_size": "IM_POOL_SIZE",
    "session_store_url": "IM_SESSION_STORE_URL",
    "redis_namespace": "IM_REDIS_NAMESPACE",
    "database_url": "IM_DATABASE_URL",
    "database_read_url": "IM_DATABASE_READ_URL",
    "session_ttl": "IM_SESSION_TTL",
    "heartbeat_interval": "IM_HEARTBEAT_INTERVAL",
    "storage_timeout": "IM_STORAGE_TIMEOUT",
    "max_wait": "IM_MAX_WAIT",
    "game_auth_jwt_secret": "IM_GAME_AUTH_JWT_SECRET",
    "game_auth_jwt_public_key": "IM_GAME_AUTH_JWT_PUBLIC_KEY",
    "game_auth_jwt_issuer": "IM_GAME_AUTH_JWT_ISSUER",
    "game_auth_jwt_audience": "IM_GAME_AUTH_JWT_AUDIENCE",
    "game_auth_url": "IM_GAME_AUTH_URL",
    "game_auth_timeout": "IM_GAME_AUTH_TIMEOUT",
    "max_logins_in_flight": "IM_MAX_LOGINS_IN_FLIGHT",
    "dev_secret_file": "IM_DEV_SECRET_FILE",
    "rate_sends": "IM_RATE_SENDS",
    "rate_logins": "IM_RATE_LOGINS",
    "rate_logins_per_address": "IM_RATE_LOGINS_PER_ADDRESS",
    "max_contacts": "IM_MAX_CONTACTS",
    "max_blocks": "IM_MAX_BLOCKS",
    "group_max_members": "IM_GROUP_MAX_MEMBERS",
    "presence_scope": "IM_PRESENCE_SCOPE",
    "trusted_proxies": "IM_TRUSTED_PROXIES",
    "demo_ui": "IM_DEMO_UI",
    "log_level": "IM_LOG_LEVEL",
    "log_format": "IM_LOG_FORMAT",
    "access_log": "IM_ACCESS_LOG",
    "max_sessions_per_uid": "IM_MAX_SESSIONS_PER_UID",
    "game_token_max_age": "IM_GAME_TOKEN_MAX_AGE",
    "server_api_keys": "IM_SERVER_API_KEYS",
    "login_policy": "IM_LOGIN_POLICY",
    "heartbeat_idle_interval": "IM_HEARTBEAT_IDLE_INTERVAL",
    "heartbeat_active_window": "IM_HEARTBEAT_ACTIVE_WINDOW",
    "moderation_words": "IM_MODERATION_WORDS",
    "moderation_words_action": "IM_MODERATION_WORDS_ACTION",
    "moderation_url": "IM_MODERATION_URL",
    "moderation_timeout": "IM_MODERATION_TIMEOUT",
    "moderation_fail": "IM_MODERATION_FAIL",
    "inbox_retention": "IM_INBOX_RETENTION",
    "history_retention": "IM_HISTORY_RETENTION",
    "webhook_url": "IM_WEBHOOK_URL",
    "webhook_secret": "IM_WEBHOOK_SECRET",
    "webhook_timeout": "IM_WEBHOOK_TIMEOUT",
}

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


def variable_of(field: str) -> str:
    """The environment variable behind a ``Settings`` field (for ``check-config``)."""
    return _VARIABLES[field]

_DEFAULT_LIMITS = Limits()


def default_dev_secret_file(environ: Mapping[str, str] | None = None) -> str:
    """Where the development secret is kept: one file per user, whatever the directory.

    ``serve`` and ``token`` often run from different directories; a file relative to
    the working directory would give each its own secret, and logins would fail.
    The place is the XDG data directory: ``$XDG_DATA_HOME/im-server/dev-secret``,
    else ``~/.local/share/im-server/dev-secret``.
    """
    env = os.environ if environ is None else environ
    data = env.get("XDG_DATA_HOME", "")
    if not os.path.isabs(data):  # the XDG spec says to ignore a relative path
        home = env.get("HOME") or str(Path.home())
        data = os.path.join(home, ".local", "share")
    return os.path.join(data, "im-server", "dev-secret")


@attrs.frozen
class Settings:
    """Everything ``im-server`` can be told; see docs/configuration.md.

    Durations are in seconds. ``game_auth_jwt_secret`` and friends choose the
    game-login verifier: an URL wins over a public key, which wins over a secret;
    with none of them, ``serve`` makes a development secret (and says so).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_connections: int = 10_000
    pool_size: int = 16
    session_store_url: str = "memory://"
    redis_namespace: str = "im"
    database_url: str = DEFAULT_DATABASE_URL
    database_read_url: str | None = None
    session_ttl: float = 10.0
    heartbeat_interval: float = 2.0
    max_wait: float | None = None
    storage_timeout: float = 2.0
    game_auth_jwt_secret: str | None = attrs.field(default=None, repr=False)
    game_auth_jwt_public_key: str | None = None
    game_auth_jwt_issuer: str | None = None
    game_auth_jwt_audience: str | None = None
    game_auth_url: str | None = None
    game_auth_timeout: float = 2.0
    max_logins_in_flight: int = 64
    dev_secret_file: str = attrs.field(factory=default_dev_secret_file)
    demo_ui: bool = False
    log_level: str = "INFO"
    log_format: str = "text"
    access_log: bool = True
    rate_sends: RateLimit | None = _DEFAULT_LIMITS.sends
    rate_logins: RateLimit | None = _DEFAULT_LIMITS.logins
    rate_logins_per_address: RateLimit | None = _DEFAULT_LIMITS.logins_per_address
    max_contacts: int = _DEFAULT_LIMITS.max_contacts
    max_blocks: int = _DEFAULT_LIMITS.max_blocks
    group_max_members: int = _DEFAULT_LIMITS.max_group_members
    presence_scope: PresenceScope = "all"
    trusted_proxies: tuple[IpNetwork, ...] = parse_networks(DEFAULT_TRUSTED_PROXIES)
    max_sessions_per_uid: int = 8
    game_token_max_age: float = 3600.0
    server_api_keys: tuple[str, ...] = attrs.field(default=(), repr=False)
    login_policy: LoginPolicy = "many"
    heartbeat_idle_interval: float | None = None
    heartbeat_active_window: float = 30.0
    moderation_words: str | None = None
    moderation_words_action: str = "mask"
    moderation_url: str | None = None
    moderation_timeout: float = 0.5
    moderation_fail: str = "open"
    inbox_retention: float = 30 * 86400.0
    history_retention: float | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = attrs.field(default=None, repr=False)
    webhook_timeout: float = 2.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``IM_*`` variables, with ``overrides`` (the command-line flags) in place
        of theirs; a ``None`` override is a flag not given.

        Raises:
            ConfigurationError: a value is malformed or out of range.
        """
        env = os.environ if environ is None else environ
        if env.get("IM_THREADS"):
            raise ConfigurationError(
                "IM_THREADS is gone (the server no longer runs a thread per request): "
                "use IM_POOL_SIZE for database connections and IM_MAX_CONNECTIONS"
            )
        if env.get("IM_SQL_EXECUTOR"):
            raise ConfigurationError(
                "IM_SQL_EXECUTOR is gone (how statements reach PostgreSQL is the server's "
                "own choice, no longer a setting): unset it"
            )
        values = dict(env)
        flags: dict[str, str] = {}
        for field, value in overrides.items():
            if value is not None:
                values[_VARIABLES[field]] = str(value)
                flags[_VARIABLES[field]] = "--" + field.replace("_", "-")
        src = Source(values, flags)
        d = cls(dev_secret_file=default_dev_secret_file(env))
        settings = cls(
            host=src.raw("IM_HOST") or d.host,
            port=integer(src, "IM_PORT", d.port, low=0, high=65535),
            workers=integer(src, "IM_WORKERS", d.workers, low=1, high=64),
            max_connections=integer(src, "IM_MAX_CONNECTIONS", d.max_connections, low=1,
                                     high=1_000_000),
            pool_size=integer(src, "IM_POOL_SIZE", d.pool_size, low=1, high=256),
            session_store_url=src.raw("IM_SESSION_STORE_URL") or d.session_store_url,
            redis_namespace=src.raw("IM_REDIS_NAMESPACE") or d.redis_namespace,
            database_url=src.raw("IM_DATABASE_URL") or d.database_url,
            database_read_url=text(src, "IM_DATABASE_READ_URL"),
            session_ttl=number(src, "IM_SESSION_TTL", d.session_ttl, low=1, high=86400),
            heartbeat_interval=number(
                src, "IM_HEARTBEAT_INTERVAL", d.heartbeat_interval, low=0.1, high=3600
            ),
            max_wait=optional_number(src, "IM_MAX_WAIT", low=0, high=86400),
            storage_timeout=number(
                src, "IM_STORAGE_TIMEOUT", d.storage_timeout, low=0.05, high=60
            ),
            game_auth_jwt_secret=text(src, "IM_GAME_AUTH_JWT_SECRET"),
            game_auth_jwt_public_key=text(src, "IM_GAME_AUTH_JWT_PUBLIC_KEY"),
            game_auth_jwt_issuer=text(src, "IM_GAME_AUTH_JWT_ISSUER"),
            game_auth_jwt_audience=text(src, "IM_GAME_AUTH_JWT_AUDIENCE"),
            game_auth_url=text(src, "IM_GAME_AUTH_URL"),
            game_auth_timeout=number(
                src, "IM_GAME_AUTH_TIMEOUT", d.game_auth_timeout, low=0.05, high=60
            ),
            max_logins_in_flight=integer(src, "IM_MAX_LOGINS_IN_FLIGHT",
                                          d.max_logins_in_flight, low=1, high=100_000),
            dev_secret_file=src.raw("IM_DEV_SECRET_FILE") or d.dev_secret_file,
            demo_ui=switch(src, "IM_DEMO_UI", d.demo_ui),
            log_level=choice(src, "IM_LOG_LEVEL", d.log_level, LOG_LEVELS,
                              fold=str.upper),
            log_format=choice(src, "IM_LOG_FORMAT", d.log_format, LOG_FORMATS,
                               fold=str.lower),
            access_log=switch(src, "IM_ACCESS_LOG", d.access_log),
            rate_sends=rate(src, "IM_RATE_SENDS", d.rate_sends),
            rate_logins=rate(src, "IM_RATE_LOGINS", d.rate_logins),
            rate_logins_per_address=rate(src, "IM_RATE_LOGINS_PER_ADDRESS",
                                          d.rate_logins_per_address),
            max_contacts=integer(src, "IM_MAX_CONTACTS", d.max_contacts, low=1,
                                  high=100_000),
            max_blocks=integer(src, "IM_MAX_BLOCKS", d.max_blocks, low=1, high=100_000),
            group_max_members=integer(src, "IM_GROUP_MAX_MEMBERS", d.group_max_members,
                                      low=2, high=GROUP_MEMBERS_CAP),
            presence_scope="contacts" if choice(
                src, "IM_PRESENCE_SCOPE", d.presence_scope, ("all", "contacts")
            ) == "contacts" else "all",
            trusted_proxies=networks(src, "IM_TRUSTED_PROXIES", DEFAULT_TRUSTED_PROXIES),
            max_sessions_per_uid=integer(src, "IM_MAX_SESSIONS_PER_UID",
                                          d.max_sessions_per_uid, low=1, high=1000),
            game_token_max_age=number(src, "IM_GAME_TOKEN_MAX_AGE", d.game_token_max_age,
                                      low=1, high=30 * 86400),
            **_server_settings(src, d),
        )
        if settings.heartbeat_interval >= settings.session_ttl:
            raise ConfigurationError(
                "IM_HEARTBEAT_INTERVAL must be shorter than IM_SESSION_TTL, "
                "or every session expires between two heartbeats"
            )
        if settings.workers > 1 and "memory://" in (settings.session_store_url,
                                                    settings.database_url):
            raise ConfigurationError(
                "--workers above 1 needs shared stores: memory:// keeps sessions and "
                "messages inside one process (use redis:// and a database URL)"
            )
        if settings.database_read_url is not None and not (
                settings.database_url.startswith("postgresql")
                and settings.database_read_url.startswith("postgresql")):
            raise ConfigurationError(
                "IM_DATABASE_READ_URL names a PostgreSQL streaming replica, and needs "
                "IM_DATABASE_URL to be its PostgreSQL primary"
            )
        _check_server_settings(settings)
        try:
            check_max_wait(settings.max_wait_ms, round(settings.session_ttl * 1000))
        except ValueError:
            raise ConfigurationError(
                "IM_MAX_WAIT must be shorter than IM_SESSION_TTL, "
                "or a waiting player's session lapses while it waits"
            ) from None
        return settings

    @property
    def limits(self) -> Limits:
        """The rate limits and list bounds, for the ``ChatService``."""
        return Limits(sends=self.rate_sends, logins=self.rate_logins,
                      logins_per_address=self.rate_logins_per_address,
                      max_contacts=self.max_contacts, max_blocks=self.max_blocks,
                      max_group_members=self.group_max_members)

    @property
    def max_wait_ms(self) -> int:
        """The longest a heartbeat is held: ``max_wait``, or the core's default
        (``im_core.models.default_max_wait_ms``: four fifths of the TTL)."""
        if self.max_wait is None:
            return default_max_wait_ms(round(self.session_ttl * 1000))
        return round(self.max_wait * 1000)


def _server_settings(src: Source, d: Settings) -> dict[str, Any]:
    """The settings of the server API, pacing, moderation, retention and the webhook."""
    return {
        "server_api_keys": api_keys(src, "IM_SERVER_API_KEYS"),
        "login_policy": _login_policy(choice(src, "IM_LOGIN_POLICY", d.login_policy,
                                             LOGIN_POLICIES)),
        "heartbeat_idle_interval": optional_number(src, "IM_HEARTBEAT_IDLE_INTERVAL",
                                                   low=0.1, high=43200),
        "heartbeat_active_window": number(src, "IM_HEARTBEAT_ACTIVE_WINDOW",
                                          d.heartbeat_active_window, low=0, high=86400),
        "moderation_words": text(src, "IM_MODERATION_WORDS"),
        "moderation_words_action": choice(src, "IM_MODERATION_WORDS_ACTION",
                                          d.moderation_words_action, ("mask", "reject")),
        "moderation_url": text(src, "IM_MODERATION_URL"),
        "moderation_timeout": number(src, "IM_MODERATION_TIMEOUT", d.moderation_timeout,
                                     low=0.01, high=10),
        "moderation_fail": choice(src, "IM_MODERATION_FAIL", d.moderation_fail,
                                  ("open", "closed")),
        "inbox_retention": duration(src, "IM_INBOX_RETENTION", d.inbox_retention,
                                    low=60) or d.inbox_retention,
        "history_retention": duration(src, "IM_HISTORY_RETENTION", None, low=60),
        "webhook_url": text(src, "IM_WEBHOOK_URL"),
        "webhook_secret": text(src, "IM_WEBHOOK_SECRET"),
        "webhook_timeout": number(src, "IM_WEBHOOK_TIMEOUT", d.webhook_timeout, low=0.05,
                                  high=60),
    }


def _check_server_settings(settings: Settings) -> None:
    idle = settings.heartbeat_idle_interval
    if idle is not None and not (settings.heartbeat_interval <= idle
                                 <= settings.session_ttl / 2):
        raise ConfigurationError(
            "IM_HEARTBEAT_IDLE_INTERVAL must be from IM_HEARTBEAT_INTERVAL to half of "
            "IM_SESSION_TTL, or an idle player's session could lapse between heartbeats"
        )
    if settings.webhook_url and len(settings.webhook_secret or "") < 32:
        raise ConfigurationError(
            "IM_WEBHOOK_URL needs IM_WEBHOOK_SECRET, at least 32 characters: the "
            "receiver checks each request's HMAC signature with it")


def _login_policy(value: str) -> LoginPolicy:
    for policy in LOGIN_POLICIES:
        if policy == value:
            return policy
    raise AssertionError(value)  # pragma: no cover - choice() checked it
