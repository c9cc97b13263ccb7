"""The SDK's groups and chat list: a part of ``Client`` (``im_http.client.sdk``).

Stdlib only beyond what ``sdk.py`` uses (urllib3), so the SDK stays importable alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from im_http.client.sdk import HistoryPage, Message

__all__ = ["Conversation", "Group", "GroupMember", "GroupsClient"]


@dataclass(frozen=True)
class Group:
    """A group as ``GET /v1/groups/{gid}`` shows it; ``role`` is this player's."""

    id: str
    name: str
    owner: str
    created_at: int
    members: int
    role: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Group:
        return cls(str(data["id"]), str(data["name"]), str(data["owner"]),
                   int(data["created_at"]), int(data["members"]), str(data["role"]))


@dataclass(frozen=True)
class GroupMember:
    uid: str
    role: str
    joined_at: int
    online: bool


@dataclass(frozen=True)
class Conversation:
    """One line of the chat list: ``peer`` or ``group`` (``id`` is ``peer:``/``group:``)."""

    id: str
    peer: str | None
    group: str | None
    name: str | None
    unread: int
    last_message: Message | None


def _gid(gid: str) -> str:
    return quote(gid, safe="")


class GroupsClient:
    """Groups, their messages and the chat list; mixed into ``Client``."""

    if TYPE_CHECKING:
        def _call(self, method: str, path: str, *, body: Any = None,
                  query: Mapping[str, Any] | list[tuple[str, str]] | None = None,
                  auth: bool = True, relogin: bool = True,
                  read_timeout: float | None = None) -> Any: ...

        def _every(self, path: str, key: str) -> Iterator[dict[str, Any]]: ...

        @property
        def uid(self) -> str: ...

    def create_group(self, name: str, members: Sequence[str] = ()) -> Group:
        """Make a group with this player as owner; ``Group.id`` names it from then on."""
        return Group.from_json(self._call("POST", "/v1/groups",
                                          body={"name": name, "members": list(members)}))

    def group(self, gid: str) -> Group:
        return Group.from_json(self._call("GET", f"/v1/groups/{_gid(gid)}"))

    def dissolve_group(self, gid: str) -> None:
        """The owner ends the group."""
        self._call("DELETE", f"/v1/groups/{_gid(gid)}")

    def group_members(self, gid: str) -> list[GroupMember]:
        """Every member, with its role and whether it is online (every page)."""
        return [GroupMember(str(m["uid"]), str(m["role"]), int(m["joined_at"]),
                            bool(m["online"]))
                for m in self._every(f"/v1/groups/{_gid(gid)}/members", "members")]

    def add_members(self, gid: str, *uids: str) -> None:
        """The owner or an admin adds players (again is fine)."""
        self._call("POST", f"/v1/groups/{_gid(gid)}/members", body={"uids": list(uids)})

    def remove_member(self, gid: str, uid: str) -> None:
        self._call("DELETE", f"/v1/groups/{_gid(gid)}/members/{quote(uid, safe='')}")

    def leave_group(self, gid: str) -> None:
        self.remove_member(gid, self.uid)

    def set_role(self, gid: str, uid: str, role: str) -> None:
        """The owner sets ``admin`` or ``member``; ``owner`` hands ownership over."""
        self._call("PUT", f"/v1/groups/{_gid(gid)}/members/{quote(uid, safe='')}/role",
                   body={"role": role})

    def send_to_group(self, gid: str, body: str, *,
                      client_msg_id: str | None = None) -> Message:
        """Send to every member; retried with one ``client_msg_id``, as ``send``."""
        from im_http.client.sdk import Message

        cmid = client_msg_id or uuid.uuid4().hex
        return Message.from_json(self._call(
            "POST", f"/v1/groups/{_gid(gid)}/messages",
            body={"body": body, "client_msg_id": cmid}))

    def group_history_pages(self, gid: str, *, before: int | None = None,
                            after: int | None = None,
                            page_size: int = 50) -> Iterator[HistoryPage]:
        """The group's history page by page, newest first."""
        from im_http.client.sdk import HistoryPage, Message

        while True:
            query: dict[str, Any] = {"limit": page_size}
            if before is not None:
                query["before"] = before
            if after is not None:
                query["after"] = after
            answer = self._call("GET", f"/v1/groups/{_gid(gid)}/messages", query=query)
            page = HistoryPage([Message.from_json(m) for m in answer["messages"]],
                               answer["next_before"])
            yield page
            if page.next_before is None:
                return
            before = page.next_before

    def group_history(self, gid: str, *, before: int | None = None,
                      after: int | None = None, page_size: int = 50) -> Iterator[Message]:
        for page in self.group_history_pages(gid, before=before, after=after,
                                             page_size=page_size):
            yield from page.messages

    def conversations(self, limit: int = 100) -> list[Conversation]:
        """The chat list: peers and groups, most recent first, with unread counts."""
        from im_http.client.sdk import Message

        answer = self._call("GET", "/v1/conversations", query={"limit": limit})
        return [Conversation(str(c["id"]), c["peer"], c["group"], c["name"], int(c["unread"]),
                             None if c["last_message"] is None
                             else Message.from_json(c["last_message"]))
                for c in answer["conversations"]]

    def mark_read(self, conversation: str, msgid: int) -> int:
        """Move the read position of ``peer:<uid>`` / ``group:<gid>``; the unread after."""
        answer = self._call("POST", f"/v1/conversations/{quote(conversation, safe=':')}/read",
                            body={"msgid": msgid})
        return int(answer["unread"])
