"""The resources of groups and conversations (API v1): each translates to one use case.

Rules live in ``im_core.groups``; statuses for errors in ``im_http.api.errors``.
"""

from __future__ import annotations

from typing import Any

import attrs
import falcon

from im_core import Conversation, Group
from im_http.api.media import bad_request, int_param, list_page, message_json, read_json
from im_http.api.resources import Api

__all__ = [
    "ConversationRead",
    "Conversations",
    "GroupMember",
    "GroupMemberRole",
    "GroupMembers",
    "GroupMessages",
    "GroupResource",
    "Groups",
    "conversation_json",
    "group_json",
]


def group_json(group: Group, role: str) -> dict[str, Any]:
    """The API's JSON form of a group, with the caller's role in it."""
    return {"id": group.gid, "name": group.name, "owner": group.owner,
            "created_at": group.created_at, "members": group.members, "role": role}


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    """One line of the chat list."""
    last = conversation.last_message
    return {"id": conversation.id, "peer": conversation.peer, "group": conversation.group,
            "name": conversation.name, "unread": conversation.unread,
            "last_message": None if last is None else message_json(last)}


@attrs.frozen
class Groups:
    api: Api

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req)
        session = self.api.session(req, "create_group")
        group = self.api.service.create_group(session, body.get("name"),
                                              body.get("members") or ())
        resp.status = falcon.HTTP_201
        resp.media = group_json(group, "owner")


@attrs.frozen
class GroupResource:
    api: Api

    def on_get(self, req: falcon.Request, resp: falcon.Response, gid: str) -> None:
        session = self.api.session(req, "group")
        group, role = self.api.service.group_info(session, gid)
        resp.media = group_json(group, role)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, gid: str) -> None:
        session = self.api.session(req, "dissolve_group")
        self.api.service.dissolve_group(session, gid)
        resp.status = falcon.HTTP_204


@attrs.frozen
class GroupMembers:
    api: Api

    def on_get(self, req: falcon.Request, resp: falcon.Response, gid: str) -> None:
        session = self.api.session(req, "group_members")
        page = self.api.service.group_members(session, gid, **list_page(req))
        resp.media = {
            "members": [{"uid": m.uid, "role": m.role, "joined_at": m.joined_at,
                         "online": online} for m, online in page.members],
            "next_after": page.next_after,
        }

    def on_post(self, req: falcon.Request, resp: falcon.Response, gid: str) -> None:
        body = read_json(req)
        session = self.api.session(req, "add_members")
        if "uids" not in body:
            raise bad_request("uids is required")
        self.api.service.add_members(session, gid, body["uids"])
        resp.status = falcon.HTTP_204


@attrs.frozen
class GroupMember:
    api: Api

    def on_delete(self, req: falcon.Request, resp: falcon.Response, gid: str,
                  uid: str) -> None:
        session = self.api.session(req, "remove_member")
        self.api.service.remove_member(session, gid, uid)
        resp.status = falcon.HTTP_204


@attrs.frozen
class GroupMemberRole:
    api: Api

    def on_put(self, req: falcon.Request, resp: falcon.Response, gid: str, uid: str) -> None:
        body = read_json(req)
        session = self.api.session(req, "set_role")
        self.api.service.set_role(session, gid, uid, body.get("role"))
        resp.status = falcon.HTTP_204


@attrs.frozen
class GroupMessages:
    api: Api

    def on_post(self, req: falcon.Request, resp: falcon.Response, gid: str) -> None:
        body = read_json(req)
        session = self.api.session(req, "send")
        message, created = self.api.service.send_to_group(
            session, gid, body.get("body"), body.get("client_msg_id"))
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.media = message_json(message)

    def on_get(self, req: falcon.Request, resp: falcon.Response, gid: str) -> None:
        session = self.api.session(req, "history")
        limit = int_param(req, "limit")
        given = {} if limit is None else {"limit": limit}
        page = self.api.service.group_history(
            session, gid, before=int_param(req, "before"), after=int_param(req, "after"),
            **given)
        resp.media = {"messages": [message_json(m) for m in page.messages],
                      "next_before": page.next_before}


@attrs.frozen
class Conversations:
    api: Api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        session = self.api.session(req, "conversations")
        limit = int_param(req, "limit")
        page = self.api.service.conversations(session, **({} if limit is None
                                                           else {"limit": limit}))
        resp.media = {"conversations": [conversation_json(c) for c in page.conversations],
                      "more": page.more}


@attrs.frozen
class ConversationRead:
    api: Api

    def on_post(self, req: falcon.Request, resp: falcon.Response, conversation: str) -> None:
        body = read_json(req)
        session = self.api.session(req, "read")
        unread = self.api.service.mark_read(session, conversation, body.get("msgid"))
        resp.media = {"conversation": conversation, "unread": unread}
