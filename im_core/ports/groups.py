"""The group half of the mailbox port: groups, members, group sends, conversations.

It is a part of ``MailboxRepository`` (which extends it), not a store of its own: a
group message is written into every member's inbox in the transaction that stores
it (write diffusion, as WeChat does for groups of up to 500), so the groups must
live in the database that holds the inboxes. The pull, the cumulative ack and the
long-poll then deliver group messages unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from im_core.group_models import Conversation, Group, Member, Role
from im_core.models import Message

__all__ = [
    "GroupFull",
    "GroupMailbox",
    "GroupSend",
    "NotAMember",
    "NotAllowed",
    "UnknownGroup",
]


class UnknownGroup(LookupError):
    """No group has this id (never made, or dissolved).

    Attributes:
        gid: the group that was not found.
    """

    def __init__(self, gid: str) -> None:
        super().__init__(f"no group {gid!r}")
        self.gid = gid


class NotAMember(PermissionError):
    """The caller (or the player named) is not a member of the group."""

    def __init__(self, gid: str, uid: str) -> None:
        super().__init__(f"{uid!r} is not a member of group {gid!r}")
        self.gid = gid
        self.uid = uid


class NotAllowed(PermissionError):
    """The caller's role does not allow this change (``reason`` says which rule)."""


class GroupFull(ValueError):
    """Adding the players would take the group beyond its member cap; none was added.

    Attributes:
        limit: the most members a group may have.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"a group holds at most {limit} members")
        self.limit = limit


GroupSend = tuple[Message, bool, list[str]]
"""A group send's result: the message, whether it was stored now (``False``: an
earlier send with the same ``client_msg_id``), and the members to ring."""


class GroupMailbox(Protocol):
    """Groups and conversations, in the same store as the inboxes (see the module).

    Contract (every change checks the actor's role in the same atomic step as the
    change, so a role taken away meanwhile is honoured):
        - ``create_group(gid, name, owner, members, max_members, at_ms)`` makes a
          group with ``owner`` as owner and ``members`` as members. Raises
          ``UnknownUser`` (nothing made) if one of them never logged in,
          ``GroupFull`` if they are more than ``max_members`` with the owner.
        - ``group(gid)`` returns the group or ``None``; ``role(gid, uid)`` the role
          of ``uid`` or ``None`` if not a member (or no such group).
        - ``members(gid)`` lists the members sorted by uid (code point order).
        - ``add_members(gid, actor, uids, max_members, at_ms)``: the owner or an
          admin adds players as members; those already in are left as they are.
          ``UnknownGroup``, ``NotAMember`` (the actor), ``NotAllowed`` (a member),
          ``UnknownUser``, ``GroupFull``; on any error nothing is added. A new
          member's read position starts at the group's latest message.
        - ``remove_member(gid, actor, uid)``: ``actor == uid`` leaves (the owner
          cannot: ``NotAllowed``; it dissolves or hands ownership over), otherwise
          ``may_remove`` decides. Removing a non-member raises ``NotAMember``.
          From its commit on, the removed player gets no message of the group in
          its inbox and cannot read its history; what its inbox already holds
          stays until acknowledged.
        - ``set_role(gid, actor, uid, role)``: only the owner; ``role="owner"``
          hands ownership to ``uid`` and makes the old owner an admin.
        - ``dissolve(gid, actor)``: only the owner; the group is gone (its id is
          never reused); returns the uids that were members.
        - ``send_to_group(sender, gid, body, client_msg_id, sent_at)`` stores one
          message in history and in the inbox of every member but the sender and
          those who blocked the sender, atomically, and returns ``GroupSend``. The
          same retry rule as ``send``: an earlier message of the sender with the
          same ``client_msg_id`` is returned, not stored again. The member list is
          read under the group's lock, so a send and a membership change are
          ordered: a member removed before the send commits gets nothing, one added
          before gets the message. For each recipient the cumulative-ack rule of
          ``send`` holds (a message never becomes visible after one with a higher
          msgid). ``UnknownGroup``, ``NotAMember``.
        - ``group_history(gid, uid, before, after, limit)``: as ``history``, for a
          member of the group (``NotAMember`` otherwise, ``UnknownGroup``).
        - ``conversations(uid, limit)``: the player's private peers and groups,
          the most recent first (by last msgid; groups without messages last, by
          gid), at most ``limit``, and whether more exist. No scan of history:
          each conversation keeps its sequence and each player a read position.
        - ``mark_read(uid, peer, group, msgid)`` moves the player's read position
          in that conversation (exactly one of ``peer``/``group``) to the last
          message with ``msgid`` at or below the one given (clamped to the
          latest); it never moves back. Returns the unread count after.
          ``UnknownUser``/``UnknownGroup``/``NotAMember`` as fits.
    """

    def create_group(self, gid: str, name: str, owner: str, members: Sequence[str],
                     max_members: int, at_ms: int) -> Group: ...

    def group(self, gid: str) -> Group | None: ...

    def role(self, gid: str, uid: str) -> Role | None: ...

    def members(self, gid: str) -> list[Member]: ...

    def add_members(self, gid: str, actor: str, uids: Sequence[str], max_members: int,
                    at_ms: int) -> None: ...

    def remove_member(self, gid: str, actor: str, uid: str) -> None: ...

    def set_role(self, gid: str, actor: str, uid: str, role: Role) -> None: ...

    def dissolve(self, gid: str, actor: str) -> list[str]: ...

    def send_to_group(self, sender: str, gid: str, body: str, client_msg_id: str | None,
                      sent_at: int) -> GroupSend: ...

    def group_history(self, gid: str, uid: str, before: int | None, after: int | None,
                      limit: int) -> list[Message]: ...

    def conversations(self, uid: str, limit: int) -> tuple[list[Conversation], bool]: ...

    def mark_read(self, uid: str, peer: str | None, group: str | None, msgid: int) -> int: ...
