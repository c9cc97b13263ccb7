"""``im-server check-config``: the configuration in effect, and whether each backend answers.

For the operator who wonders why ``serve`` will not start, or which database it
would use: every setting with its value and where it came from, secrets masked
(URL passwords, the JWT secret), then one line per backend, each tried the way
``serve`` would, within ``IM_STORAGE_TIMEOUT``. Nothing is created or migrated:
the embedded SQLite file and the development secret are only looked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import attrs

from im_adapters.urls import redacted
from im_core.errors import ConfigurationError, StorageUnavailable
from im_http.serving.bootstrap import driver_reason
from im_http.serving.settings import DEFAULT_DATABASE_URL, Settings, variable_of

__all__ = ["BackendCheck", "check_backends", "effective_configuration", "masked_url"]

_SECRETS = frozenset({"game_auth_jwt_secret"})
_URLS = frozenset({"session_store_url", "database_url", "game_auth_url"})
masked_url = redacted
"""``url`` with the password hidden, in the user part and the query string
(``im_adapters.urls.redacted``: the one rule)."""


def effective_configuration(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> list[tuple[str, str, str]]:
    """Each setting as ``(variable, value shown, origin)``; origin: environment or default."""
    env = os.environ if environ is None else environ
    rows = []
    for field in attrs.fields(Settings):
        value = getattr(settings, field.name)
        if field.name in _SECRETS:
            shown = "*** (set)" if value else "(not set)"
        elif field.name in _URLS and value:
            shown = masked_url(str(value))
        elif value is None:
            shown = "(not set)"
        else:
            shown = str(value)
        variable = variable_of(field.name)
        rows.append((variable, shown, "environment" if env.get(variable) else "default"))
    return rows


@attrs.frozen
class BackendCheck:
    """One backend: its name, whether it answered, and what was found."""

    name: str
    ok: bool
    detail: str


def _attempt(name: str, url: str, check: Callable[[], str]) -> BackendCheck:
    try:
        return BackendCheck(name, True, check())
    except (StorageUnavailable, ConnectionError) as error:
        return BackendCheck(name, False, f"{masked_url(url)} does not answer: "
                                         f"{driver_reason(error, url)}")
    except ConfigurationError as error:
        return BackendCheck(name, False, str(error).strip().splitlines()[0])


def _close(port: object) -> None:
    closer = getattr(port, "close", None)
    if callable(closer):
        closer()


def _check_sessions(settings: Settings) -> str:
    from im_http.serving.bootstrap import _build_sessions

    sessions = _build_sessions(settings)
    try:
        sessions.ping()
    finally:
        _close(sessions)
    return f"{masked_url(settings.session_store_url)} answers"


def _check_signals(settings: Settings) -> str:
    from im_http.serving.bootstrap import _build_signals

    signals = _build_signals(settings)
    try:
        signals.ping()
    finally:
        _close(signals)
    where = "in this process" if settings.session_store_url == "memory://" else "over pub/sub"
    return f"{masked_url(settings.session_store_url)} answers ({where})"


def _check_database(settings: Settings) -> str:
    url = settings.database_url
    if url == "memory://":
        return "memory:// (in the process; nothing to reach)"
    if url == DEFAULT_DATABASE_URL and not os.path.exists(url.removeprefix("sqlite:///")):
        return (f"{url} does not exist yet: `im-server serve` creates and migrates it "
                f"in {os.getcwd()}")
    from im_adapters.sql import SqlMailbox, ensure_schema_current
    from im_adapters.sql.schema import SchemaOutOfDate

    mailbox = SqlMailbox.from_url(url, pool_size=1, timeout=settings.storage_timeout)
    try:
        mailbox.ping()
        try:
            ensure_schema_current(mailbox.engine)
        except SchemaOutOfDate as error:
            if url != DEFAULT_DATABASE_URL:
                raise ConfigurationError(f"{masked_url(url)} answers, but {error}") from error
            return f"{url} answers; serve migrates this embedded file itself"
    finally:
        mailbox.close()
    return f"{masked_url(url)} answers, at the latest schema"


def _check_game_login(settings: Settings) -> str:
    from im_http.serving.bootstrap import build_game_auth

    if not (settings.game_auth_url or settings.game_auth_jwt_public_key
            or settings.game_auth_jwt_secret):
        kept = ("exists" if os.path.exists(settings.dev_secret_file)
                else "will be created by serve or token")
        return (f"NO GAME LOGIN IS CONFIGURED: the development secret in "
                f"{settings.dev_secret_file} ({kept}); for a trial only")
    auth, _ = build_game_auth(settings)
    try:
        auth.ping()
    finally:
        _close(auth)
    if settings.game_auth_url:
        return f"the login service at {masked_url(settings.game_auth_url)} answers"
    if settings.game_auth_jwt_public_key:
        return f"JWT public key {settings.game_auth_jwt_public_key} (read)"
    return "JWT shared secret (set)"


def check_backends(settings: Settings) -> list[BackendCheck]:
    """Try each backend once, as ``serve`` would, and say what answered."""
    return [
        _attempt("session store", settings.session_store_url,
                 lambda: _check_sessions(settings)),
        _attempt("signals", settings.session_store_url, lambda: _check_signals(settings)),
        _attempt("database", settings.database_url, lambda: _check_database(settings)),
        _attempt("game login", settings.game_auth_url or "",
                 lambda: _check_game_login(settings)),
    ]
