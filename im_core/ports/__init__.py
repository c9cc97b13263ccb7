"""The ports: what the use cases need from the world, as ``typing.Protocol``\\ s.

Each module holds one port, its contract (in the docstring) and its errors.
"""

from im_core.ports.auth import AuthError, AuthUnavailable, GameAuth, InvalidCredentials
from im_core.ports.clock import Clock
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
from im_core.ports.sessions import (
    MAX_SESSIONS_DEFAULT,
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
    "INBOX_HINT_TTL_MS",
    "MAX_SESSIONS_DEFAULT",
    "AuthError",
    "AuthUnavailable",
    "Blocked",
    "Clock",
    "GameAuth",
    "GroupFull",
    "GroupMailbox",
    "GroupSend",
    "InboxHint",
    "InboxSignals",
    "InvalidCredentials",
    "ListFull",
    "MailboxRepository",
    "MailboxUnavailable",
    "NotAMember",
    "NotAllowed",
    "RateLimiter",
    "RateLimiterUnavailable",
    "SessionReplaced",
    "SessionStore",
    "SessionStoreUnavailable",
    "SignalsUnavailable",
    "TooManyBlocks",
    "TooManyContacts",
    "UnknownGroup",
    "UnknownUser",
    "Waiter",
]
