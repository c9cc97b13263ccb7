"""The mute port: who may not speak, where, until when, and why.

A mute is kept durably (a game's moderators mute a player for a day, and the mute
must survive a restart) beside the mailbox, in the same database.
"""

from __future__ import annotations

import re
from typing import Protocol

import attrs

from im_core.errors import InvalidInput, StorageUnavailable

__all__ = [
    "BAN_SCOPE",
    "GLOBAL_SCOPE",
    "REASON_MAX_CHARS",
    "Mute",
    "MuteStore",
    "MuteStoreUnavailable",
    "check_scope",
]

GLOBAL_SCOPE = "global"
"""A mute that holds everywhere: point-to-point messages, every group and channel."""

BAN_SCOPE = "login"
"""A ban: the player may not log in at all (its live sessions are ended too)."""

REASON_MAX_CHARS = 500

_SCOPE = re.compile(r"(?:global|login|group:[A-Za-z0-9_.:@-]{1,64}|channel:[A-Za-z0-9_.:@-]{1,64})")


def check_scope(value: object) -> str:
    """Return ``value`` if it names a scope: ``global``, ``login``, ``group:<id>``,
    ``channel:<name>``.

    Scopes are plain values so that groups and channels (which live elsewhere) need
    nothing from this port but their own name: a send to group ``g7`` asks whether
    the sender is muted in ``global`` or ``group:g7``.
    """
    if isinstance(value, str) and _SCOPE.fullmatch(value):
        return value
    raise InvalidInput(
        "scope", "must be global, login, group:<id> or channel:<name> (ids as uids)"
    )


class MuteStoreUnavailable(StorageUnavailable):
    """The database behind the mutes did not answer in time."""


@attrs.frozen
class Mute:
    """``uid`` may not speak in ``scope`` until ``until`` (ms since the epoch; ``None``:
    until lifted); ``reason`` is what the player is told."""

    uid: str
    scope: str
    until: int | None
    reason: str
    created_at: int


class MuteStore(Protocol):
    """Keeps mutes and bans durably.

    Contract (times are milliseconds since the epoch):
        - ``put(mute)`` stores ``mute``, replacing any mute of the same uid and scope
          (muting again changes the end time and the reason).
        - ``remove(uid, scope)`` lifts that mute and returns whether one was there
          (live or lapsed); removing an absent one is not an error.
        - ``active(uid, scopes, now_ms)`` returns, among the mutes of ``uid`` in any of
          ``scopes`` that have not ended by ``now_ms`` (``until`` is ``None`` or later
          than ``now_ms``), the one that ends last (``None`` first), or ``None``. One
          indexed read: it runs on every send.
        - ``list(uid, now_ms)`` returns every live mute of ``uid``, sorted by scope.
        - ``purge(now_ms, batch)`` deletes up to ``batch`` lapsed mutes and returns
          how many it deleted.
        - Every method raises ``MuteStoreUnavailable`` when the store cannot answer,
          changing nothing.
    """

    def put(self, mute: Mute) -> None: ...

    def remove(self, uid: str, scope: str) -> bool: ...

    def active(self, uid: str, scopes: tuple[str, ...], now_ms: int) -> Mute | None: ...

    def list(self, uid: str, now_ms: int) -> list[Mute]: ...

    def purge(self, now_ms: int, batch: int) -> int: ...
