"""The mailbox port: users, contacts, each user's inbox and the shared history.

This is the article's database (the article is named in docs/architecture.md): the
users table, the contacts table, the offline table (the inbox) and the cloud message
table (history).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from im_core.errors import StorageUnavailable
from im_core.models import Inbox, Message
from im_core.ports.groups import GroupMailbox

__all__ = [
    "Blocked",
    "ListFull",
    "MailboxRepository",
    "MailboxUnavailable",
    "TooManyBlocks",
    "TooManyContacts",
    "UnknownUser",
]


class MailboxUnavailable(StorageUnavailable):
    """The database did not answer in time, or the transaction could not commit."""


class UnknownUser(LookupError):
    """The named user has never logged in, so nothing can be addressed to them.

    Attributes:
        uid: the user that was not found.
    """

    def __init__(self, uid: str) -> None:
        super().__init__(uid)
        self.uid = uid


class Blocked(PermissionError):
    """The recipient has blocked the sender: the message was refused and not stored.

    Attributes:
        recipient: the player who blocked the sender.
    """

    def __init__(self, recipient: str) -> None:
        super().__init__(f"{recipient!r} does not take messages from you")
        self.recipient = recipient


class ListFull(ValueError):
    """A player's list (contacts, blocks) already holds as many entries as allowed.

    Attributes:
        limit: how many entries the list may hold.
    """

    what = "list"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the {self.what} list holds at most {limit} players; remove one first")
        self.limit = limit


class TooManyContacts(ListFull):
    """``add_contact`` of a new contact to a full contact list."""

    what = "contact"


class TooManyBlocks(ListFull):
    """``block`` of a new player on a full block list."""

    what = "block"


class MailboxRepository(GroupMailbox, Protocol):
    """Stores users, contacts, inboxes and history durably (and groups: ``GroupMailbox``).

    Contract:
        - ``record_login(uid, client_type, at_ms)`` remembers that ``uid`` logged in
          (first seen, last login, last client type); from then on the user is known.
        - ``known_users(uids)`` returns the subset of ``uids`` that ever logged in.
        - ``send(...)`` stores one message in the recipient's inbox and in history
          atomically (both or neither) and returns ``(message, True)``. If the same
          sender already sent with the same non-null ``client_msg_id``, it stores
          nothing and returns ``(that earlier message, False)``, also when two such
          sends race. Raises ``UnknownUser`` if the recipient is not known, and
          ``Blocked``, storing nothing, if the recipient has blocked the sender
          (checked atomically with the store: a send that starts after ``block``
          returned is refused). A retry of a message stored before the block still
          returns it.
          msgids are unique, and for each recipient a message never becomes visible
          in the inbox after one with a higher msgid: a cumulative ack is safe.
          The send also moves the pair's conversation on (``conversations``): its
          sequence, its last message, and the sender's read position.
        - The mailbox keeps, per user, a "pulled through" mark: the highest msgid a
          pull has returned to that user (0 if none). It never goes down.
        - ``pull(uid, ack, limit)`` first deletes the inbox messages with
          ``msgid <= min(ack, mark)``, ``mark`` being the mark before this pull (no
          deletion if ``ack`` is ``None``); then returns up to ``limit`` of the rest,
          lowest msgid first, and whether more are waiting; then raises the mark to
          the highest msgid it returned. So an ack deletes only messages a pull has
          returned: an ack beyond them (a msgid the user sent, or "the highest I
          know") deletes nothing more. Pulling never deletes; only an ack does. A
          pull that returns nothing writes nothing.
        - ``history(uid, peer, before, after, limit)`` returns up to ``limit`` messages
          between the two users (both directions) with ``after < msgid < before``
          (a ``None`` bound is open), highest msgid first. It stays correct
          whatever the number of messages stored.
        - ``contacts(uid)`` lists ``uid``'s contacts, sorted by uid (by code point);
          ``add_contact(uid, contact, max_contacts)`` is idempotent, raises
          ``UnknownUser`` for an unknown contact and ``TooManyContacts`` when
          ``contact`` is new and ``uid`` already has ``max_contacts`` (``None``: no
          bound), also when two adds race; ``remove_contact`` is idempotent.
        - ``listed_by(uid, owners)`` returns the subset of ``owners`` that have
          ``uid`` among their contacts.
        - ``blocks(uid)``, ``block(uid, blocked, max_blocks)`` and
          ``unblock(uid, blocked)`` do the same for the players ``uid`` takes no
          messages from (``TooManyBlocks`` for a full list).
        - ``sent(sender, client_msg_id)`` returns the message ``sender`` stored with
          that ``client_msg_id``, or ``None``.
        - ``ping()`` returns if the database answers.
        - Every method raises ``MailboxUnavailable`` when the database cannot
          answer, leaving nothing half-written.
    """

    def record_login(self, uid: str, client_type: str, at_ms: int) -> None: ...

    def known_users(self, uids: Iterable[str]) -> set[str]: ...

    def send(
        self,
        sender: str,
        recipient: str,
        body: str,
        client_msg_id: str | None,
        sent_at: int,
    ) -> tuple[Message, bool]: ...

    def pull(self, uid: str, ack: int | None, limit: int) -> Inbox: ...

    def history(
        self, uid: str, peer: str, before: int | None, after: int | None, limit: int
    ) -> list[Message]: ...

    def contacts(self, uid: str) -> list[str]: ...

    def add_contact(self, uid: str, contact: str, max_contacts: int | None = None) -> None: ...

    def remove_contact(self, uid: str, contact: str) -> None: ...

    def listed_by(self, uid: str, owners: Iterable[str]) -> set[str]: ...

    def blocks(self, uid: str) -> list[str]: ...

    def block(self, uid: str, blocked: str, max_blocks: int | None = None) -> None: ...

    def unblock(self, uid: str, blocked: str) -> None: ...

    def sent(self, sender: str, client_msg_id: str) -> Message | None: ...

    def ping(self) -> None: ...
