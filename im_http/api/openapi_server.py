"""The server API's part of the OpenAPI document (``/v1/server/...``, by API key)."""

from __future__ import annotations

from typing import Any

from im_core.models import BODY_MAX_CHARS
from im_core.ports.mutes import REASON_MAX_CHARS
from im_core.server_ops import SYSTEM_RECIPIENTS_MAX
from im_http.api.errors import ERROR_CODES

__all__ = ["error_schema", "server_paths", "server_schemas"]

_UID = {"type": "string", "pattern": r"^[A-Za-z0-9_.:@-]{1,64}$"}
_NAME = r"[A-Za-z0-9_.:@-]{1,64}"
_SCOPE = {"type": "string", "pattern": rf"^(global|login|group:{_NAME}|channel:{_NAME})$"}
_KEY: list[dict[str, list[str]]] = [{"serverKey": []}]
_UNTIL = {"type": ["integer", "null"], "description": "ms since the epoch; null: until lifted"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {
        400: "Invalid request (`invalid_request`); nothing was changed.",
        401: "`invalid_api_key`: no key, a wrong key, or a player's session token.",
        409: "`client_msg_id_reused`: the id was used before with another body.",
        413: "`payload_too_large`: body over 4096 characters or request over 64 KiB.",
        415: "`unsupported_media_type`: the body is not application/json.",
        503: "`storage_unavailable`: retry shortly (a system message: with the same "
             "`client_msg_id`, which stores only what is missing).",
    }
    return {str(s): _json(_ref("Error"), words[s]) for s in statuses}


def _player(verb: str) -> dict[str, Any]:
    return {"name": "uid", "in": "path", "required": True, "schema": _UID, "example": "bob",
            "description": f"the player to {verb}"}


_SCOPE_PATH = {"name": "scope", "in": "path", "required": True, "schema": _SCOPE,
               "example": "global",
               "description": "`global`, `group:<id>`, `channel:<name>`, or `login` (a ban)"}


def error_schema() -> dict[str, Any]:
    """Every error's body, the player API's and the server API's alike."""
    return {
        "type": "object",
        "required": ["title", "description", "code"],
        "properties": {
            "title": {"type": "string"},
            "description": {"type": "string"},
            "until": {"type": ["integer", "null"],
                      "description": "`muted`, `banned`: when it ends (ms since the "
                                     "epoch); null: until lifted"},
            "reason": {"type": "string", "description": "`muted`, `banned`: why"},
            "scope": {"type": "string", "description": "`muted`: where"},
            "code": {"type": "string", "enum": [error.code for error in ERROR_CODES]},
        },
    }


def server_schemas() -> dict[str, Any]:
    return {"Mute": {
        "type": "object",
        "required": ["uid", "scope", "until", "reason", "created_at"],
        "properties": {"uid": _UID, "scope": _SCOPE, "until": _UNTIL,
                       "reason": {"type": "string"},
                       "created_at": {"type": "integer", "description": "ms since the epoch"}},
    }}


def server_paths() -> dict[str, Any]:
    return {
        "/v1/server/messages": {"post": {
            "operationId": "serverSendSystemMessage",
            "summary": "Send a system message (from `system`) to 1 to 1,000 players; "
                       "idempotent per recipient by `client_msg_id`.",
            "security": _KEY,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {
                    "type": "object",
                    "required": ["to", "body", "client_msg_id"],
                    "properties": {
                        "to": {"type": "array", "items": _UID, "minItems": 1,
                               "maxItems": SYSTEM_RECIPIENTS_MAX},
                        "body": {"type": "string", "minLength": 1, "maxLength": BODY_MAX_CHARS},
                        "client_msg_id": {"type": "string", "pattern": r"^[\x20-\x7e]{1,64}$"},
                    },
                },
                "example": {"to": ["alice", "bob"], "body": "The raid starts in 5 minutes",
                            "client_msg_id": "raid-2026-12-03"},
            }}},
            "responses": {
                "200": _json({
                    "type": "object",
                    "required": ["delivered", "unknown_users"],
                    "properties": {
                        "delivered": {"type": "array", "items": {
                            "type": "object", "required": ["to", "msgid", "created"],
                            "properties": {"to": _UID, "msgid": {"type": "integer"},
                                           "created": {"type": "boolean"}}}},
                        "unknown_users": {"type": "array", "items": _UID},
                    },
                }, "One copy per known recipient (`created`: stored now, not by an "
                   "earlier call); players who never logged in got none."),
                **_errors(400, 401, 409, 413, 415, 503),
            },
        }},
        "/v1/server/players/{uid}/sessions": {
            "parameters": [_player("disconnect")],
            "delete": {
                "operationId": "serverEndSessions",
                "summary": "End every session of the player (401 `session_ended` on its "
                           "next call, and at once for a held long-poll).",
                "security": _KEY,
                "responses": {
                    "200": _json({"type": "object", "required": ["ended"],
                                  "properties": {"ended": {"type": "integer"}}},
                                 "How many sessions were ended."),
                    **_errors(400, 401, 503),
                },
            },
        },
        "/v1/server/players/{uid}/mutes": {
            "parameters": [_player("look up")],
            "get": {
                "operationId": "serverListMutes",
                "summary": "The player's live mutes and ban.",
                "security": _KEY,
                "responses": {
                    "200": _json({"type": "object", "required": ["mutes"],
                                  "properties": {"mutes": {"type": "array",
                                                           "items": _ref("Mute")}}},
                                 "Live mutes, by scope."),
                    **_errors(400, 401, 503),
                },
            },
        },
        "/v1/server/players/{uid}/mutes/{scope}": {
            "parameters": [_player("mute or unmute"), _SCOPE_PATH],
            "put": {
                "operationId": "serverMute",
                "summary": "Mute the player in the scope until a time (again: replaces); "
                           "scope `login` bans it and ends its sessions.",
                "security": _KEY,
                "requestBody": {"required": False, "content": {"application/json": {
                    "schema": {"type": "object", "properties": {
                        "until": _UNTIL,
                        "reason": {"type": "string", "maxLength": REASON_MAX_CHARS},
                    }},
                    "example": {"until": 1893456000000, "reason": "spam reported by players"},
                }}},
                "responses": {
                    "200": _json(_ref("Mute"), "The mute as stored."),
                    **_errors(400, 401, 413, 415, 503),
                },
            },
            "delete": {
                "operationId": "serverUnmute",
                "summary": "Lift the mute (or ban) in the scope.",
                "security": _KEY,
                "responses": {
                    "200": _json({"type": "object", "required": ["lifted"],
                                  "properties": {"lifted": {"type": "boolean"}}},
                                 "Whether there was one."),
                    **_errors(400, 401, 503),
                },
            },
        },
    }
