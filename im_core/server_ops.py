"""The use cases a game's own servers call: system messages, kicks, mutes and bans.

None of them takes a player's session: the caller is the game (over the server API,
authenticated by an API key, or in-process through ``ChatService``). ``ServerOps`` is
a base class of ``ChatService``; it declares the attributes it uses, which
``ChatService`` defines.

System messages come from the reserved sender ``system`` (no player may log in as
it). A system message to many players is one message per recipient, each stored in
its own transaction and rung after its commit, so it is delivered, acked and read in
history like any other. It is idempotent per recipient: the stored ``client_msg_id``
is derived from the caller's and the recipient, so a retry of the whole call after a
failure half-way stores only what is missing.
"""

from __future__ import annotations

import base64
import hashlib

import attrs

from im_core.errors import (
    Banned,
    ClientMsgIdReused,
    ContentRejected,
    InvalidInput,
    Muted,
)
from im_core.models import Message, check_body, check_uid
from im_core.pacing import Activity, HeartbeatPacing
from im_core.policies import BestEffortSignals
from im_core.ports import (
    BAN_SCOPE,
    GLOBAL_SCOPE,
    Clock,
    EventSink,
    MailboxRepository,
    MessageFilter,
    Mute,
    MuteStore,
    SessionStore,
    UnknownUser,
    check_scope,
)
from im_core.ports.mutes import REASON_MAX_CHARS
from im_core.ports.signals import InboxSignals

__all__ = [
    "SYSTEM_RECIPIENTS_MAX",
    "SYSTEM_UID",
    "Delivery",
    "ServerOps",
    "SystemSend",
    "check_not_system",
    "system_client_msg_id",
]

SYSTEM_UID = "system"
"""The sender of system messages; reserved, so no player can log in as it."""

SYSTEM_RECIPIENTS_MAX = 1000



def check_not_system(uid: str) -> str:
    """Refuse the reserved uid where a player's uid is expected."""
    if uid == SYSTEM_UID:
        raise InvalidInput("uid", f"{SYSTEM_UID!r} is reserved for the server's own messages")
    return uid


def system_client_msg_id(client_msg_id: str, recipient: str) -> str:
    """The ``client_msg_id`` stored for one recipient of a system message.

    The store keeps one message per ``(sender, client_msg_id)``; a system message to
    many players is many messages from one sender, so each recipient's id is derived
    (36 printable characters, whatever the inputs' lengths).
    """
    digest = hashlib.sha256(f"{client_msg_id}\n{recipient}".encode()).digest()
    return "sys:" + base64.urlsafe_b64encode(digest).decode()[:32]


@attrs.frozen
class Delivery:
    """One recipient's copy of a system message: stored now (``created``) or before."""

    to: str
    msgid: int
    created: bool


@attrs.frozen
class SystemSend:
    """What a system message did: a copy per known recipient; ``unknown`` never
    logged in, so nothing was stored for them."""

    delivered: tuple[Delivery, ...]
    unknown: tuple[str, ...]


class ServerOps:
    """The game server's use cases (a base of ``ChatService``; see the module)."""

    sessions: SessionStore
    mailbox: MailboxRepository
    clock: Clock
    signals: InboxSignals
    session_ttl_ms: int
    mutes: MuteStore
    message_filter: MessageFilter
    pacing: HeartbeatPacing
    activity: Activity
    events: EventSink
    _rings: BestEffortSignals

    def system_send(self, to: object, body: object,
                    client_msg_id: object) -> SystemSend:
        """Send ``body`` from ``system`` to each of ``to`` (1 to 1,000 uids).

        ``client_msg_id`` is required: it makes a retry of the whole call safe.
        Neither mutes nor the message filter apply to the game's own messages.

        Raises:
            InvalidInput: a field is malformed; nothing was stored.
            ClientMsgIdReused: the id was used before with another body.
            StorageUnavailable: the database failed part-way; what was stored stays,
                and a retry with the same id stores the rest.
        """
        if not isinstance(to, list | tuple) or not 1 <= len(to) <= SYSTEM_RECIPIENTS_MAX:
            raise InvalidInput("to", f"must be a list of 1 to {SYSTEM_RECIPIENTS_MAX} uids")
        recipients = list(dict.fromkeys(check_uid(uid, "to") for uid in to))
        body = check_body(body)
        if not isinstance(client_msg_id, str) or not client_msg_id.isprintable() \
                or not 1 <= len(client_msg_id) <= 64 or not client_msg_id.isascii():
            raise InvalidInput("client_msg_id",
                               "is required: 1 to 64 printable ASCII characters")
        delivered: list[Delivery] = []
        unknown: list[str] = []
        for recipient in recipients:
            derived = system_client_msg_id(client_msg_id, recipient)
            try:
                message, created = self.mailbox.send(SYSTEM_UID, recipient, body, derived,
                                                     self.clock.now_ms())
            except UnknownUser:
                unknown.append(recipient)
                continue
            if not created and message.body != body:
                raise ClientMsgIdReused(client_msg_id, message.msgid)
            self._ring(recipient)
            if created:
                self.events.message_sent(message)
            delivered.append(Delivery(recipient, message.msgid, created))
        return SystemSend(tuple(delivered), tuple(unknown))

    def end_sessions(self, uid: object) -> int:
        """End every live session of ``uid`` (a kick); returns how many.

        Each ended session answers ``SessionEnded`` from its next call, and a held
        long-poll of it ends now, on whichever node holds it.
        """
        uid = check_uid(uid)
        ended = self.sessions.end_all(uid, self.clock.now_ms(), self.session_ttl_ms)
        self._ring(uid)
        return ended

    def mute(self, uid: object, scope: object = GLOBAL_SCOPE, until: object = None,
             reason: object = "") -> Mute:
        """Mute ``uid`` in ``scope`` until ``until`` (ms since the epoch; ``None``: until
        lifted), telling it ``reason``. Again replaces the end and the reason.

        Scope ``login`` is a ban: the player may not log in, and its sessions end now.
        """
        uid = check_not_system(check_uid(uid))
        scope = check_scope(scope)
        now = self.clock.now_ms()
        if until is not None and (type(until) is not int or until <= now):
            raise InvalidInput("until",
                               "must be null or a time in the future (ms since the epoch)")
        if not isinstance(reason, str) or len(reason) > REASON_MAX_CHARS:
            raise InvalidInput("reason",
                               f"must be a string of at most {REASON_MAX_CHARS} characters")
        mute = Mute(uid, scope, until, reason, now)
        self.mutes.put(mute)
        if scope == BAN_SCOPE:
            self.end_sessions(uid)
        return mute

    def unmute(self, uid: object, scope: object = GLOBAL_SCOPE) -> bool:
        """Lift the mute (or the ban) of ``uid`` in ``scope``; whether there was one."""
        return self.mutes.remove(check_uid(uid), check_scope(scope))

    def mutes_of(self, uid: object) -> list[Mute]:
        """Every live mute and ban of ``uid``, by scope."""
        return self.mutes.list(check_uid(uid), self.clock.now_ms())

    def check_not_muted(self, uid: str, scope: str = GLOBAL_SCOPE) -> None:
        """Raise ``Muted`` if ``uid`` may not speak in ``scope``.

        The one check every send makes, point-to-point (``global``) as in a group
        (``group:<id>``) or a channel (``channel:<name>``): a global mute holds there too.
        """
        scopes = (GLOBAL_SCOPE,) if scope == GLOBAL_SCOPE else (GLOBAL_SCOPE, scope)
        mute = self.mutes.active(uid, scopes, self.clock.now_ms())
        if mute is not None:
            raise Muted(mute.scope, mute.until, mute.reason)

    def muted_retry(self, uid: str, to: str | None, client_msg_id: str | None,
                    group: str | None = None) -> Message | None:
        """``check_not_muted``, except for a retry: a message to ``to`` (or to ``group``)
        stored before the mute (found by its ``client_msg_id``) is answered, never refused.
        """
        try:
            self.check_not_muted(uid, GLOBAL_SCOPE if group is None else f"group:{group}")
        except Muted:
            earlier = self.mailbox.sent(uid, client_msg_id) if client_msg_id else None
            if earlier is None or (earlier.recipient, earlier.group) != (to, group):
                raise
            return earlier
        return None

    def check_not_banned(self, uid: str) -> None:
        """Raise ``Banned`` if ``uid`` may not log in now."""
        ban = self.mutes.active(uid, (BAN_SCOPE,), self.clock.now_ms())
        if ban is not None:
            raise Banned(ban.until, ban.reason)

    def moderate(self, sender: str, target: str, body: str) -> str:
        """The body to store, as the message filter judges it.

        Raises:
            ContentRejected: the filter refused it.
            ModerationUnavailable: the filter could not judge and fails closed.
        """
        verdict = self.message_filter.check(sender, target, body)
        if verdict.action == "allow":
            return body
        if verdict.action == "reject":
            raise ContentRejected(verdict.reason or "the message was refused by moderation")
        return check_body(verdict.body)

    def next_heartbeat_ms(self, uid: str, *, held: bool = False, more: bool = False) -> int:
        """How soon ``uid``'s client should heartbeat again (``HeartbeatPacing``).

        0 (at once) after a held heartbeat (a long-poll is re-issued as soon as it
        answers, or real time is lost) and when more messages are waiting.
        """
        if held or more:
            return 0
        now = self.clock.now_ms()
        return self.pacing.next_ms(self.activity.active(uid, now, self.pacing.active_window_ms))

    def _ring(self, uid: str) -> None:
        """Ring ``uid``'s waiting requests after a commit (best effort: a failed ring is
        logged and counted, ``BestEffortSignals``; it costs latency, never a message)."""
        self._rings.ring(uid, why="ring the player's waiting requests")
