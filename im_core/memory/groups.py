"""Groups and conversations in dicts: the group half of ``InMemoryMailbox``.

A mixin, because a group send must write the inboxes the mailbox keeps, under the
mailbox's one lock; ``InMemoryMailbox`` inherits it and owns the state it names.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

import attrs

from im_core.group_models import Conversation, Group, Member, Role, may_remove
from im_core.models import Message
from im_core.ports.groups import GroupFull, GroupSend, NotAllowed, NotAMember, UnknownGroup
from im_core.ports.mailbox import UnknownUser

__all__ = ["InMemoryGroups"]


class _Blocking(Protocol):
    blocks: dict[str, None]


@attrs.define
class _Membership:
    role: Role
    joined_at: int
    read_seq: int


@attrs.define
class _Group:
    name: str
    owner: str
    created_at: int
    members: dict[str, _Membership] = attrs.Factory(dict)
    history: list[int] = attrs.Factory(list)


class InMemoryGroups:
    """The ``GroupMailbox`` methods over the mailbox's dicts (see the module).

    A conversation's sequence is the length of its history list, so a read position
    is a count of messages, and ``unread`` a subtraction.
    """

    _lock: threading.Lock
    _ids: Iterator[int]
    _users: Mapping[str, _Blocking]
    _messages: dict[int, Message]
    _inbox: dict[str, list[int]]
    _conversations: dict[tuple[str, str], list[int]]
    _sent: dict[tuple[str, str], int]
    _groups: dict[str, _Group]
    _reads: dict[str, dict[str, int]]  # owner -> peer -> read position (private)

    def _check(self) -> None: ...

    def _init_groups(self) -> None:
        self._groups = {}
        self._reads = {}

    def _note_private(self, sender: str, recipient: str) -> None:
        """After a private send (under the lock): the sender has read its own message."""
        count = len(self._conversations[_pair(sender, recipient)])
        self._reads.setdefault(sender, {})[recipient] = count
        self._reads.setdefault(recipient, {}).setdefault(sender, 0)

    def create_group(self, gid: str, name: str, owner: str, members: Sequence[str],
                     max_members: int, at_ms: int) -> Group:
        self._check()
        with self._lock:
            everyone = list(dict.fromkeys([owner, *members]))
            for uid in everyone:
                if uid not in self._users:
                    raise UnknownUser(uid)
            if len(everyone) > max_members:
                raise GroupFull(max_members)
            group = self._groups[gid] = _Group(name, owner, at_ms)
            for uid in everyone:
                group.members[uid] = _Membership("owner" if uid == owner else "member",
                                                 at_ms, 0)
            return Group(gid, name, owner, at_ms, len(everyone))

    def group(self, gid: str) -> Group | None:
        self._check()
        with self._lock:
            found = self._groups.get(gid)
            if found is None:
                return None
            return Group(gid, found.name, found.owner, found.created_at, len(found.members))

    def role(self, gid: str, uid: str) -> Role | None:
        self._check()
        with self._lock:
            found = self._groups.get(gid)
            member = found.members.get(uid) if found else None
            return member.role if member else None

    def members(self, gid: str) -> list[Member]:
        self._check()
        with self._lock:
            found = self._groups.get(gid)
            if found is None:
                return []
            return [Member(uid, m.role, m.joined_at) for uid, m in sorted(found.members.items())]

    def add_members(self, gid: str, actor: str, uids: Sequence[str], max_members: int,
                    at_ms: int) -> None:
        self._check()
        with self._lock:
            group = self._member_of(gid, actor)
            if group.members[actor].role == "member":
                raise NotAllowed("only the owner and admins add members")
            new = [uid for uid in dict.fromkeys(uids) if uid not in group.members]
            for uid in new:
                if uid not in self._users:
                    raise UnknownUser(uid)
            if len(group.members) + len(new) > max_members:
                raise GroupFull(max_members)
            for uid in new:
                group.members[uid] = _Membership("member", at_ms, len(group.history))

    def remove_member(self, gid: str, actor: str, uid: str) -> None:
        self._check()
        with self._lock:
            group = self._member_of(gid, actor)
            target = group.members.get(uid)
            if target is None:
                raise NotAMember(gid, uid)
            if uid == actor:
                if target.role == "owner":
                    raise NotAllowed("the owner cannot leave: dissolve the group or hand "
                                     "ownership over first")
            elif not may_remove(group.members[actor].role, target.role):
                raise NotAllowed("the owner removes anyone; admins remove members only")
            del group.members[uid]

    def set_role(self, gid: str, actor: str, uid: str, role: Role) -> None:
        self._check()
        with self._lock:
            group = self._member_of(gid, actor)
            if group.members[actor].role != "owner":
                raise NotAllowed("only the owner changes roles")
            target = group.members.get(uid)
            if target is None:
                raise NotAMember(gid, uid)
            if uid == actor:
                if role != "owner":
                    raise NotAllowed("the owner hands ownership over to another member")
                return
            if role == "owner":
                group.members[actor].role = "admin"
                group.owner = uid
            target.role = role

    def dissolve(self, gid: str, actor: str) -> list[str]:
        self._check()
        with self._lock:
            group = self._member_of(gid, actor)
            if group.members[actor].role != "owner":
                raise NotAllowed("only the owner dissolves the group")
            del self._groups[gid]
            return sorted(group.members)

    def send_to_group(self, sender: str, gid: str, body: str, client_msg_id: str | None,
                      sent_at: int) -> GroupSend:
        self._check()
        with self._lock:
            group = self._member_of(gid, sender)
            others = [uid for uid in group.members if uid != sender]
            if client_msg_id is not None and (sender, client_msg_id) in self._sent:
                return self._messages[self._sent[sender, client_msg_id]], False, others
            msgid = next(self._ids)
            message = Message(msgid, sender, None, body, sent_at, client_msg_id, gid)
            self._messages[msgid] = message
            group.history.append(msgid)
            if client_msg_id is not None:
                self._sent[sender, client_msg_id] = msgid
            recipients = [uid for uid in others if sender not in self._users[uid].blocks]
            for uid in recipients:
                self._inbox.setdefault(uid, []).append(msgid)
            group.members[sender].read_seq = len(group.history)
            return message, True, recipients

    def group_history(self, gid: str, uid: str, before: int | None, after: int | None,
                      limit: int) -> list[Message]:
        self._check()
        with self._lock:
            ids = self._member_of(gid, uid).history
            hi = len(ids) if before is None else bisect.bisect_left(ids, before)
            lo = 0 if after is None else bisect.bisect_right(ids, after)
            return [self._messages[i] for i in reversed(ids[max(lo, hi - limit) : hi])]

    def conversations(self, uid: str, limit: int) -> tuple[list[Conversation], bool]:
        self._check()
        with self._lock:
            found: list[tuple[int, Conversation]] = []
            for peer, read in self._reads.get(uid, {}).items():
                ids = self._conversations[_pair(uid, peer)]
                last = self._messages[ids[-1]]
                found.append((ids[-1], Conversation(peer, None, None, last, len(ids) - read)))
            for gid, group in self._groups.items():
                member = group.members.get(uid)
                if member is None:
                    continue
                ids = group.history
                last_message = self._messages[ids[-1]] if ids else None
                found.append((ids[-1] if ids else 0, Conversation(
                    None, gid, group.name, last_message, len(ids) - member.read_seq)))
            found.sort(key=lambda item: -item[0])
            return [c for _, c in found[:limit]], len(found) > limit

    def mark_read(self, uid: str, peer: str | None, group: str | None, msgid: int) -> int:
        self._check()
        with self._lock:
            if group is not None:
                found = self._member_of(group, uid)
                member = found.members[uid]
                member.read_seq = max(member.read_seq, bisect.bisect_right(found.history, msgid))
                return len(found.history) - member.read_seq
            assert peer is not None
            if peer not in self._users:
                raise UnknownUser(peer)
            reads = self._reads.get(uid, {})
            if peer not in reads:
                return 0
            ids = self._conversations[_pair(uid, peer)]
            reads[peer] = max(reads[peer], bisect.bisect_right(ids, msgid))
            return len(ids) - reads[peer]

    def _member_of(self, gid: str, uid: str) -> _Group:
        """The group, once ``uid`` is known to be a member (under the lock)."""
        group = self._groups.get(gid)
        if group is None:
            raise UnknownGroup(gid)
        if uid not in group.members:
            raise NotAMember(gid, uid)
        return group


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)
