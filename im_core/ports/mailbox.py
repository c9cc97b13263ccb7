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

__all__ = ["MailboxRepository", "MailboxUnavailable", "UnknownUser"]


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


class MailboxRepository(Protocol):
    """Stores users, contacts, inboxes and history durably.

    Contract:
        - ``record_login(uid, client_type, at_ms)`` remembers that ``uid`` logged in
          (first seen, last login, last client type); from then on the user is known.
        - ``known_users(uids)`` returns the subset of ``uids`` that ever logged in.
        - ``send(...)`` stores one message in the recipient's inbox and in history
          atomically (both or neither) and returns ``(message, True)``. If the same
          sender already sent with the same non-null ``client_msg_id``, it stores
          nothing and returns ``(that earlier message, False)``, also when two such
          sends race. Raises ``UnknownUser`` if the recipient is not known.
          msgids are unique, and for each recipient a message never becomes visible
          in the inbox after one with a higher msgid: a cumulative ack is safe.
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
        - ``contacts(uid)`` lists ``uid``'s contacts, sorted by uid;
          ``add_contact`` is idempotent and raises ``UnknownUser`` for an unknown
          contact; ``remove_contact`` is idempotent.
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

    def add_contact(self, uid: str, contact: str) -> None: ...

    def remove_contact(self, uid: str, contact: str) -> None: ...

    def ping(self) -> None: ...
