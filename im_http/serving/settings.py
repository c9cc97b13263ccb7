"""Configuration: one frozen object, read from the environment here and nowhere else.

Command-line flags override the environment, which overrides the defaults. A flag is
checked exactly as its variable is, and a flag that is given replaces its variable
before the check, so a bad ``IM_PORT`` is no obstacle to ``--port 9000``. A bad value
raises ``ConfigurationError`` with one line saying which setting and why;
``im-server`` prints that line and exits instead of showing a traceback.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from im_core.errors import ConfigurationError
from im_core.limits import GROUP_MEMBERS_CAP, Limits, PresenceScope, RateLimit
from im_core.models import check_max_wait, default_max_wait_ms
from im_http.api.client_address import DEFAULT_TRUSTED_PROXIES, IpNetwork, parse_networks

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
}

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


def variable_of(field: str) -> str:
    """The environment variable behind a ``Settings`` field (for ``check-config``)."""
    return _VARIABLES[field]

_DEFAULT_LIMITS = Limits()
_RATE = re.compile(r"([0-9]{1,7})/([0-9]{1,6}(?:\.[0-9]{1,3})?)s?")


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
class _Source:
    """The environment with the given flags in place of their variables."""

    values: Mapping[str, str]
    flags: Mapping[str, str]  # variable -> the flag that replaced it

    def raw(self, name: str) -> str | None:
        return self.values.get(name)

    def label(self, name: str) -> str:
        """How to name the value in an error: ``--port 70000`` or ``IM_PORT='70000'``."""
        raw = self.values[name]
        flag = self.flags.get(name)
        return f"{flag} {raw}" if flag else f"{name}={raw!r}"


def _number(source: _Source, name: str, default: float, *, low: float,
            high: float) -> float:
    raw = source.raw(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{source.label(name)} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ConfigurationError(f"{source.label(name)} must be between {low:g} and {high:g}")
    return value


def _integer(source: _Source, name: str, default: int, *, low: int, high: int) -> int:
    value = _number(source, name, default, low=low, high=high)
    if value != int(value):
        raise ConfigurationError(f"{source.label(name)} must be a whole number")
    return int(value)


def _optional_number(source: _Source, name: str, *, low: float, high: float
                     ) -> float | None:
    if not source.raw(name):
        return None
    return _number(source, name, 0.0, low=low, high=high)


def _choice(source: _Source, name: str, default: str, allowed: tuple[str, ...],
            fold: Callable[[str], str] = str) -> str:
    raw = fold(source.raw(name) or default)
    if raw not in allowed:
        raise ConfigurationError(f"{name}={raw!r} must be one of: {', '.join(allowed)}")
    return raw


def _rate(source: _Source, name: str, default: RateLimit | None) -> RateLimit | None:
    """``COUNT/SECONDS`` (``20/10s``: 20 at once, then one per half second), or ``off``."""
    raw = (source.raw(name) or "").strip()
    if not raw:
        return default
    if raw.lower() == "off":
        return None
    match = _RATE.fullmatch(raw)
    count = int(match[1]) if match else 0
    window_ms = round(float(match[2]) * 1000) if match else 0
    if count < 1 or window_ms < 1:
        raise ConfigurationError(
            f"{source.label(name)} must be COUNT/SECONDS, such as 20/10s, or off"
        )
    return RateLimit(count, window_ms)


def _networks(source: _Source, name: str, default: str) -> tuple[IpNetwork, ...]:
    raw = source.raw(name)
    raw = default if raw is None else raw
    try:
        return parse_networks(raw)
    except ValueError as error:
        raise ConfigurationError(
            f"{source.label(name)} must be addresses or networks, comma-separated: {error}"
        ) from None


def _text(source: _Source, name: str) -> str | None:
    return source.raw(name) or None


def _switch(source: _Source, name: str, default: bool) -> bool:
    raw = (source.raw(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{source.label(name)} must be 1 or 0 (on or off)")


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
        src = _Source(values, flags)
        d = cls(dev_secret_file=default_dev_secret_file(env))
        settings = cls(
            host=src.raw("IM_HOST") or d.host,
            port=_integer(src, "IM_PORT", d.port, low=0, high=65535),
            workers=_integer(src, "IM_WORKERS", d.workers, low=1, high=64),
            max_connections=_integer(src, "IM_MAX_CONNECTIONS", d.max_connections, low=1,
                                     high=1_000_000),
            pool_size=_integer(src, "IM_POOL_SIZE", d.pool_size, low=1, high=256),
            session_store_url=src.raw("IM_SESSION_STORE_URL") or d.session_store_url,
            redis_namespace=src.raw("IM_REDIS_NAMESPACE") or d.redis_namespace,
            database_url=src.raw("IM_DATABASE_URL") or d.database_url,
            database_read_url=_text(src, "IM_DATABASE_READ_URL"),
            session_ttl=_number(src, "IM_SESSION_TTL", d.session_ttl, low=1, high=86400),
            heartbeat_interval=_number(
                src, "IM_HEARTBEAT_INTERVAL", d.heartbeat_interval, low=0.1, high=3600
            ),
            max_wait=_optional_number(src, "IM_MAX_WAIT", low=0, high=86400),
            storage_timeout=_number(
                src, "IM_STORAGE_TIMEOUT", d.storage_timeout, low=0.05, high=60
            ),
            game_auth_jwt_secret=_text(src, "IM_GAME_AUTH_JWT_SECRET"),
            game_auth_jwt_public_key=_text(src, "IM_GAME_AUTH_JWT_PUBLIC_KEY"),
            game_auth_jwt_issuer=_text(src, "IM_GAME_AUTH_JWT_ISSUER"),
            game_auth_jwt_audience=_text(src, "IM_GAME_AUTH_JWT_AUDIENCE"),
            game_auth_url=_text(src, "IM_GAME_AUTH_URL"),
            game_auth_timeout=_number(
                src, "IM_GAME_AUTH_TIMEOUT", d.game_auth_timeout, low=0.05, high=60
            ),
            max_logins_in_flight=_integer(src, "IM_MAX_LOGINS_IN_FLIGHT",
                                          d.max_logins_in_flight, low=1, high=100_000),
            dev_secret_file=src.raw("IM_DEV_SECRET_FILE") or d.dev_secret_file,
            demo_ui=_switch(src, "IM_DEMO_UI", d.demo_ui),
            log_level=_choice(src, "IM_LOG_LEVEL", d.log_level, LOG_LEVELS,
                              fold=str.upper),
            log_format=_choice(src, "IM_LOG_FORMAT", d.log_format, LOG_FORMATS,
                               fold=str.lower),
            access_log=_switch(src, "IM_ACCESS_LOG", d.access_log),
            rate_sends=_rate(src, "IM_RATE_SENDS", d.rate_sends),
            rate_logins=_rate(src, "IM_RATE_LOGINS", d.rate_logins),
            rate_logins_per_address=_rate(src, "IM_RATE_LOGINS_PER_ADDRESS",
                                          d.rate_logins_per_address),
            max_contacts=_integer(src, "IM_MAX_CONTACTS", d.max_contacts, low=1,
                                  high=100_000),
            max_blocks=_integer(src, "IM_MAX_BLOCKS", d.max_blocks, low=1, high=100_000),
            group_max_members=_integer(src, "IM_GROUP_MAX_MEMBERS", d.group_max_members,
                                       low=2, high=GROUP_MEMBERS_CAP),
            presence_scope="contacts" if _choice(
                src, "IM_PRESENCE_SCOPE", d.presence_scope, ("all", "contacts")
            ) == "contacts" else "all",
            trusted_proxies=_networks(src, "IM_TRUSTED_PROXIES", DEFAULT_TRUSTED_PROXIES),
            max_sessions_per_uid=_integer(src, "IM_MAX_SESSIONS_PER_UID",
                                          d.max_sessions_per_uid, low=1, high=1000),
            game_token_max_age=_number(src, "IM_GAME_TOKEN_MAX_AGE", d.game_token_max_age,
                                       low=1, high=30 * 86400),
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
