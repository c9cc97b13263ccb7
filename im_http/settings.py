"""Configuration: one frozen object, read from the environment here and nowhere else.

Command-line flags override the environment, which overrides the defaults. A bad
value raises ``ConfigurationError`` with one line saying which setting and why;
``im-server`` prints that line and exits instead of showing a traceback.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import attrs

from im_adapters import ConfigurationError

__all__ = ["DEFAULT_DATABASE_URL", "Settings"]

DEFAULT_DATABASE_URL = "sqlite:///im.sqlite3"


def _number(environ: Mapping[str, str], name: str, default: float, *, low: float,
            high: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ConfigurationError(f"{name}={raw!r} must be between {low:g} and {high:g}")
    return value


def _integer(environ: Mapping[str, str], name: str, default: int, *, low: int,
             high: int) -> int:
    value = _number(environ, name, default, low=low, high=high)
    if value != int(value):
        raise ConfigurationError(f"{name}={environ[name]!r} must be a whole number")
    return int(value)


def _choice(environ: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = environ.get(name) or default
    if raw not in allowed:
        raise ConfigurationError(f"{name}={raw!r} must be one of: {', '.join(allowed)}")
    return raw


def _text(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(name) or None


@attrs.frozen
class Settings:
    """Everything ``im-server`` can be told; see the README's configuration table.

    Durations are in seconds. ``game_auth_jwt_secret`` and friends choose the
    game-login verifier: an URL wins over a public key, which wins over a secret;
    with none of them, ``serve`` makes a development secret (and says so).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 8
    session_store_url: str = "memory://"
    database_url: str = DEFAULT_DATABASE_URL
    session_ttl: float = 10.0
    heartbeat_interval: float = 2.0
    storage_timeout: float = 2.0
    sql_executor: str = "direct"
    game_auth_jwt_secret: str | None = attrs.field(default=None, repr=False)
    game_auth_jwt_public_key: str | None = None
    game_auth_jwt_issuer: str | None = None
    game_auth_jwt_audience: str | None = None
    game_auth_url: str | None = None
    game_auth_timeout: float = 2.0
    dev_secret_file: str = ".im-dev-secret"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``IM_*`` variables, then apply ``overrides`` (the command-line flags).

        Raises:
            ConfigurationError: a value is malformed or out of range.
        """
        env = os.environ if environ is None else environ
        d = cls()
        values: dict[str, Any] = {
            "host": env.get("IM_HOST") or d.host,
            "port": _integer(env, "IM_PORT", d.port, low=0, high=65535),
            "threads": _integer(env, "IM_THREADS", d.threads, low=1, high=256),
            "session_store_url": env.get("IM_SESSION_STORE_URL") or d.session_store_url,
            "database_url": env.get("IM_DATABASE_URL") or d.database_url,
            "session_ttl": _number(env, "IM_SESSION_TTL", d.session_ttl, low=1, high=86400),
            "heartbeat_interval": _number(
                env, "IM_HEARTBEAT_INTERVAL", d.heartbeat_interval, low=0.1, high=3600
            ),
            "storage_timeout": _number(
                env, "IM_STORAGE_TIMEOUT", d.storage_timeout, low=0.05, high=60
            ),
            "sql_executor": _choice(
                env, "IM_SQL_EXECUTOR", d.sql_executor, ("direct", "sqlalchemy")
            ),
            "game_auth_jwt_secret": _text(env, "IM_GAME_AUTH_JWT_SECRET"),
            "game_auth_jwt_public_key": _text(env, "IM_GAME_AUTH_JWT_PUBLIC_KEY"),
            "game_auth_jwt_issuer": _text(env, "IM_GAME_AUTH_JWT_ISSUER"),
            "game_auth_jwt_audience": _text(env, "IM_GAME_AUTH_JWT_AUDIENCE"),
            "game_auth_url": _text(env, "IM_GAME_AUTH_URL"),
            "game_auth_timeout": _number(
                env, "IM_GAME_AUTH_TIMEOUT", d.game_auth_timeout, low=0.05, high=60
            ),
            "dev_secret_file": env.get("IM_DEV_SECRET_FILE") or d.dev_secret_file,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        if settings.heartbeat_interval >= settings.session_ttl:
            raise ConfigurationError(
                "IM_HEARTBEAT_INTERVAL must be shorter than IM_SESSION_TTL, "
                "or every session expires between two heartbeats"
            )
        return settings
