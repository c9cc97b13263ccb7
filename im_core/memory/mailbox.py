"""Inboxes, history, contacts and blocks in dicts: the mailbox for tests and embedding."""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Iterable

import attrs

from im_core.memory.groups import InMemoryGroups
from im_core.models import Inbox, Message
from im_core.ports import (
    Blocked,
    MailboxUnavailable,
    TooManyBlocks,
    TooManyContacts,
    UnknownUser,
)

__all__ = ["InMemoryMailbox"]


@attrs.define
class _User:
    first_seen: int
    last_login: int
    client_type: str
    contacts: dict[str, None] = attrs.Factory(dict)
    blocks: dict[str, None] = attrs.Factory(dict)


class InMemoryMailbox(InMemoryGroups):
    """Users, contacts, inboxes and history in dicts and sorted lists.

    One lock makes every call atomic, which gives the contract's ordering for free:
    msgids are handed out under the lock, in the order messages become visible.
    The groups and conversations are ``InMemoryGroups``'s, over the same state.
    """

    def __init__(self) -> None:
        self.down = False
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._users: dict[str, _User] = {}
        self._messages: dict[int, Message] = {}
        self._inbox: dict[str, list[int]] = {}
        self._conversations: dict[tuple[str, str], list[int]] = {}
        self._sent: dict[tuple[str, str], int] = {}
        self._pulled: dict[str, int] = {}  # uid -> the "pulled through" mark
        self._init_groups()

    def record_login(self, uid: str, client_type: str, at_ms: int) -> None:
        self._check()
        with self._lock:
            user = self._users.get(uid)
            if user is None:
                self._users[uid] = _User(at_ms, at_ms, client_type)
            else:
                user.last_login = at_ms
                user.client_type = client_type

    def known_users(self, uids: Iterable[str]) -> set[str]:
        self._check()
        with self._lock:
            return {uid for uid in uids if uid in self._users}

    def send(
        self,
        sender: str,
        recipient: str,
        body: str,
        client_msg_id: str | None,
        sent_at: int,
    ) -> tuple[Message, bool]:
        self._check()
        with self._lock:
            if client_msg_id is not None and (sender, client_msg_id) in self._sent:
                return self._messages[self._sent[sender, client_msg_id]], False
            target = self._users.get(recipient)
            if target is None:
                raise UnknownUser(recipient)
            if sender in target.blocks:
                raise Blocked(recipient)
            msgid = next(self._ids)
            message = Message(msgid, sender, recipient, body, sent_at, client_msg_id)
            self._messages[msgid] = message
            self._inbox.setdefault(recipient, []).append(msgid)
            self._conversations.setdefault(_pair(sender, recipient), []).append(msgid)
            if client_msg_id is not None:
                self._sent[sender, client_msg_id] = msgid
            self._note_private(sender, recipient)
            return message, True

    def pull(self, uid: str, ack: int | None, limit: int) -> Inbox:
        self._check()
        with self._lock:
            inbox = self._inbox.get(uid, [])
            mark = self._pulled.get(uid, 0)
            if ack is not None:
                del inbox[: bisect.bisect_right(inbox, min(ack, mark))]
            page = inbox[:limit]
            if page and page[-1] > mark:
                self._pulled[uid] = page[-1]
            return Inbox(tuple(self._messages[i] for i in page), len(inbox) > limit)

    def history(
        self, uid: str, peer: str, before: int | None, after: int | None, limit: int
    ) -> list[Message]:
        self._check()
        with self._lock:
            ids = self._conversations.get(_pair(uid, peer), [])
            hi = len(ids) if before is None else bisect.bisect_left(ids, before)
            lo = 0 if after is None else bisect.bisect_right(ids, after)
            return [self._messages[i] for i in reversed(ids[max(lo, hi - limit) : hi])]

    def waiting(self, uid: str) -> list[int]:
        """The msgids in ``uid``'s inbox, lowest first, read without pulling.

        Not part of the port: a pull raises the "pulled through" mark, this does not,
        so tests and debugging can look without changing what an ack may delete.
        """
        with self._lock:
            return list(self._inbox.get(uid, []))

    def contacts(self, uid: str) -> list[str]:
        self._check()
        with self._lock:
            user = self._users.get(uid)
            return sorted(user.contacts) if user else []

    def add_contact(self, uid: str, contact: str, max_contacts: int | None = None) -> None:
        self._check()
        with self._lock:
            _add(self._known(uid, contact).contacts, contact, max_contacts, TooManyContacts)

    def remove_contact(self, uid: str, contact: str) -> None:
        self._check()
        with self._lock:
            user = self._users.get(uid)
            if user is not None:
                user.contacts.pop(contact, None)

    def listed_by(self, uid: str, owners: Iterable[str]) -> set[str]:
        self._check()
        with self._lock:
            return {owner for owner in owners
                    if owner in self._users and uid in self._users[owner].contacts}

    def blocks(self, uid: str) -> list[str]:
        self._check()
        with self._lock:
            user = self._users.get(uid)
            return sorted(user.blocks) if user else []

    def block(self, uid: str, blocked: str, max_blocks: int | None = None) -> None:
        self._check()
        with self._lock:
            _add(self._known(uid, blocked).blocks, blocked, max_blocks, TooManyBlocks)

    def unblock(self, uid: str, blocked: str) -> None:
        self._check()
        with self._lock:
            user = self._users.get(uid)
            if user is not None:
                user.blocks.pop(blocked, None)

    def _known(self, uid: str, other: str) -> _User:
        """``uid``'s record, once both are known (under the lock)."""
        for who in (other, uid):
            if who not in self._users:
                raise UnknownUser(who)
        return self._users[uid]

    def sent(self, sender: str, client_msg_id: str) -> Message | None:
        self._check()
        with self._lock:
            msgid = self._sent.get((sender, client_msg_id))
            return None if msgid is None else self._messages[msgid]

    def ping(self) -> None:
        self._check()

    def _check(self) -> None:
        if self.down:
            raise MailboxUnavailable("the in-memory mailbox is switched off")


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def _add(entries: dict[str, None], uid: str, limit: int | None,
         full: type[TooManyContacts | TooManyBlocks]) -> None:
    if uid not in entries and limit is not None and len(entries) >= limit:
        raise full(limit)
    entries.setdefault(uid, None)
