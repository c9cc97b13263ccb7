"""Reading one setting from the environment: numbers, choices, rates, keys, durations.

Only ``im_http.serving.settings`` calls these; each raises ``ConfigurationError`` with
one line naming the setting (never its value when the value is a secret).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

import attrs

from im_core.errors import ConfigurationError
from im_core.limits import RateLimit
from im_http.api.client_address import IpNetwork, parse_networks

__all__ = [
    "API_KEY_MIN_CHARS",
    "IpNetwork",
    "Source",
    "api_keys",
    "choice",
    "duration",
    "integer",
    "networks",
    "number",
    "optional_number",
    "rate",
    "switch",
    "text",
]

_RATE = re.compile(r"([0-9]{1,7})/([0-9]{1,6}(?:\.[0-9]{1,3})?)s?")

@attrs.frozen
class Source:
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


def number(source: Source, name: str, default: float, *, low: float,
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


def integer(source: Source, name: str, default: int, *, low: int, high: int) -> int:
    value = number(source, name, default, low=low, high=high)
    if value != int(value):
        raise ConfigurationError(f"{source.label(name)} must be a whole number")
    return int(value)


def optional_number(source: Source, name: str, *, low: float, high: float
                     ) -> float | None:
    if not source.raw(name):
        return None
    return number(source, name, 0.0, low=low, high=high)


def choice(source: Source, name: str, default: str, allowed: tuple[str, ...],
            fold: Callable[[str], str] = str) -> str:
    raw = fold(source.raw(name) or default)
    if raw not in allowed:
        raise ConfigurationError(f"{name}={raw!r} must be one of: {', '.join(allowed)}")
    return raw


def rate(source: Source, name: str, default: RateLimit | None) -> RateLimit | None:
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


def networks(source: Source, name: str, default: str) -> tuple[IpNetwork, ...]:
    raw = source.raw(name)
    raw = default if raw is None else raw
    try:
        return parse_networks(raw)
    except ValueError as error:
        raise ConfigurationError(
            f"{source.label(name)} must be addresses or networks, comma-separated: {error}"
        ) from None


def text(source: Source, name: str) -> str | None:
    return source.raw(name) or None


def switch(source: Source, name: str, default: bool) -> bool:
    raw = (source.raw(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{source.label(name)} must be 1 or 0 (on or off)")


API_KEY_MIN_CHARS = 32
_KEY = re.compile(r"[\x21-\x7e]+")
_DURATION = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,3})?)\s*([smhd]?)")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def api_keys(source: Source, name: str) -> tuple[str, ...]:
    """Comma-separated keys, each at least ``API_KEY_MIN_CHARS`` printable characters.

    The error names the key by its position, never by its value.
    """
    raw = source.raw(name) or ""
    keys = tuple(part.strip() for part in raw.split(",") if part.strip())
    for position, key in enumerate(keys, 1):
        if len(key) < API_KEY_MIN_CHARS or not _KEY.fullmatch(key):
            raise ConfigurationError(
                f"{name}: key {position} of {len(keys)} must be at least "
                f"{API_KEY_MIN_CHARS} printable characters without spaces "
                "(make one with: openssl rand -hex 32)")
    return tuple(dict.fromkeys(keys))


def duration(source: Source, name: str, default: float | None, *,
             low: float) -> float | None:
    """Seconds, or a number with ``s``, ``m``, ``h`` or ``d`` (``30d``); ``off``: none."""
    raw = (source.raw(name) or "").strip().lower()
    if not raw:
        return default
    if raw == "off":
        return None
    match = _DURATION.fullmatch(raw)
    seconds = float(match[1]) * _UNIT_S[match[2]] if match else -1.0
    if seconds < low:
        raise ConfigurationError(
            f"{source.label(name)} must be a duration of at least {low:g} s, such as "
            "90s, 12h or 30d, or off")
    return seconds
