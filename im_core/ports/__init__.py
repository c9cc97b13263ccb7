"""The ports: what the use cases need from the world, as ``typing.Protocol``\\ s.

Each module holds one port, its contract (in the docstring) and its errors.
"""

from im_core.ports.auth import AuthError, AuthUnavailable, GameAuth, InvalidCredentials
from im_core.ports.clock import Clock
from im_core.ports.events import EventSink, NoEvents
from im_core.ports.groups import (
    GroupFull,
    GroupMailbox,
    GroupSend,
    NotAllowed,
    NotAMember,
    UnknownGroup,
)
from im_core.ports.limits import RateLimiter, RateLimiterUnavailable
from im_core.ports.mailbox import (
    Blocked,
    ListFull,
    MailboxRepository,
    MailboxUnavailable,
    TooManyBlocks,
    TooManyContacts,
    UnknownUser,
)
from im_core.ports.moderation import ALLOW, MessageFilter, ModerationUnavailable, Verdict
from im_core.ports.mutes import (
    BAN_SCOPE,
    GLOBAL_SCOPE,
    Mute,
    MuteStore,
    MuteStoreUnavailable,
    check_scope,
)
from im_core.ports.sessions import (
    LOGIN_POLICIES,
    MAX_SESSIONS_DEFAULT,
    LoginPolicy,
    SessionEnded,
    SessionReplaced,
    SessionStore,
    SessionStoreUnavailable,
)
from im_core.ports.signals import (
    INBOX_HINT_TTL_MS,
    InboxHint,
    InboxSignals,
    SignalsUnavailable,
    Waiter,
)

__all__ = [
    "ALLOW",
    "BAN_SCOPE",
    "GLOBAL_SCOPE",
    "INBOX_HINT_TTL_MS",
    "LOGIN_POLICIES",
    "MAX_SESSIONS_DEFAULT",
    "AuthError",
    "AuthUnavailable",
    "Blocked",
    "Clock",
    "EventSink",
    "GameAuth",
    "GroupFull",
    "GroupMailbox",
    "GroupSend",
    "InboxHint",
    "InboxSignals",
    "InvalidCredentials",
    "ListFull",
    "LoginPolicy",
    "MailboxRepository",
    "MailboxUnavailable",
    "MessageFilter",
    "ModerationUnavailable",
    "Mute",
    "MuteStore",
    "MuteStoreUnavailable",
    "NoEvents",
    "NotAMember",
    "NotAllowed",
    "RateLimiter",
    "RateLimiterUnavailable",
    "SessionEnded",
    "SessionReplaced",
    "SessionStore",
    "SessionStoreUnavailable",
    "SignalsUnavailable",
    "TooManyBlocks",
    "TooManyContacts",
    "UnknownGroup",
    "UnknownUser",
    "Verdict",
    "Waiter",
    "check_scope",
]
