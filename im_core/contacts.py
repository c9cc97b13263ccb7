"""The use cases about other players: presence, contacts and blocks.

A mixin of ``ChatService`` (``im_core.service``), which supplies the ports and
settings declared below; kept apart so that each group of use cases reads on its own.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import attrs

from im_core.errors import InvalidInput
from im_core.limits import LIST_PAGE_DEFAULT, LIST_PAGE_MAX, Limits, PresenceScope
from im_core.models import OFFLINE, Presence, Session, check_limit, check_uid
from im_core.ports import Clock, MailboxRepository, SessionStore, UnknownUser

__all__ = ["PRESENCE_MAX_UIDS", "ContactsPage", "ContactsUseCases", "UidPage", "uid_page"]

PRESENCE_MAX_UIDS = 100


@attrs.frozen
class UidPage:
    """A page of a player's list (contacts, blocks), sorted by uid.

    ``next_after`` is the ``after`` to ask for the next page, or ``None`` at the end.
    """

    uids: tuple[str, ...]
    next_after: str | None


@attrs.frozen
class ContactsPage:
    """A page of contacts in uid order, each ``(uid, online)``; see ``UidPage``."""

    contacts: tuple[tuple[str, bool], ...]
    next_after: str | None


class ContactsUseCases:
    """Presence, contacts and blocks; ``ChatService`` provides the attributes below."""

    sessions: SessionStore
    mailbox: MailboxRepository
    clock: Clock
    limits: Limits
    presence_scope: PresenceScope

    def presence(self, session: Session, uids: Sequence[object]) -> dict[str, Presence]:
        """Tell, for each uid asked about, whether it is online now.

        A uid without a live session is ``OFFLINE`` (no client type, no last call),
        whichever session store is behind. With ``presence_scope="contacts"`` so is
        every player that does not have the caller among its contacts.
        """
        if not 1 <= len(uids) <= PRESENCE_MAX_UIDS:
            raise InvalidInput("uid", f"must be given 1 to {PRESENCE_MAX_UIDS} times")
        wanted = list(dict.fromkeys(check_uid(uid) for uid in uids))
        found = self._visible(session, self.sessions.presence(wanted, self.clock.now_ms()))
        return {uid: found.get(uid, OFFLINE) for uid in wanted}

    def _visible(self, session: Session, found: dict[str, Presence]) -> dict[str, Presence]:
        """``found`` without the players the caller may not see (``presence_scope``)."""
        if self.presence_scope == "all" or not found:
            return found
        others = [uid for uid in found if uid != session.uid]
        shown = self.mailbox.listed_by(session.uid, others) if others else set()
        return {uid: p for uid, p in found.items() if uid == session.uid or uid in shown}

    def contacts(self, session: Session) -> list[tuple[str, bool]]:
        """List all the caller's contacts, each with whether it is online now."""
        return self._online(session, self.mailbox.contacts(session.uid))

    def contacts_page(
        self, session: Session, after: object = None, limit: object = LIST_PAGE_DEFAULT
    ) -> ContactsPage:
        """A page of the caller's contacts (uid order), each with whether it is online."""
        page = uid_page(self.mailbox.contacts(session.uid), after, limit)
        return ContactsPage(tuple(self._online(session, list(page.uids))), page.next_after)

    def _online(self, session: Session, uids: list[str]) -> list[tuple[str, bool]]:
        if not uids:
            return []
        found = self._visible(session, self.sessions.presence(uids, self.clock.now_ms()))
        return [(uid, uid in found and found[uid].online) for uid in uids]

    def add_contact(self, session: Session, contact: object) -> None:
        """Add a known user to the caller's contacts (again is fine).

        Raises:
            TooManyContacts: the list is full (``limits.max_contacts``).
        """
        self.mailbox.add_contact(session.uid, check_uid(contact), self.limits.max_contacts)

    def remove_contact(self, session: Session, contact: object) -> None:
        """Remove a user from the caller's contacts (absent is fine, unknown is not)."""
        contact = check_uid(contact)
        if not self.mailbox.known_users([contact]):
            raise UnknownUser(contact)
        self.mailbox.remove_contact(session.uid, contact)

    def blocks(self, session: Session, after: object = None,
               limit: object = LIST_PAGE_DEFAULT) -> UidPage:
        """A page of the players the caller takes no messages from, in uid order."""
        return uid_page(self.mailbox.blocks(session.uid), after, limit)

    def block(self, session: Session, uid: object) -> None:
        """Refuse every message from ``uid`` from now on (again is fine).

        Raises:
            UnknownUser: ``uid`` never logged in.
            TooManyBlocks: the list is full (``limits.max_blocks``).
        """
        self.mailbox.block(session.uid, check_uid(uid), self.limits.max_blocks)

    def unblock(self, session: Session, uid: object) -> None:
        """Take messages from ``uid`` again (not blocked is fine, unknown is not)."""
        uid = check_uid(uid)
        if not self.mailbox.known_users([uid]):
            raise UnknownUser(uid)
        self.mailbox.unblock(session.uid, uid)


def uid_page(uids: list[str], after: object, limit: object) -> UidPage:
    """The uids of a sorted list after ``after``, at most ``limit`` of them.

    The lists are bounded (``Limits``), so a page is cut here rather than in the
    store, where collations order uids differently from one database to the next.
    """
    start = 0 if after is None else bisect.bisect_right(uids, check_uid(after, "after"))
    count = check_limit(limit, "limit", LIST_PAGE_MAX)
    page = tuple(uids[start : start + count])
    return UidPage(page, page[-1] if start + count < len(uids) else None)
