"""The use cases of group chat and of the chat list: groups, members, conversations.

``GroupChat`` is a part of ``ChatService`` (which inherits it); it declares what it
uses of the service. Groups are delivered by write diffusion: a group message is
stored once in the group's history and in each member's inbox in one transaction,
so the heartbeat, its cumulative ack and the long-poll deliver it unchanged.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attrs

from im_core.errors import ClientMsgIdReused, InvalidInput
from im_core.group_models import (
    Conversation,
    Group,
    Member,
    check_gid,
    check_group_name,
    check_role,
    parse_conversation_id,
)
from im_core.limits import LIST_PAGE_DEFAULT, LIST_PAGE_MAX, Limits, RateLimit
from im_core.models import (
    HISTORY_LIMIT_DEFAULT,
    HISTORY_LIMIT_MAX,
    HistoryPage,
    Message,
    Session,
    check_body,
    check_client_msg_id,
    check_limit,
    check_msgid,
    check_uid,
)
from im_core.ports import Clock, MailboxRepository, SessionStore
from im_core.ports.groups import NotAMember, UnknownGroup
from im_core.ports.signals import InboxSignals

if TYPE_CHECKING:
    from im_core.pacing import Activity
    from im_core.ports import EventSink

__all__ = [
    "CONVERSATIONS_LIMIT_DEFAULT",
    "CONVERSATIONS_LIMIT_MAX",
    "ConversationsPage",
    "GroupChat",
    "MembersPage",
    "new_group_id",
]

CONVERSATIONS_LIMIT_MAX = 500
CONVERSATIONS_LIMIT_DEFAULT = 100


def new_group_id() -> str:
    """96 random bits, URL-safe (16 characters): ids are never reused, nor guessed."""
    return secrets.token_urlsafe(12)


@attrs.frozen
class MembersPage:
    """A page of a group's members in uid order, each ``(member, online)``."""

    members: tuple[tuple[Member, bool], ...]
    next_after: str | None


@attrs.frozen
class ConversationsPage:
    """The caller's most recent conversations; ``more``: older ones were left out."""

    conversations: tuple[Conversation, ...]
    more: bool


class GroupChat:
    """Group and conversation use cases; mixed into ``ChatService``."""

    mailbox: MailboxRepository
    sessions: SessionStore
    signals: InboxSignals
    clock: Clock
    limits: Limits
    new_group_id: Callable[[], str]

    if TYPE_CHECKING:
        activity: Activity
        events: EventSink

        def _limit(self, what: str, key: str, rate: RateLimit | None) -> None: ...

        def muted_retry(self, uid: str, to: str | None, client_msg_id: str | None,
                        group: str | None = None) -> Message | None: ...

        def moderate(self, sender: str, target: str, body: str) -> str: ...

        def _after_commit(self, what: str, step: Callable[..., None],
                          *args: object) -> None: ...

    def create_group(self, session: Session, name: object,
                     members: object = ()) -> Group:
        """Make a group with the caller as owner and ``members`` (uids) as members.

        Raises:
            InvalidInput: a malformed name or uid, or ``members`` is not a list.
            UnknownUser: a member never logged in; nothing was made.
            GroupFull: more members than ``limits.max_group_members``.
            RateLimited: counted with the caller's sends.
        """
        name = check_group_name(name)
        uids = self._uids(members, "members")
        self._limit("group creations", f"send:{session.uid}", self.limits.sends)
        return self.mailbox.create_group(self.new_group_id(), name, session.uid, uids,
                                         self.limits.max_group_members,
                                         self.clock.now_ms())

    def group_info(self, session: Session, gid: object) -> tuple[Group, str]:
        """The group and the caller's role in it (members only)."""
        gid = check_gid(gid)
        group = self.mailbox.group(gid)
        if group is None:
            raise UnknownGroup(gid)
        role = self.mailbox.role(gid, session.uid)
        if role is None:
            raise NotAMember(gid, session.uid)
        return group, role

    def group_members(self, session: Session, gid: object, after: object = None,
                      limit: object = LIST_PAGE_DEFAULT) -> MembersPage:
        """A page of the members (uid order), each with whether it is online now.

        Members see each other's presence whatever ``presence_scope`` says: sharing
        a group is what a guild roster is for.
        """
        self.group_info(session, gid)
        everyone = self.mailbox.members(check_gid(gid))
        start = 0
        if after is not None:
            after = check_uid(after, "after")
            start = next((i for i, m in enumerate(everyone) if m.uid > after), len(everyone))
        count = check_limit(limit, "limit", LIST_PAGE_MAX)
        page = everyone[start : start + count]
        found = (self.sessions.presence([m.uid for m in page], self.clock.now_ms())
                 if page else {})
        members = tuple((m, m.uid in found and found[m.uid].online) for m in page)
        more = start + count < len(everyone)
        return MembersPage(members, page[-1].uid if more and page else None)

    def add_members(self, session: Session, gid: object, uids: object) -> None:
        """Add players (idempotent); the owner and admins only.

        Raises:
            UnknownGroup, NotAMember, NotAllowed, UnknownUser, GroupFull.
        """
        gid = check_gid(gid)
        wanted = self._uids(uids, "uid")
        if not wanted:
            raise InvalidInput("uid", "name at least one player")
        self.mailbox.add_members(gid, session.uid, wanted, self.limits.max_group_members,
                                 self.clock.now_ms())

    def remove_member(self, session: Session, gid: object, uid: object) -> None:
        """Remove a member (owner, admins) or leave (``uid`` is the caller)."""
        self.mailbox.remove_member(check_gid(gid), session.uid, check_uid(uid))

    def set_role(self, session: Session, gid: object, uid: object, role: object) -> None:
        """The owner makes a member an admin or a member, or hands ownership over."""
        self.mailbox.set_role(check_gid(gid), session.uid, check_uid(uid), check_role(role))

    def dissolve_group(self, session: Session, gid: object) -> None:
        """The owner ends the group: it leaves every member's chat list, and what
        their inboxes already hold of it stays until acknowledged."""
        self.mailbox.dissolve(check_gid(gid), session.uid)

    def send_to_group(self, session: Session, gid: object, body: object,
                      client_msg_id: object = None) -> tuple[Message, bool]:
        """Store a message in the group's history and every member's inbox, at most once.

        A member who blocked the sender does not get it; the send still succeeds.

        Raises:
            InvalidInput, UnknownGroup, NotAMember, RateLimited, Muted (in the group's
            scope ``group:<gid>`` or globally), ContentRejected (as ``send``), and
            ClientMsgIdReused: the id was used before for another target or body.
        """
        gid = check_gid(gid)
        body = check_body(body)
        client_msg_id = check_client_msg_id(client_msg_id)
        self._limit("sends", f"send:{session.uid}", self.limits.sends)
        earlier = self.muted_retry(session.uid, None, client_msg_id, group=gid)
        if earlier is not None:
            return earlier, False
        body = self.moderate(session.uid, f"group:{gid}", body)
        self.activity.saw(session.uid, self.clock.now_ms())
        message, created, recipients = self.mailbox.send_to_group(
            session.uid, gid, body, client_msg_id, self.clock.now_ms())
        if not created and (message.group, message.recipient, message.body) != (gid, None, body):
            assert client_msg_id is not None
            raise ClientMsgIdReused(client_msg_id, message.msgid)
        # After the commit, as for a private send; one batched ring for every member.
        self._after_commit("ring the members", self.signals.ring_many, recipients)
        if created:
            self.events.message_sent(message)
        return message, created

    def group_history(self, session: Session, gid: object, before: object = None,
                      after: object = None,
                      limit: object = HISTORY_LIMIT_DEFAULT) -> HistoryPage:
        """A page of the group's history, newest first (members only)."""
        gid = check_gid(gid)
        before = check_msgid(before, "before")
        after = check_msgid(after, "after")
        limit = check_limit(limit, "limit", HISTORY_LIMIT_MAX)
        found = self.mailbox.group_history(gid, session.uid, before, after, limit + 1)
        page = tuple(found[:limit])
        return HistoryPage(page, page[-1].msgid if len(found) > limit else None)

    def conversations(self, session: Session,
                      limit: object = CONVERSATIONS_LIMIT_DEFAULT) -> ConversationsPage:
        """The caller's private peers and groups, most recent first, with unread counts."""
        count = check_limit(limit, "limit", CONVERSATIONS_LIMIT_MAX)
        found, more = self.mailbox.conversations(session.uid, count)
        return ConversationsPage(tuple(found), more)

    def mark_read(self, session: Session, conversation: object, msgid: object) -> int:
        """Move the caller's read position (not the delivery ack); the unread count after."""
        peer, group = parse_conversation_id(conversation)
        through = check_msgid(msgid, "msgid")
        if through is None:
            raise InvalidInput("msgid", "is required")
        return self.mailbox.mark_read(session.uid, peer, group, through)

    def _uids(self, value: object, field: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise InvalidInput(field, "must be a list of uids")
        if len(value) > self.limits.max_group_members:
            raise InvalidInput(field, f"names at most {self.limits.max_group_members} players")
        return list(dict.fromkeys(check_uid(uid, field) for uid in value))
