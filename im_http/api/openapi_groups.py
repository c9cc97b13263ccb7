"""The OpenAPI description of groups and conversations (a part of ``openapi.py``)."""

from __future__ import annotations

from typing import Any

from im_core.groups import CONVERSATIONS_LIMIT_DEFAULT, CONVERSATIONS_LIMIT_MAX
from im_core.limits import LIST_PAGE_DEFAULT, LIST_PAGE_MAX
from im_core.models import BODY_MAX_CHARS, HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX

__all__ = ["GID", "group_links", "group_paths", "group_schemas"]

UID = {"type": "string", "pattern": r"^[A-Za-z0-9_.:@-]{1,64}$"}
GID = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,32}$"}
MSGID = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_SPACES = r"\t\n\u000b\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_NAME = {"type": "string", "minLength": 1, "maxLength": 64,
         "pattern": rf"^[^\u0000-\u001f\u007f]*[^{_SPACES}\u0000-\u001f\u007f]"
                    r"[^\u0000-\u001f\u007f]*$",
         "description": "not only spaces; no control characters"}
_CONVERSATION_ID = {"type": "string", "pattern": r"^(peer:[A-Za-z0-9_.:@-]{1,64}|"
                                                 r"group:[A-Za-z0-9_-]{1,32})$"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_WORDS = {
    400: "Invalid request (`invalid_request`): a malformed id, uid, name, body or field.",
    401: "`session_expired` or `session_replaced`: log in again.",
    403: "`not_a_member`: the caller (or the player named) is not a member; "
         "`not_allowed`: the caller's role does not allow it.",
    404: "`unknown_group`: no such group (never made, or dissolved); `unknown_user`: a "
         "player named never logged in.",
    409: "`group_full`: the group would have more members than `IM_GROUP_MAX_MEMBERS`.",
    413: "`payload_too_large`: body over 4096 characters or request over 64 KiB.",
    415: "`unsupported_media_type`: the body is not application/json.",
    429: "`rate_limited`: too many calls lately; retry after `Retry-After` seconds.",
    503: "`storage_unavailable`: retry shortly.",
}


def _errors(*statuses: int, conflict: str | None = None) -> dict[str, Any]:
    words = dict(_WORDS)
    if conflict is not None:
        words[409] = conflict
    found = {str(s): _json(_ref("Error"), words[s]) for s in (400, 401, 503, *statuses)}
    if "429" in found:
        found["429"]["headers"] = {"Retry-After": {
            "description": "whole seconds to wait before the same call can succeed",
            "schema": {"type": "integer", "minimum": 1}}}
    return found


def _body(schema: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    return {"required": True,
            "content": {"application/json": {"schema": schema, "example": example}}}


def _gid_path() -> list[dict[str, Any]]:
    return [{"name": "gid", "in": "path", "required": True, "schema": GID,
             "example": "Jx3kq9TfZ0aB1cD2", "description": "the group's id"}]


def _uid_path() -> list[dict[str, Any]]:
    return [*_gid_path(), {"name": "uid", "in": "path", "required": True, "schema": UID,
                           "example": "bob", "description": "the member"}]


def group_schemas() -> dict[str, Any]:
    """The schemas of messages (each says where it belongs), groups and conversations."""
    return {
        "Message": {
            "type": "object",
            "required": ["msgid", "from", "to", "group", "body", "sent_at", "client_msg_id"],
            "additionalProperties": False,
            "properties": {
                "msgid": MSGID,
                "from": UID,
                "to": {"oneOf": [UID, {"type": "null"}], "description": "private only"},
                "group": {"oneOf": [GID, {"type": "null"}], "description": "group only"},
                "body": {"type": "string", "minLength": 1, "maxLength": BODY_MAX_CHARS},
                "sent_at": {"type": "integer", "description": "ms since the epoch, UTC"},
                "client_msg_id": {"type": ["string", "null"], "maxLength": 64},
            },
        },
        "Messages": {"type": "array", "items": _ref("Message")},
        "Group": {
            "type": "object",
            "required": ["id", "name", "owner", "created_at", "members", "role"],
            "properties": {
                "id": GID, "name": _NAME,
                "owner": UID, "created_at": {"type": "integer"},
                "members": {"type": "integer", "minimum": 1},
                "role": {"enum": ["owner", "admin", "member"],
                         "description": "the caller's role"},
            },
        },
        "Conversation": {
            "type": "object",
            "required": ["id", "peer", "group", "name", "unread", "last_message"],
            "properties": {
                "id": _CONVERSATION_ID,
                "peer": {"oneOf": [UID, {"type": "null"}]},
                "group": {"oneOf": [GID, {"type": "null"}]},
                "name": {"type": ["string", "null"], "description": "a group's name"},
                "unread": {"type": "integer", "minimum": 0},
                "last_message": {"oneOf": [_ref("Message"), {"type": "null"}]},
            },
        },
    }


def group_links(as_logged_in: dict[str, str]) -> dict[str, Any]:
    """Links from login's answer to the operations a fuzzer can reach with it alone."""
    return {
        "CreateGroup": {"operationId": "createGroup", "parameters": as_logged_in,
                        "requestBody": {"name": "Knights", "members": []}},
        "Conversations": {"operationId": "listConversations", "parameters": as_logged_in},
    }


_AS_CREATOR = {"header.Authorization": "$request.header.Authorization",
               "gid": "$response.body#/id"}
_GROUP_LINKS = {name: {"operationId": op, "parameters": _AS_CREATOR} for name, op in (
    ("GetGroup", "getGroup"), ("Members", "listGroupMembers"),
    ("AddMembers", "addGroupMembers"), ("Send", "sendToGroup"),
    ("History", "groupHistory"), ("Dissolve", "dissolveGroup"))}
"""From a group just made, as its owner: the operations a fuzzer can then reach."""


def group_paths() -> dict[str, Any]:
    """The paths of groups and conversations."""
    history_params = [
        {"name": "before", "in": "query", "schema": MSGID, "example": 1000},
        {"name": "after", "in": "query", "schema": MSGID, "example": 0},
        {"name": "limit", "in": "query", "example": 20,
         "schema": {"type": "integer", "minimum": 1, "maximum": HISTORY_LIMIT_MAX,
                    "default": HISTORY_LIMIT_DEFAULT}},
    ]
    client_msg_id = {"oneOf": [{"type": "string", "pattern": r"^[\x20-\x7e]{1,64}$"},
                               {"type": "null"}]}
    return {
        "/v1/groups": {"post": {
            "operationId": "createGroup",
            "summary": "Make a group with the caller as owner and `members` as members.",
            "security": _BEARER,
            "requestBody": _body({
                "type": "object", "required": ["name"],
                "properties": {"name": _NAME, "members": {"type": "array", "items": UID}},
            }, {"name": "Knights", "members": ["bob", "carol"]}),
            "responses": {"201": _json(_ref("Group"), "Made.") | {"links": _GROUP_LINKS},
                          **_errors(404, 409, 413, 415, 429)},
        }},
        "/v1/groups/{gid}": {
            "parameters": _gid_path(),
            "get": {"operationId": "getGroup", "summary": "A group, for its members.",
                    "security": _BEARER,
                    "responses": {"200": _json(_ref("Group"), "The group."),
                                  **_errors(403, 404)}},
            "delete": {"operationId": "dissolveGroup",
                       "summary": "The owner dissolves the group.", "security": _BEARER,
                       "responses": {"204": {"description": "Dissolved."},
                                     **_errors(403, 404)}},
        },
        "/v1/groups/{gid}/members": {
            "parameters": _gid_path(),
            "get": {
                "operationId": "listGroupMembers",
                "summary": "A page of the members, in uid order, each with whether it is "
                           "online.",
                "security": _BEARER,
                "parameters": [
                    {"name": "after", "in": "query", "schema": UID, "example": "alice",
                     "description": "the `next_after` of the previous page"},
                    {"name": "limit", "in": "query", "example": 100,
                     "schema": {"type": "integer", "minimum": 1, "maximum": LIST_PAGE_MAX,
                                "default": LIST_PAGE_DEFAULT}}],
                "responses": {"200": _json({
                    "type": "object", "required": ["members", "next_after"],
                    "properties": {
                        "members": {"type": "array", "items": {
                            "type": "object",
                            "required": ["uid", "role", "joined_at", "online"],
                            "properties": {"uid": UID,
                                           "role": {"enum": ["owner", "admin", "member"]},
                                           "joined_at": {"type": "integer"},
                                           "online": {"type": "boolean"}}}},
                        "next_after": {"oneOf": [UID, {"type": "null"}]}},
                }, "Members."), **_errors(403, 404)},
            },
            "post": {
                "operationId": "addGroupMembers",
                "summary": "The owner or an admin adds players (idempotent).",
                "security": _BEARER,
                "requestBody": _body({
                    "type": "object", "required": ["uids"],
                    "properties": {"uids": {"type": "array", "items": UID, "minItems": 1}},
                }, {"uids": ["dave"]}),
                "responses": {"204": {"description": "Added."},
                              **_errors(403, 404, 409, 413, 415)},
            },
        },
        "/v1/groups/{gid}/members/{uid}": {
            "parameters": _uid_path(),
            "delete": {"operationId": "removeGroupMember",
                       "summary": "Remove a member (owner, admins), or leave (your own uid).",
                       "security": _BEARER,
                       "responses": {"204": {"description": "Removed."},
                                     **_errors(403, 404)}},
        },
        "/v1/groups/{gid}/members/{uid}/role": {
            "parameters": _uid_path(),
            "put": {
                "operationId": "setGroupRole",
                "summary": "The owner sets a member's role; `owner` hands ownership over.",
                "security": _BEARER,
                "requestBody": _body({
                    "type": "object", "required": ["role"],
                    "properties": {"role": {"enum": ["owner", "admin", "member"]}},
                }, {"role": "admin"}),
                "responses": {"204": {"description": "Set."},
                              **_errors(403, 404, 413, 415)},
            },
        },
        "/v1/groups/{gid}/messages": {
            "parameters": _gid_path(),
            "post": {
                "operationId": "sendToGroup",
                "summary": "Send to every member; a retry with the same client_msg_id "
                           "stores nothing.",
                "security": _BEARER,
                "requestBody": _body({
                    "type": "object", "required": ["body"],
                    "properties": {
                        "body": {"type": "string", "minLength": 1, "maxLength": BODY_MAX_CHARS,
                                 "pattern": "^[^\u0000]*$"},
                        "client_msg_id": client_msg_id},
                }, {"body": "raid at 9?", "client_msg_id": "a-2"}),
                "responses": {
                    "201": _json(_ref("Message"), "Stored and in every member's inbox."),
                    "200": _json(_ref("Message"), "A retry: the message stored earlier."),
                    **_errors(403, 404, 409, 413, 415, 429, conflict=(
                        "`client_msg_id_reused`: the id was used before for another "
                        "target or body; nothing was stored.")),
                },
            },
            "get": {
                "operationId": "groupHistory",
                "summary": "The group's messages, newest first (members only).",
                "security": _BEARER,
                "parameters": history_params,
                "responses": {"200": _json({
                    "type": "object", "required": ["messages", "next_before"],
                    "properties": {"messages": _ref("Messages"),
                                   "next_before": {"oneOf": [MSGID, {"type": "null"}]}},
                }, "A page of history."), **_errors(403, 404)},
            },
        },
        "/v1/conversations": {"get": {
            "operationId": "listConversations",
            "summary": "The caller's private peers and groups, most recent first, with "
                       "their last message and unread count.",
            "security": _BEARER,
            "parameters": [{"name": "limit", "in": "query", "example": 50,
                            "schema": {"type": "integer", "minimum": 1,
                                       "maximum": CONVERSATIONS_LIMIT_MAX,
                                       "default": CONVERSATIONS_LIMIT_DEFAULT}}],
            "responses": {"200": _json({
                "type": "object", "required": ["conversations", "more"],
                "properties": {"conversations": {"type": "array",
                                                 "items": _ref("Conversation")},
                               "more": {"type": "boolean"}},
            }, "The chat list."), **_errors()},
        }},
        "/v1/conversations/{conversation}/read": {
            "parameters": [{"name": "conversation", "in": "path", "required": True,
                            "schema": _CONVERSATION_ID, "example": "peer:bob",
                            "description": "`peer:<uid>` or `group:<gid>`"}],
            "post": {
                "operationId": "markRead",
                "summary": "Move the caller's read position (not the delivery ack).",
                "security": _BEARER,
                "requestBody": _body({
                    "type": "object", "required": ["msgid"], "properties": {"msgid": MSGID},
                }, {"msgid": 1042}),
                "responses": {"200": _json({
                    "type": "object", "required": ["conversation", "unread"],
                    "properties": {"conversation": _CONVERSATION_ID,
                                   "unread": {"type": "integer", "minimum": 0}},
                }, "The unread count after."), **_errors(403, 404, 413, 415)},
            },
        },
    }
