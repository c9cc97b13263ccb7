"""The one place where domain errors become HTTP statuses.

Every error leaves the server as JSON ``{"title", "description", "code"}`` with a
stable machine-readable ``code``; never an HTML page, never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

import falcon

from im_core import (
    AuthUnavailable,
    Blocked,
    ClientMsgIdReused,
    GroupFull,
    InvalidCredentials,
    InvalidInput,
    MessageTooLong,
    NotAllowed,
    NotAMember,
    RateLimited,
    SessionExpired,
    SessionReplaced,
    StorageUnavailable,
    TooManyBlocks,
    TooManyContacts,
    UnknownGroup,
    UnknownUser,
)

__all__ = ["ApiError", "install_error_handling"]

log = logging.getLogger("im_http")

_CODES = {
    400: "invalid_request",
    401: "session_expired",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "storage_unavailable",
}


class ApiError(falcon.HTTPError):
    """An HTTP error with the API's stable ``code``."""

    def __init__(self, status: int, code: str, title: str, description: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, title=title, description=description, headers=headers)
        self.api_code = code


# (status, code, title, extra headers) for each domain error; the most specific
# class wins, as Falcon picks the handler by the exception's MRO.
_MAPPING: dict[type[Exception], tuple[int, str, str, dict[str, str] | None]] = {
    InvalidInput: (400, "invalid_request", "Invalid request", None),
    MessageTooLong: (413, "payload_too_large", "Message too long", None),
    InvalidCredentials: (401, "invalid_credentials", "Invalid credentials", None),
    SessionExpired: (401, "session_expired", "Session expired",
                     {"WWW-Authenticate": "Bearer"}),
    SessionReplaced: (401, "session_replaced", "Session replaced",
                      {"WWW-Authenticate": "Bearer"}),
    UnknownUser: (404, "unknown_user", "Unknown user", None),
    ClientMsgIdReused: (409, "client_msg_id_reused", "client_msg_id reused", None),
    Blocked: (403, "blocked", "Blocked by the recipient", None),
    TooManyContacts: (409, "too_many_contacts", "Too many contacts", None),
    TooManyBlocks: (409, "too_many_blocks", "Too many blocks", None),
    UnknownGroup: (404, "unknown_group", "Unknown group", None),
    NotAMember: (403, "not_a_member", "Not a member", None),
    NotAllowed: (403, "not_allowed", "Not allowed by your role", None),
    GroupFull: (409, "group_full", "Group full", None),
    # Retry-After: the error's own wait (added in _domain_handler).
    RateLimited: (429, "rate_limited", "Too many requests", None),
    AuthUnavailable: (503, "auth_unavailable", "Game login unavailable",
                      {"Retry-After": "1"}),
    StorageUnavailable: (503, "storage_unavailable", "Storage unavailable",
                         {"Retry-After": "1"}),
}


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
            status, code, title, headers = _MAPPING[cls]
            break
    else:  # pragma: no cover - only mapped classes are registered
        raise error
    if isinstance(error, RateLimited):
        headers = {"Retry-After": str(error.retry_after_s)}
    if status == 503:
        log.warning("%s %s: %s: %s", req.method, req.path, type(error).__name__, error)
    raise ApiError(status, code, title, _description(error), headers) from error


def _unexpected(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
) -> None:
    if isinstance(error, falcon.HTTPError):
        raise error
    log.exception("unhandled error in %s %s", req.method, req.path)
    raise ApiError(500, "internal_error", "Internal server error",
                   "the server failed; the request may not have been applied")


def _serialize(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    status = error.status_code
    code = getattr(error, "api_code", None) or _CODES.get(status, "error")
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
    resp.media = {"title": title, "description": description, "code": code}


def install_error_handling(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    """Map every domain error, and anything unexpected, to a JSON error response."""
    app.add_error_handler(Exception, _unexpected)
    for cls in _MAPPING:
        app.add_error_handler(cls, _domain_handler)
    app.set_error_serializer(_serialize)
