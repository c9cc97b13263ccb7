"""The OpenAPI 3.1 description of HTTP API v1, served at ``/openapi.json``.

Tests check it against the routes the app serves and validate every response the
HTTP test suite sees against it, so it stays true.
"""

from __future__ import annotations

from typing import Any

from im_core.limits import LIST_PAGE_DEFAULT, LIST_PAGE_MAX
from im_core.models import (
    BODY_MAX_CHARS,
    HISTORY_LIMIT_DEFAULT,
    HISTORY_LIMIT_MAX,
    PULL_LIMIT_DEFAULT,
    PULL_LIMIT_MAX,
)
from im_core.service import PRESENCE_MAX_UIDS
from im_http.api import openapi_groups as groups
from im_http.api.openapi_server import error_schema, server_paths, server_schemas

__all__ = ["openapi_document"]

UID = {"type": "string", "pattern": r"^[A-Za-z0-9_.:@-]{1,64}$"}
MSGID = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_RETRY_AFTER = {"Retry-After": {
    "description": "whole seconds to wait before the same call can succeed (at least 1)",
    "schema": {"type": "integer", "minimum": 1},
}}


def _errors(*statuses: int, conflict: str | None = None) -> dict[str, Any]:
    words = {
        400: "Invalid request (`invalid_request`).",
        401: "`session_expired` (no, unknown, expired or logged-out token), "
             "`session_replaced` (ended by a newer login: the cap or IM_LOGIN_POLICY), "
             "`session_ended` (by the game's server) or, at login, `invalid_credentials`.",
        404: "`unknown_user`: the user never logged in.",
        409: "`client_msg_id_reused`: the id was used before for another recipient or "
             "body; nothing was stored.",
        413: "`payload_too_large`: body over 4096 characters or request over 64 KiB.",
        403: "`blocked` (the recipient blocked the sender), `muted` (with `until` and "
             "`reason`), `rejected_content` (moderation), or at login `banned`; nothing "
             "was stored.",
        415: "`unsupported_media_type`: the body is not application/json.",
        429: "`rate_limited`: too many calls lately; retry after `Retry-After` seconds.",
        503: "`storage_unavailable`, `auth_unavailable` or `moderation_unavailable`: "
             "retry shortly.",
    }
    if conflict is not None:
        words[409] = conflict
    found = {str(s): _json(_ref("Error"), words[s]) for s in statuses}
    if "429" in found:
        found["429"]["headers"] = _RETRY_AFTER
    return found


def _body(schema: dict[str, Any], example: dict[str, Any],
          required: bool = True) -> dict[str, Any]:
    return {"required": required,
            "content": {"application/json": {"schema": schema, "example": example}}}


def _uid_path(verb: str) -> list[dict[str, Any]]:
    return [{"name": "uid", "in": "path", "required": True, "schema": UID, "example": "bob",
             "description": f"the player to {verb}"}]


_PAGE_PARAMETERS: list[dict[str, Any]] = [
    {"name": "after", "in": "query", "schema": UID, "example": "alice",
     "description": "the `next_after` of the previous page; absent: the first page"},
    {"name": "limit", "in": "query", "example": 20,
     "schema": {"type": "integer", "minimum": 1, "maximum": LIST_PAGE_MAX,
                "default": LIST_PAGE_DEFAULT}},
]
_NEXT_AFTER = {"oneOf": [UID, {"type": "null"}],
               "description": "pass as `after` for the next page; `null`: the last page"}

# From login's answer, what the calls that need a known player can use: the token, and
# the uid, which is a known player (so a fuzzer reaches the logic, not only 404s).
_AS_LOGGED_IN = {"header.Authorization": "Bearer {$response.body#/token}"}
_LINKS = {
    "Heartbeat": {"operationId": "heartbeat", "parameters": _AS_LOGGED_IN},
    "Send": {"operationId": "send", "parameters": _AS_LOGGED_IN,
             "requestBody": {"to": "$response.body#/uid", "body": "hello"}},
    "History": {"operationId": "history",
                "parameters": {**_AS_LOGGED_IN, "peer": "$response.body#/uid"}},
    "Presence": {"operationId": "presence",
                 "parameters": {**_AS_LOGGED_IN, "uid": "$response.body#/uid"}},
    "Contacts": {"operationId": "listContacts", "parameters": _AS_LOGGED_IN},
    "AddContact": {"operationId": "addContact",
                   "parameters": {**_AS_LOGGED_IN, "uid": "$response.body#/uid"}},
    "RemoveContact": {"operationId": "removeContact",
                      "parameters": {**_AS_LOGGED_IN, "uid": "$response.body#/uid"}},
    "Blocks": {"operationId": "listBlocks", "parameters": _AS_LOGGED_IN},
    "Block": {"operationId": "block",
              "parameters": {**_AS_LOGGED_IN, "uid": "$response.body#/uid"}},
    "Unblock": {"operationId": "unblock",
                "parameters": {**_AS_LOGGED_IN, "uid": "$response.body#/uid"}},
    "Logout": {"operationId": "logout", "parameters": _AS_LOGGED_IN},
    **groups.group_links(_AS_LOGGED_IN),
}


_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_AUTHED = (400, 401, 503)


def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI document as a plain dict."""
    schemas: dict[str, Any] = {
        "Uid": UID,
        "Error": error_schema(),
        **server_schemas(),
        **groups.group_schemas(),
    }
    paths: dict[str, Any] = {
        "/v1/login": {"post": {
            "operationId": "login",
            "summary": "Log in with the game's credential; returns a session token.",
            "requestBody": _body({
                "type": "object",
                "required": ["uid", "game_token", "client_type"],
                "properties": {
                    "uid": UID,
                    "game_token": {"type": "string", "minLength": 1},
                    "client_type": {"type": "string", "pattern": r"^[a-z0-9_-]{1,16}$"},
                },
            }, {"uid": "alice", "game_token": "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl",
                "client_type": "ios"}),
            "responses": {
                "200": _json({
                    "type": "object",
                    "required": ["token", "uid", "session_ttl", "heartbeat_interval",
                                 "max_wait"],
                    "properties": {
                        "token": {"type": "string"},
                        "uid": UID,
                        "session_ttl": {"type": "number", "description": "seconds"},
                        "heartbeat_interval": {"type": "number", "description": "seconds"},
                        "max_wait": {"type": "number", "description":
                                     "seconds: the longest a heartbeat's `wait` is held"},
                    },
                }, "A new session.") | {"links": _LINKS},
                **_errors(400, 401, 403, 413, 415, 429, 503),
            },
        }},
        "/v1/heartbeat": {"post": {
            "operationId": "heartbeat",
            "summary": "Keep the session alive, delete what `ack` covers, pull the inbox; "
                       "with `wait`, hold until a message arrives (long-poll).",
            "security": _BEARER,
            "requestBody": _body({
                "type": "object",
                "properties": {
                    "ack": {"oneOf": [MSGID, {"type": "null"}]},
                    "limit": {"type": "integer", "minimum": 1, "maximum": PULL_LIMIT_MAX,
                              "default": PULL_LIMIT_DEFAULT},
                    "wait": {"oneOf": [{"type": "number", "minimum": 0}, {"type": "null"}],
                             "default": 0,
                             "description": "seconds to hold the call while the inbox is "
                                            "empty; capped at the login's `max_wait`"},
                },
            }, {"ack": None, "limit": 100, "wait": 0}, required=False),
            "responses": {
                "200": _json({
                    "type": "object",
                    "required": ["messages", "more", "next_heartbeat_ms"],
                    "properties": {"messages": _ref("Messages"), "more": {"type": "boolean"},
                                   "next_heartbeat_ms": {"type": "integer", "minimum": 0}},
                }, "The inbox, oldest first."),
                **_errors(*_AUTHED, 413, 415),
            },
        }},
        "/v1/messages": {"post": {
            "operationId": "send",
            "summary": "Send a message; a retry with the same client_msg_id stores nothing.",
            "security": _BEARER,
            "requestBody": _body({
                "type": "object",
                "required": ["to", "body"],
                "properties": {
                    "to": UID,
                    "body": {"type": "string", "minLength": 1, "maxLength": BODY_MAX_CHARS,
                             "pattern": "^[^\u0000]*$"},
                    "client_msg_id": {"oneOf": [
                        {"type": "string", "pattern": r"^[\x20-\x7e]{1,64}$"},
                        {"type": "null"},
                    ]},
                },
            }, {"to": "alice", "body": "gg, rematch?", "client_msg_id": "a-1"}),
            "responses": {
                "201": _json(_ref("Message"), "Stored and delivered to the inbox."),
                "200": _json(_ref("Message"), "A retry: the message stored earlier."),
                **_errors(*_AUTHED, 403, 404, 409, 413, 415, 429),
            },
        }},
        "/v1/messages/history": {"get": {
            "operationId": "history",
            "summary": "Messages between the caller and `peer`, newest first.",
            "security": _BEARER,
            "parameters": [
                {"name": "peer", "in": "query", "required": True, "schema": UID,
                 "example": "bob"},
                {"name": "before", "in": "query", "schema": MSGID, "example": 1000},
                {"name": "after", "in": "query", "schema": MSGID, "example": 0},
                {"name": "limit", "in": "query", "example": 20,
                 "schema": {"type": "integer", "minimum": 1, "maximum": HISTORY_LIMIT_MAX,
                            "default": HISTORY_LIMIT_DEFAULT}},
            ],
            "responses": {
                "200": _json({
                    "type": "object",
                    "required": ["messages", "next_before"],
                    "properties": {
                        "messages": _ref("Messages"),
                        "next_before": {"oneOf": [MSGID, {"type": "null"}]},
                    },
                }, "A page of history."),
                **_errors(*_AUTHED, 404),
            },
        }},
        "/v1/presence": {"get": {
            "operationId": "presence",
            "summary": "Whether users are online.",
            "security": _BEARER,
            "parameters": [{
                "name": "uid", "in": "query", "required": True, "explode": True,
                "example": ["alice", "bob"],
                "schema": {"type": "array", "items": UID, "minItems": 1,
                           "maxItems": PRESENCE_MAX_UIDS},
            }],
            "responses": {
                "200": _json({
                    "type": "object",
                    "required": ["presence"],
                    "properties": {"presence": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "required": ["online", "client_type", "last_seen"],
                            "properties": {
                                "online": {"type": "boolean"},
                                "client_type": {"type": ["string", "null"]},
                                "last_seen": {"type": ["integer", "null"]},
                            },
                        },
                    }},
                }, "Presence by uid."),
                **_errors(*_AUTHED),
            },
        }},
        "/v1/contacts": {"get": {
            "operationId": "listContacts",
            "summary": "A page of the caller's contacts, with whether each is online.",
            "security": _BEARER,
            "parameters": _PAGE_PARAMETERS,
            "responses": {
                "200": _json({
                    "type": "object",
                    "required": ["contacts", "next_after"],
                    "properties": {"contacts": {"type": "array", "items": {
                        "type": "object",
                        "required": ["uid", "online"],
                        "properties": {"uid": UID, "online": {"type": "boolean"}},
                    }}, "next_after": _NEXT_AFTER},
                }, "Contacts, sorted by uid."),
                **_errors(*_AUTHED),
            },
        }},
        "/v1/contacts/{uid}": {
            "parameters": _uid_path("add or remove"),
            "put": {
                "operationId": "addContact",
                "summary": "Add a contact (idempotent).",
                "security": _BEARER,
                "responses": {"204": {"description": "Added."}, **_errors(
                    *_AUTHED, 404, 409, conflict="`too_many_contacts`: the list is full; "
                    "remove a contact first.")},
            },
            "delete": {
                "operationId": "removeContact",
                "summary": "Remove a contact (idempotent).",
                "security": _BEARER,
                "responses": {"204": {"description": "Removed."}, **_errors(*_AUTHED, 404)},
            },
        },
        "/v1/blocks": {"get": {
            "operationId": "listBlocks",
            "summary": "A page of the players the caller takes no messages from.",
            "security": _BEARER,
            "parameters": _PAGE_PARAMETERS,
            "responses": {
                "200": _json({
                    "type": "object",
                    "required": ["blocks", "next_after"],
                    "properties": {"blocks": {"type": "array", "items": {
                        "type": "object",
                        "required": ["uid"],
                        "properties": {"uid": UID},
                    }}, "next_after": _NEXT_AFTER},
                }, "Blocked players, sorted by uid."),
                **_errors(*_AUTHED),
            },
        }},
        "/v1/blocks/{uid}": {
            "parameters": _uid_path("block or unblock"),
            "put": {
                "operationId": "block",
                "summary": "Refuse every message from this player (idempotent).",
                "security": _BEARER,
                "responses": {"204": {"description": "Blocked."}, **_errors(
                    *_AUTHED, 404, 409, conflict="`too_many_blocks`: the list is full; "
                    "unblock a player first.")},
            },
            "delete": {
                "operationId": "unblock",
                "summary": "Take messages from this player again (idempotent).",
                "security": _BEARER,
                "responses": {"204": {"description": "Unblocked."}, **_errors(*_AUTHED, 404)},
            },
        },
        **groups.group_paths(),
        "/v1/logout": {"post": {
            "operationId": "logout",
            "summary": "End the session; its token is refused afterwards.",
            "security": _BEARER,
            "responses": {"204": {"description": "Logged out."}, **_errors(*_AUTHED)},
        }},
        "/healthz": {"get": {
            "operationId": "health",
            "summary": "The process is up.",
            "responses": {"200": _json({"type": "object"}, "Up.")},
        }},
        "/readyz": {"get": {
            "operationId": "ready",
            "summary": "Every port answers.",
            "responses": {"200": _json({"type": "object"}, "Ready."), **_errors(503)},
        }},
        "/openapi.json": {"get": {
            "operationId": "openapi",
            "summary": "This document.",
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")},
        }},
        "/metrics": {"get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics of every worker (docs/operations.md).",
            "responses": {"200": {
                "description": "The Prometheus text exposition format.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }},
        }},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "im-server",
            "version": "1",
            "description": "Mailbox-model instant messaging for games over plain HTTP.",
        },
        "paths": {**paths, **server_paths()},
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "serverKey": {"type": "http", "scheme": "bearer",
                              "description": "one of IM_SERVER_API_KEYS (server API only)"},
            },
        },
    }
