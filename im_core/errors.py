"""Errors the use cases raise that belong to no single port.

Each port keeps its own errors beside it (``im_core.ports``); the shared bases live
here so that callers can catch "any storage is down" without knowing which port said it.
None of these know about HTTP: ``im_http`` maps them to statuses in one place.
"""

from __future__ import annotations

__all__ = [
    "Banned",
    "ClientMsgIdReused",
    "ConfigurationError",
    "ContentRejected",
    "InvalidInput",
    "MessageTooLong",
    "Muted",
    "RateLimited",
    "SessionExpired",
    "StorageUnavailable",
]


class ConfigurationError(ValueError):
    """A setting cannot work: a malformed URL, a missing driver, an unreadable key.

    It lives in the core so that both the settings (``im_http``) and the adapters can
    raise it without one depending on the other. The message is one line a human can
    act on (for a missing driver: the pip command that installs it); ``im-server``
    prints it and exits.
    """


class InvalidInput(ValueError):
    """A value from the caller breaks a rule of the domain; nothing was changed.

    Attributes:
        field: the name of the offending field, as the API spells it.
        reason: what the field must be, for a human reading the error.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason


class MessageTooLong(InvalidInput):
    """A message body is longer than the server stores."""

    def __init__(self, reason: str) -> None:
        super().__init__("body", reason)


class SessionExpired(PermissionError):
    """The caller has no live session: never logged in, logged out or timed out.

    The client's answer is always the same: log in again.
    """


class StorageUnavailable(ConnectionError):
    """A store the server depends on did not answer in time, or refused to work.

    The request changed nothing that was acknowledged; the client may retry.
    """


class ClientMsgIdReused(ValueError):
    """A ``client_msg_id`` the sender already used came with another recipient or body.

    The same id with the same recipient and body is a retry and answers the stored
    message; anything else would lose the second message without a word, so it is
    refused and nothing is stored.

    Attributes:
        client_msg_id: the id that was reused.
        msgid: the message stored under it the first time.
    """

    def __init__(self, client_msg_id: str, msgid: int) -> None:
        super().__init__(
            f"client_msg_id {client_msg_id!r} was already used for message {msgid}"
            " with another recipient or body; use a fresh id for a new message"
        )
        self.client_msg_id = client_msg_id
        self.msgid = msgid


class RateLimited(Exception):
    """The caller (a player or an address) acted more often than its limit allows.

    Nothing was done; the same call succeeds after ``retry_after_s`` seconds.

    Attributes:
        what: the limit that refused ("sends", "logins", "logins from one address").
        retry_after_s: whole seconds to wait, at least 1.
    """

    def __init__(self, what: str, retry_after_ms: int) -> None:
        self.what = what
        self.retry_after_s = max(1, -(-retry_after_ms // 1000))
        super().__init__(f"too many {what}; retry in {self.retry_after_s} s")


class Muted(PermissionError):
    """The sender is muted where it tried to speak; nothing was stored.

    Attributes:
        scope: where the mute holds (``global``, ``group:<id>``, ``channel:<name>``).
        until: when it ends (ms since the epoch), or ``None`` until it is lifted.
        reason: what the game's moderators said, for the player.
    """

    def __init__(self, scope: str, until: int | None, reason: str) -> None:
        when = "until it is lifted" if until is None else f"until {until}"
        super().__init__(f"you are muted ({scope}) {when}")
        self.scope = scope
        self.until = until
        self.reason = reason


class Banned(PermissionError):
    """The player is banned: it may not log in (``until``, ``reason`` as for ``Muted``)."""

    def __init__(self, until: int | None, reason: str) -> None:
        when = "until it is lifted" if until is None else f"until {until}"
        super().__init__(f"you are banned {when}")
        self.until = until
        self.reason = reason


class ContentRejected(PermissionError):
    """The message filter refused the body; nothing was stored.

    Attributes:
        reason: why, in words fit for the sender (never the body itself).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
