"""The use cases of the mailbox IM: log in, heartbeat (and pull), send, read history.

``ChatService`` is what a transport calls. It checks every value from the outside,
talks to the ports, and raises only domain errors (``im_core.errors`` and the
ports' own); it knows nothing of HTTP, so a Python game server can drive it directly.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import attrs

from im_core.contacts import PRESENCE_MAX_UIDS, ContactsPage, ContactsUseCases, UidPage
from im_core.errors import ClientMsgIdReused, InvalidInput, RateLimited, SessionExpired
from im_core.groups import GroupChat, new_group_id
from im_core.limits import Limits, PresenceScope, RateLimit
from im_core.memory import InMemoryInboxSignals, InMemoryMuteStore, InMemoryRateLimiter
from im_core.models import (
    HISTORY_LIMIT_DEFAULT,
    HISTORY_LIMIT_MAX,
    PULL_LIMIT_DEFAULT,
    PULL_LIMIT_MAX,
    HistoryPage,
    Inbox,
    Message,
    Session,
    SessionToken,
    check_body,
    check_client_msg_id,
    check_client_type,
    check_limit,
    check_max_wait,
    check_msgid,
    check_uid,
    check_wait,
    default_max_wait_ms,
)
from im_core.moderation import AllowAll
from im_core.pacing import Activity, HeartbeatPacing
from im_core.policies import (
    LIMITER_PAUSE_MS,
    BestEffortSignals,
    BoundedGameAuth,
    FailOpenRateLimiter,
)
from im_core.ports import (
    MAX_SESSIONS_DEFAULT,
    Clock,
    EventSink,
    GameAuth,
    LoginPolicy,
    MailboxRepository,
    MessageFilter,
    MuteStore,
    NoEvents,
    SessionStore,
    UnknownUser,
)
from im_core.ports.limits import RateLimiter
from im_core.ports.signals import InboxSignals
from im_core.server_ops import ServerOps, check_not_system

__all__ = [
    "LIMITER_PAUSE_MS",
    "PRESENCE_MAX_UIDS",
    "ChatService",
    "ContactsPage",
    "HistoryPage",
    "UidPage",
    "new_session_secret",
]


def new_session_secret() -> str:
    """Return 192 random bits, URL-safe: the unguessable part of a session token."""
    return secrets.token_urlsafe(24)


@attrs.define
class ChatService(ContactsUseCases, GroupChat, ServerOps):
    """The use cases, wired to their ports.

    Presence, contacts and blocks are ``ContactsUseCases``' (``im_core/contacts.py``);
    groups and the chat list are ``GroupChat``'s (``im_core/groups.py``); the game
    server's own (system messages, kicks, mutes) are ``ServerOps``'
    (``im_core/server_ops.py``).
    The limiter, the game login and the rings are called through the policies of
    ``im_core.policies``, built around the ports given here at construction.

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
        login_policy: which of a uid's sessions a new login ends (``LoginPolicy``).
        mutes: where mutes and bans are kept.
        message_filter: judges every player's message body before it is stored.
        pacing: how soon each heartbeat answer asks for the next one.
        events: told of every message stored, after its commit (the webhook).
        new_group_id: makes the id of each new group.
    """

    sessions: SessionStore
    mailbox: MailboxRepository
    auth: GameAuth
    clock: Clock
    session_ttl_ms: int = 10_000
    new_secret: Callable[[], str] = new_session_secret
    signals: InboxSignals = attrs.field(factory=InMemoryInboxSignals)
    max_wait_ms: int = attrs.field(
        default=attrs.Factory(lambda self: default_max_wait_ms(self.session_ttl_ms),
                              takes_self=True)
    )
    limiter: RateLimiter = attrs.field(factory=InMemoryRateLimiter)
    limits: Limits = attrs.field(factory=Limits)
    presence_scope: PresenceScope = "all"
    max_logins_in_flight: int = 64
    max_sessions_per_uid: int = attrs.field(default=MAX_SESSIONS_DEFAULT,
                                            validator=attrs.validators.ge(1))
    login_policy: LoginPolicy = "many"
    mutes: MuteStore = attrs.field(factory=InMemoryMuteStore)
    message_filter: MessageFilter = attrs.field(factory=AllowAll)
    pacing: HeartbeatPacing = attrs.field(default=attrs.Factory(
        lambda self: HeartbeatPacing.default_for(self.session_ttl_ms), takes_self=True))
    activity: Activity = attrs.field(factory=Activity)
    events: EventSink = attrs.field(factory=NoEvents)
    new_group_id: Callable[[], str] = new_group_id
    # The policies around the raw ports above (``im_core.policies``); the use cases
    # call the ports through these where a policy applies.
    _limiter: FailOpenRateLimiter = attrs.field(init=False)
    _auth: BoundedGameAuth = attrs.field(init=False)
    _rings: BestEffortSignals = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._limiter = FailOpenRateLimiter(self.limiter, self.clock)
        self._auth = BoundedGameAuth(self.auth, self.max_logins_in_flight)
        self._rings = BestEffortSignals(self.signals)

    @max_wait_ms.validator
    def _check_max_wait(self, _: attrs.Attribute[int], value: int) -> None:
        check_max_wait(value, self.session_ttl_ms)

    @property
    def after_commit_failures(self) -> int:
        """How many best-effort steps after a commit have failed since start-up.

        Those steps (rings: wake-ups and the inbox hint) only save work or latency; when one fails
        the answer stays the committed result, and this count is how it is noticed.
        """
        return self._rings.failures

    @property
    def limiter_failures(self) -> int:
        """How many rate-limit checks could not be made (and were let through)."""
        return self._limiter.failures

    def login(self, uid: object, game_token: object, client_type: object,
              address: str | None = None) -> Session:
        """Open a session for a player the game's login service vouches for.

        ``address`` (the client's network address, if the transport knows it) is
        limited too, before the credential is checked.

        Raises:
            InvalidInput: a field is malformed, or ``uid`` is the reserved ``system``.
            RateLimited: too many logins for this uid or from this address.
            InvalidCredentials: the game says the credential does not prove ``uid``.
            Banned: the game's server banned ``uid``.
            AuthUnavailable: the game's login service could not answer.
            StorageUnavailable: the session store or the database could not answer.
        """
        uid = check_not_system(check_uid(uid))
        client_type = check_client_type(client_type)
        if not isinstance(game_token, str) or not game_token or len(game_token) > 8192:
            raise InvalidInput("game_token", "must be a non-empty string")
        if address is not None:
            self._limit("logins from one address", f"login@{address}",
                        self.limits.logins_per_address)
        self._limit("logins", f"login:{uid}", self.limits.logins)
        self._auth.verify(uid, game_token)  # at most max_logins_in_flight wait on it
        self.check_not_banned(uid)
        now = self.clock.now_ms()
        self.mailbox.record_login(uid, client_type, now)
        session = Session(SessionToken(uid, self.new_secret()), client_type, "login", now)
        # The policy is named only when it is not the default, so a store wrapped
        # with the older signature still works.
        policy = {} if self.login_policy == "many" else {"policy": self.login_policy}
        if self.sessions.create(session, self.session_ttl_ms, self.max_sessions_per_uid,
                                **policy):
            self._ring(uid)  # a replaced session's held long-poll answers now
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
        if inbox.messages:
            self.activity.saw(uid, self.clock.now_ms())
        else:
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
            Muted: the game's server muted the sender; nothing was stored.
            ContentRejected: the message filter refused the body; nothing was stored.

        Once the message is committed the answer is the message, whatever follows:
        the note that follows only shortens the delivery delay, and an error here
        would make a client resend a message that is stored.
        """
        to = check_uid(to, "to")
        body = check_body(body)
        client_msg_id = check_client_msg_id(client_msg_id)
        self._limit("sends", f"send:{session.uid}", self.limits.sends)
        earlier = self.muted_retry(session.uid, to, client_msg_id)
        if earlier is not None:
            return earlier, False
        body = self.moderate(session.uid, to, body)
        self.activity.saw(session.uid, self.clock.now_ms())
        message, created = self.mailbox.send(
            session.uid, to, body, client_msg_id, self.clock.now_ms()
        )
        if not created and (message.recipient, message.body) != (to, body):
            assert client_msg_id is not None  # only a client_msg_id finds an earlier one
            raise ClientMsgIdReused(client_msg_id, message.msgid)
        # After the commit, so that a heartbeat racing this send cannot mark the inbox
        # empty behind it; also on a retry, so that a ring lost to an outage is redone.
        # A ring that fails delays the message by at most INBOX_HINT_TTL_MS.
        self._rings.ring(to, why="ring the recipient")
        if created:
            self.events.message_sent(message)
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

    def _limit(self, what: str, key: str, rate: RateLimit | None) -> None:
        """Count one action against ``rate``; raise ``RateLimited`` if it is over.

        The limiter is asked through ``FailOpenRateLimiter`` (``im_core.policies``):
        one that cannot answer lets the action through, logged and counted.
        """
        if rate is None:
            return
        wait_ms = self._limiter.hit(key, rate.count, rate.window_ms, self.clock.now_ms(),
                                    what=what)
        if wait_ms > 0:
            raise RateLimited(what, wait_ms)

    def logout(self, session: Session) -> None:
        """End the session: its token is refused from now on.

        The player's waiting requests are rung, so that they notice (and answer
        ``SessionExpired``) now rather than at the end of their wait.
        """
        self.sessions.delete(session.token)
        self._rings.ring(session.uid, why="ring the player's waiting requests")

    def _after_commit(self, what: str, step: Callable[..., None], *args: object) -> None:
        """Run a best-effort ``step`` that follows a commit: log and count its failure
        (``BestEffort`` in ``im_core.policies``)."""
        self._rings.steps.run(what, step, *args)

    def check_ready(self) -> None:
        """Raise the port's error if any port cannot serve now."""
        self.sessions.ping()
        self.signals.ping()
        self.mailbox.ping()
        self.auth.ping()
