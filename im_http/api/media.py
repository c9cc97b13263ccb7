"""JSON in and out: the bounded body reader, query integers, orjson, a message's form.

Shared by every resource and by the benchmark's bare app, so that the yardstick does
the same JSON work as the server.
"""

from __future__ import annotations

import re
from typing import Any

import falcon
import falcon.media
import orjson

from im_core import Message
from im_http.api.errors import ApiError

__all__ = [
    "MAX_REQUEST_BYTES",
    "bad_request",
    "install_orjson",
    "int_param",
    "list_page",
    "message_json",
    "read_json",
]

MAX_REQUEST_BYTES = 64 * 1024
_DIGITS = re.compile(r"[0-9]{1,19}")


def message_json(message: Message) -> dict[str, Any]:
    """The API's JSON form of a message: ``to`` names the recipient of a private
    message, ``group`` the group of a group message; the other is ``null``."""
    return {
        "msgid": message.msgid,
        "from": message.sender,
        "to": message.recipient,
        "group": message.group,
        "body": message.body,
        "sent_at": message.sent_at,
        "client_msg_id": message.client_msg_id,
    }


def bad_request(description: str) -> ApiError:
    return ApiError(400, "invalid_request", "Invalid request", description)


def read_json(req: falcon.Request) -> dict[str, Any]:
    """Read the request body as a JSON object, within the size limit.

    An empty body is ``{}``, so ``POST /v1/heartbeat`` needs no body at all.
    """
    if req.content_length is not None and req.content_length > MAX_REQUEST_BYTES:
        raise ApiError(413, "payload_too_large", "Request too large",
                       f"the request body may be at most {MAX_REQUEST_BYTES} bytes")
    raw = req.bounded_stream.read(MAX_REQUEST_BYTES + 1)
    if len(raw) > MAX_REQUEST_BYTES:
        raise ApiError(413, "payload_too_large", "Request too large",
                       f"the request body may be at most {MAX_REQUEST_BYTES} bytes")
    if not raw:
        return {}
    media_type = (req.content_type or "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Unsupported media type",
                       "the request body must be application/json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def int_param(req: falcon.Request, name: str) -> int | None:
    raw = req.get_param(name)
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw):
        raise bad_request(f"{name} must be a non-negative integer")
    return int(raw)


def list_page(req: falcon.Request) -> dict[str, Any]:
    """``after`` and ``limit`` of a list's page; absent ones leave the core's defaults."""
    given: dict[str, Any] = {}
    after = req.get_param("after")
    if after is not None:
        given["after"] = after
    limit = int_param(req, "limit")
    if limit is not None:
        given["limit"] = limit
    return given


def install_orjson(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    """Make ``app`` read and write JSON media with orjson.

    orjson: several times faster than the json module on the hot path (measured with
    the benchmark's profile), and strict: it refuses lone surrogates. The benchmark's
    bare app calls this too, so that its yardstick does the same JSON work.
    """
    handler = falcon.media.JSONHandler(dumps=orjson.dumps, loads=orjson.loads)
    app.req_options.media_handlers[falcon.MEDIA_JSON] = handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = handler
