"""The use cases of the mailbox IM: log in, heartbeat (and pull), send, read history.

``ChatService`` is what a transport calls. It checks every value from the outside,
talks to the ports, and raises only domain errors (``im_core.errors`` and the
ports' own); it knows nothing of HTTP, so a Python game server can drive it directly.
"""

from __future__ import annotations

import bisect
import logging
import secrets
import threading
from collections.abc import Callable, Sequence

import attrs

from im_core.errors import (
    ClientMsgIdReused,
    InvalidInput,
    RateLimited,
    SessionExpired,
    StorageUnavailable,
)
from im_core.groups import GroupChat, new_group_id
from im_core.limits import LIST_PAGE_DEFAULT, LIST_PAGE_MAX, Limits, PresenceScope, RateLimit
from im_core.memory import InMemoryInboxSignals, InMemoryRateLimiter
from im_core.models import (
    HISTORY_LIMIT_DEFAULT,
    HISTORY_LIMIT_MAX,
    OFFLINE,
    PULL_LIMIT_DEFAULT,
    PULL_LIMIT_MAX,
    HistoryPage,
    Inbox,
    Message,
    Presence,
    Session,
    SessionToken,
    check_body,
    check_client_msg_id,
    check_client_type,
    check_limit,
    check_msgid,
    check_uid,
    check_wait,
)
from im_core.ports import (
    MAX_SESSIONS_DEFAULT,
    AuthUnavailable,
    Clock,
    GameAuth,
    MailboxRepository,
    SessionStore,
    UnknownUser,
)
from im_core.ports.limits import RateLimiter
from im_core.ports.signals import InboxSignals

__all__ = [
    "LIMITER_PAUSE_MS",
    "PRESENCE_MAX_UIDS",
    "ChatService",
    "ContactsPage",
    "HistoryPage",
    "UidPage",
    "new_session_secret",
]

PRESENCE_MAX_UIDS = 100

LIMITER_PAUSE_MS = 5_000
"""How long the rate limits are let through after the limiter failed to answer."""

log = logging.getLogger("im_core")


def new_session_secret() -> str:
    """Return 192 random bits, URL-safe: the unguessable part of a session token."""
    return secrets.token_urlsafe(24)


@attrs.frozen
class UidPage:
    """A page of a player's list (contacts, blocks), sorted by uid.

    ``next_after`` is the ``after`` to ask for the next page, or ``None`` at the end.
    """

    uids: tuple[str, ...]
    next_after: str | None


@attrs.define
class ChatService(GroupChat):
    """The use cases, wired to their ports.

    Args:
        sessions: where live sessions are kept.
        mailbox: where users, contacts, inboxes and history are kept.
        auth: the game's login service.
        clock: the time source for session times and ``sent_at``.
        session_ttl_ms: how long a session lives after its last call.
        new_secret: makes the random part of each new session token.
        signals: rings and waits across nodes, and the inbox hint (in-process by
            default, which is right for one process only).
        max_wait_ms: the longest a heartbeat may be held; below the TTL (by default
            four fifths of it), so a waiting player's session never lapses.
        max_logins_in_flight: logins waiting on the game's login service at once; a
            login beyond it is refused at once (``AuthUnavailable``), so a slow login
            service cannot pile up requests, connections and memory.
        limiter: counts sends and logins against ``limits`` (in-process by default,
            which is right for one process only).
        limits: the rate limits and list bounds (``im_core.limits``).
        presence_scope: ``"all"``: anyone may see anyone's presence; ``"contacts"``:
            a player is seen online only by players it has among its contacts.
        max_sessions_per_uid: the most live sessions one uid holds; a login beyond
            it replaces the session whose last call is oldest.
        new_group_id: makes the id of each new group.

    The group and conversation use cases are ``GroupChat``'s (``im_core.groups``).
    """

    sessions: SessionStore
    mailbox: MailboxRepository
    auth: GameAuth
    clock: Clock
    session_ttl_ms: int = 10_000
    new_secret: Callable[[], str] = new_session_secret
    signals: InboxSignals = attrs.field(factory=InMemoryInboxSignals)
    max_wait_ms: int = attrs.field(
        default=attrs.Factory(lambda self: self.session_ttl_ms * 4 // 5, takes_self=True)
    )
    limiter: RateLimiter = attrs.field(factory=InMemoryRateLimiter)
    limits: Limits = attrs.field(factory=Limits)
    presence_scope: PresenceScope = "all"
    max_logins_in_flight: int = 64
    max_sessions_per_uid: int = attrs.field(default=MAX_SESSIONS_DEFAULT,
                                            validator=attrs.validators.ge(1))
    new_group_id: Callable[[], str] = new_group_id
    _after_commit_failures: int = attrs.field(default=0, init=False)
    _limiter_failures: int = attrs.field(default=0, init=False)
    _limiter_paused_until: int = attrs.field(default=0, init=False)
    _failures_lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)

    _logins: threading.BoundedSemaphore = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._logins = threading.BoundedSemaphore(self.max_logins_in_flight)

    @max_wait_ms.validator
    def _check_max_wait(self, _: attrs.Attribute[int], value: int) -> None:
        if not 0 <= value < self.session_ttl_ms:
            raise ValueError(f"max_wait_ms must be from 0 to below the session TTL, not {value}")

    @property
    def after_commit_failures(self) -> int:
        """How many best-effort steps after a commit have failed since start-up.

        Those steps (rings: wake-ups and the inbox hint) only save work or latency; when one fails
        the answer stays the committed result, and this count is how it is noticed.
        """
        return self._after_commit_failures

    @property
    def limiter_failures(self) -> int:
        """How many rate-limit checks could not be made (and were let through)."""
        return self._limiter_failures

    def login(self, uid: object, game_token: object, client_type: object,
              address: str | None = None) -> Session:
        """Open a session for a player the game's login service vouches for.

        ``address`` (the client's network address, if the transport knows it) is
        limited too, before the credential is checked.

        Raises:
            InvalidInput: a field is malformed.
            RateLimited: too many logins for this uid or from this address.
            InvalidCredentials: the game says the credential does not prove ``uid``.
            AuthUnavailable: the game's login service could not answer.
            StorageUnavailable: the session store or the database could not answer.
        """
        uid = check_uid(uid)
        client_type = check_client_type(client_type)
        if not isinstance(game_token, str) or not game_token or len(game_token) > 8192:
            raise InvalidInput("game_token", "must be a non-empty string")
        if address is not None:
            self._limit("logins from one address", f"login@{address}",
                        self.limits.logins_per_address)
        self._limit("logins", f"login:{uid}", self.limits.logins)
        if not self._logins.acquire(blocking=False):
            raise AuthUnavailable("too many logins are waiting for the game's login service")
        try:
            self.auth.verify(uid, game_token)
        finally:
            self._logins.release()
        now = self.clock.now_ms()
        self.mailbox.record_login(uid, client_type, now)
        session = Session(SessionToken(uid, self.new_secret()), client_type, "login", now)
        self.sessions.create(session, self.session_ttl_ms, self.max_sessions_per_uid)
        return session

    def authenticate(self, token: str | None, command: str) -> Session:
        """Find the caller's live session and extend it, recording ``command``.

        Every authenticated call goes through here, so every call keeps the player
        online, as the heartbeat does.

        Raises:
            SessionReplaced: the session was ended by a newer login of its uid (a
                ``SessionExpired``).
            SessionExpired: no live session has this token.
        """
        parsed = SessionToken.parse(token) if token else None
        if parsed is None:
            raise SessionExpired("no session token")
        session = self.sessions.touch(parsed, command, self.clock.now_ms(), self.session_ttl_ms)
        if session is None:
            raise SessionExpired("the session has expired or was closed")
        return session

    def heartbeat(
        self,
        session: Session,
        ack: object = None,
        limit: object = PULL_LIMIT_DEFAULT,
        wait: object = 0,
    ) -> Inbox:
        """Delete what the client acknowledged, then return what is waiting for it.

        With ``wait`` (seconds, capped at ``max_wait_ms``) and an empty inbox, the call
        is held until a message for the player is committed on any node (a ring) or the
        wait ends; either way the inbox is read again before answering, so a lost ring
        costs latency, never a message. The session is checked again after the wait, so
        a logout elsewhere ends the wait with ``SessionExpired``, and extended, so a
        waiting player stays online.

        When the signals know the inbox is empty (the inbox hint) the mailbox is not
        asked: an idle player's heartbeat costs no query.

        Raises:
            InvalidInput: ``ack``, ``limit`` or ``wait`` is malformed.
            SessionExpired: the session ended while the call was held.
        """
        ack = check_msgid(ack, "ack")
        limit = check_limit(limit, "limit", PULL_LIMIT_MAX)
        wait_ms = min(check_wait(wait), self.max_wait_ms)
        if wait_ms <= 0:
            return self._pull(session.uid, ack, limit)
        # Listen first: a ring between the read and the wait must not be missed.
        waiter = self.signals.listen(session.uid)
        try:
            inbox = self._pull(session.uid, ack, limit)
            deadline = self.clock.now_ms() + wait_ms
            while not inbox.messages:
                remaining = deadline - self.clock.now_ms()
                rung = remaining > 0 and waiter.wait(remaining / 1000)
                session = self.authenticate(str(session.token), "heartbeat")
                inbox = self._pull(session.uid, None, limit)
                if not rung:
                    break
            return inbox
        finally:
            waiter.close()

    def _pull(self, uid: str, ack: int | None, limit: int) -> Inbox:
        hint = self.signals.hint(uid, self.clock.now_ms())
        if hint.known_empty:
            # Seen empty and nothing rang since: nothing to return, nothing to delete.
            return Inbox((), False)
        inbox = self.mailbox.pull(uid, ack, limit)
        if not inbox.messages:
            # The ack is committed: from here on, only a hint (a lost one costs a query).
            self.signals.mark_empty(uid, hint.version, self.clock.now_ms())
        return inbox

    def send(
        self, session: Session, to: object, body: object, client_msg_id: object = None
    ) -> tuple[Message, bool]:
        """Store a message in the recipient's inbox and in history, at most once.

        Returns:
            The message and ``True`` if it was stored now, or the message stored by an
            earlier call with the same ``client_msg_id`` and ``False``.

        Raises:
            InvalidInput: a field is malformed (``MessageTooLong`` for a long body).
            UnknownUser: the recipient never logged in.
            ClientMsgIdReused: ``client_msg_id`` was used before for another recipient
                or body; nothing was stored.
            Blocked: the recipient has blocked the sender; nothing was stored.
            RateLimited: the sender sent too many messages lately; nothing was stored.

        Once the message is committed the answer is the message, whatever follows:
        the note that follows only shortens the delivery delay, and an error here
        would make a client resend a message that is stored.
        """
        to = check_uid(to, "to")
        body = check_body(body)
        client_msg_id = check_client_msg_id(client_msg_id)
        self._limit("sends", f"send:{session.uid}", self.limits.sends)
        message, created = self.mailbox.send(
            session.uid, to, body, client_msg_id, self.clock.now_ms()
        )
        if not created and (message.recipient, message.body) != (to, body):
            assert client_msg_id is not None  # only a client_msg_id finds an earlier one
            raise ClientMsgIdReused(client_msg_id, message.msgid)
        # After the commit, so that a heartbeat racing this send cannot mark the inbox
        # empty behind it; also on a retry, so that a ring lost to an outage is redone.
        # A ring that fails delays the message by at most INBOX_HINT_TTL_MS.
        self._after_commit("ring the recipient", self.signals.ring, to)
        return message, created

    def history(
        self,
        session: Session,
        peer: object,
        before: object = None,
        after: object = None,
        limit: object = HISTORY_LIMIT_DEFAULT,
    ) -> HistoryPage:
        """Read the conversation with ``peer``, newest first, one page at a time."""
        peer = check_uid(peer, "peer")
        before = check_msgid(before, "before")
        after = check_msgid(after, "after")
        limit = check_limit(limit, "limit", HISTORY_LIMIT_MAX)
        found = self.mailbox.history(session.uid, peer, before, after, limit + 1)
        if not found and not self.mailbox.known_users([peer]):
            raise UnknownUser(peer)
        page = tuple(found[:limit])
        next_before = page[-1].msgid if len(found) > limit else None
        return HistoryPage(page, next_before)

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
        page = _page(self.mailbox.contacts(session.uid), after, limit)
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
        return _page(self.mailbox.blocks(session.uid), after, limit)

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

    def _limit(self, what: str, key: str, rate: RateLimit | None) -> None:
        """Count one action against ``rate``; raise ``RateLimited`` if it is over.

        A limiter that cannot answer lets the action through, logged and counted
        (``limiter_failures``): an outage of the limiter must not stop the chat, and
        the stores behind the action answer for themselves. After a failure the
        limiter is not asked for ``LIMITER_PAUSE_MS``, so that a hung limiter costs
        its timeout once, not on every call (a login asks it twice).
        """
        if rate is None:
            return
        now = self.clock.now_ms()
        if now < self._limiter_paused_until:
            return
        try:
            wait_ms = self.limiter.hit(key, rate.count, rate.window_ms, now)
        except StorageUnavailable as error:
            with self._failures_lock:
                self._limiter_failures += 1
                self._limiter_paused_until = self.clock.now_ms() + LIMITER_PAUSE_MS
            log.warning("could not check the %s limit (let through): %s", what, error)
            return
        if wait_ms > 0:
            raise RateLimited(what, wait_ms)

    def logout(self, session: Session) -> None:
        """End the session: its token is refused from now on.

        The player's waiting requests are rung, so that they notice (and answer
        ``SessionExpired``) now rather than at the end of their wait.
        """
        self.sessions.delete(session.token)
        self._after_commit("ring the player's waiting requests", self.signals.ring,
                           session.uid)

    def _after_commit(self, what: str, step: Callable[..., None], *args: object) -> None:
        """Run a best-effort ``step`` that follows a commit: log and count its failure.

        The commit is the answer's truth; a hint that could not be written costs a
        query or a bounded delay later, never a message, so it must not become an error.
        """
        try:
            step(*args)
        except StorageUnavailable as error:
            with self._failures_lock:
                self._after_commit_failures += 1
            log.warning("after a commit, could not %s (answered anyway): %s", what, error)

    def check_ready(self) -> None:
        """Raise the port's error if any port cannot serve now."""
        self.sessions.ping()
        self.signals.ping()
        self.mailbox.ping()
        self.auth.ping()


@attrs.frozen
class ContactsPage:
    """A page of contacts in uid order, each ``(uid, online)``; see ``UidPage``."""

    contacts: tuple[tuple[str, bool], ...]
    next_after: str | None


def _page(uids: list[str], after: object, limit: object) -> UidPage:
    """The uids of a sorted list after ``after``, at most ``limit`` of them.

    The lists are bounded (``Limits``), so a page is cut here rather than in the
    store, where collations order uids differently from one database to the next.
    """
    start = 0 if after is None else bisect.bisect_right(uids, check_uid(after, "after"))
    count = check_limit(limit, "limit", LIST_PAGE_MAX)
    page = tuple(uids[start : start + count])
    return UidPage(page, page[-1] if start + count < len(uids) else None)
