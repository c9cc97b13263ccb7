"""The ports: what the use cases need from the world, as ``typing.Protocol``\\ s.

Each module holds one port, its contract (in the docstring) and its errors.
"""

from im_core.ports.auth import AuthError, AuthUnavailable, GameAuth, InvalidCredentials
from im_core.ports.clock import Clock
from im_core.ports.mailbox import MailboxRepository, MailboxUnavailable, UnknownUser
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
    "Clock",
    "GameAuth",
    "InboxHint",
    "InboxSignals",
    "InvalidCredentials",
    "MailboxRepository",
    "MailboxUnavailable",
    "SessionReplaced",
    "SessionStore",
    "SessionStoreUnavailable",
    "SignalsUnavailable",
    "UnknownUser",
    "Waiter",
]
