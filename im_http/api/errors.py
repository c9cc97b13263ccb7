"""The one place where domain errors become HTTP statuses.

Every error leaves the server as JSON ``{"title", "description", "code"}`` with a
stable machine-readable ``code``; never an HTML page, never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import falcon

from im_core import (
    AuthUnavailable,
    Banned,
    Blocked,
    ClientMsgIdReused,
    ContentRejected,
    GroupFull,
    InvalidCredentials,
    InvalidInput,
    MessageTooLong,
    ModerationUnavailable,
    Muted,
    NotAllowed,
    NotAMember,
    RateLimited,
    SessionEnded,
    SessionExpired,
    SessionReplaced,
    StorageUnavailable,
    TooManyBlocks,
    TooManyContacts,
    UnknownGroup,
    UnknownUser,
)

__all__ = ["ERROR_CODES", "ApiError", "ErrorCode", "install_error_handling"]

log = logging.getLogger("im_http")

@attrs.frozen
class ErrorCode:
    """One ``code`` of the API: its status and title (the case is in docs/api.md)."""

    code: str
    status: int
    title: str


ERROR_CODES: tuple[ErrorCode, ...] = (
    ErrorCode("invalid_request", 400, "Invalid request"),
    ErrorCode("payload_too_large", 413, "Message too long"),
    ErrorCode("unsupported_media_type", 415, "Unsupported media type"),
    ErrorCode("invalid_credentials", 401, "Invalid credentials"),
    ErrorCode("session_expired", 401, "Session expired"),
    ErrorCode("session_replaced", 401, "Session replaced"),
    ErrorCode("session_ended", 401, "Session ended by the game"),
    ErrorCode("invalid_api_key", 401, "Invalid API key"),
    ErrorCode("muted", 403, "Muted"),
    ErrorCode("banned", 403, "Banned"),
    ErrorCode("rejected_content", 403, "Message rejected"),
    ErrorCode("unknown_user", 404, "Unknown user"),
    ErrorCode("client_msg_id_reused", 409, "client_msg_id reused"),
    ErrorCode("blocked", 403, "Blocked by the recipient"),
    ErrorCode("too_many_contacts", 409, "Too many contacts"),
    ErrorCode("too_many_blocks", 409, "Too many blocks"),
    ErrorCode("unknown_group", 404, "Unknown group"),
    ErrorCode("not_a_member", 403, "Not a member"),
    ErrorCode("not_allowed", 403, "Not allowed by your role"),
    ErrorCode("group_full", 409, "Group full"),
    ErrorCode("rate_limited", 429, "Too many requests"),
    ErrorCode("not_found", 404, "Not found"),
    ErrorCode("method_not_allowed", 405, "Method not allowed"),
    ErrorCode("auth_unavailable", 503, "Game login unavailable"),
    ErrorCode("storage_unavailable", 503, "Storage unavailable"),
    ErrorCode("moderation_unavailable", 503, "Moderation unavailable"),
    ErrorCode("internal_error", 500, "Internal server error"),
)
"""Every error ``code`` the API answers: the one table. The OpenAPI document's enum is
made from it; docs/api.md's table and both SDKs' errors (Python and TypeScript) are
checked against it by ``tests/unit/test_error_codes.py``."""

_BY_CODE = {error.code: error for error in ERROR_CODES}

# The code of an HTTP error Falcon raises by itself (no domain error behind it).
_CODES = {status: _BY_CODE[code] for status, code in {
    400: "invalid_request",
    401: "session_expired",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "storage_unavailable",
}.items()}


class ApiError(falcon.HTTPError):
    """An HTTP error with the API's stable ``code``."""

    def __init__(self, status: int, code: str, title: str, description: str,
                 headers: dict[str, str] | None = None,
                 fields: dict[str, object] | None = None) -> None:
        super().__init__(status, title=title, description=description, headers=headers)
        self.api_code = code
        self.fields = fields or {}  # more of the error, beside title/description/code

    @classmethod
    def of(cls, code: str, description: str,
           headers: dict[str, str] | None = None) -> ApiError:
        """The error ``code`` of ``ERROR_CODES``, with its status and title."""
        known = _BY_CODE[code]
        return cls(known.status, known.code, known.title, description, headers)


_AUTHENTICATE = {"WWW-Authenticate": "Bearer"}
_RETRY_SOON = {"Retry-After": "1"}

# The code (and extra headers) of each domain error; the most specific class wins,
# as Falcon picks the handler by the exception's MRO.
_MAPPING: dict[type[Exception], tuple[ErrorCode, dict[str, str] | None]] = {
    cls: (_BY_CODE[code], headers) for cls, code, headers in (
        (InvalidInput, "invalid_request", None),
        (MessageTooLong, "payload_too_large", None),
        (InvalidCredentials, "invalid_credentials", None),
        (SessionExpired, "session_expired", _AUTHENTICATE),
        (SessionReplaced, "session_replaced", _AUTHENTICATE),
        (SessionEnded, "session_ended", _AUTHENTICATE),
        (Muted, "muted", None),
        (Banned, "banned", None),
        (ContentRejected, "rejected_content", None),
        (UnknownUser, "unknown_user", None),
        (ClientMsgIdReused, "client_msg_id_reused", None),
        (Blocked, "blocked", None),
        (TooManyContacts, "too_many_contacts", None),
        (TooManyBlocks, "too_many_blocks", None),
        (UnknownGroup, "unknown_group", None),
        (NotAMember, "not_a_member", None),
        (NotAllowed, "not_allowed", None),
        (GroupFull, "group_full", None),
        # Retry-After: the error's own wait (added in _domain_handler).
        (RateLimited, "rate_limited", None),
        (AuthUnavailable, "auth_unavailable", _RETRY_SOON),
        (StorageUnavailable, "storage_unavailable", _RETRY_SOON),
        (ModerationUnavailable, "moderation_unavailable", _RETRY_SOON),
    )
}


def _fields(error: Exception) -> dict[str, object]:
    """What a client needs beyond the code: when a mute ends, and why."""
    if isinstance(error, Muted):
        return {"scope": error.scope, "until": error.until, "reason": error.reason}
    if isinstance(error, Banned):
        return {"until": error.until, "reason": error.reason}
    return {}


def _description(error: Exception) -> str:
    if isinstance(error, UnknownUser):
        return f"user {error.uid!r} has never logged in"
    if isinstance(error, StorageUnavailable | AuthUnavailable):
        # The driver's words may name hosts or statements; the log keeps them.
        return "a service this server depends on did not answer; retry shortly"
    return str(error) or type(error).__name__


def _domain_handler(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
) -> None:
    for cls in type(error).__mro__:
        if cls in _MAPPING:
            found, headers = _MAPPING[cls]
            break
    else:  # pragma: no cover - only mapped classes are registered
        raise error
    if isinstance(error, RateLimited):
        headers = {"Retry-After": str(error.retry_after_s)}
    if found.status == 503:
        log.warning("%s %s: %s: %s", req.method, req.path, type(error).__name__, error)
    raise ApiError(found.status, found.code, found.title, _description(error),
                   headers, _fields(error)) from error


def _unexpected(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
) -> None:
    if isinstance(error, falcon.HTTPError):
        raise error
    log.exception("unhandled error in %s %s", req.method, req.path)
    internal = _BY_CODE["internal_error"]
    raise ApiError(internal.status, internal.code, internal.title,
                   "the server failed; the request may not have been applied")


def _serialize(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    status = error.status_code
    known = _CODES.get(status)
    code = getattr(error, "api_code", None) or (known.code if known else "error")
    title = error.title or "Error"
    description = error.description
    if not description:
        if status == 404:
            description = f"no resource at {req.path}"
        elif status == 405:
            description = f"{req.method} is not allowed on {req.path}"
        else:
            description = title
    resp.content_type = falcon.MEDIA_JSON
    resp.media = {**getattr(error, "fields", {}),
                  "title": title, "description": description, "code": code}


def install_error_handling(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    """Map every domain error, and anything unexpected, to a JSON error response."""
    app.add_error_handler(Exception, _unexpected)
    for cls in _MAPPING:
        app.add_error_handler(cls, _domain_handler)
    app.set_error_serializer(_serialize)
