"""The pure domain of the mailbox IM: models, use cases, ports and in-memory ports.

Importing ``im_core`` pulls in no I/O library. A Python game server can use it
directly::

    from im_core import ChatService, InMemoryGameAuth, InMemoryMailbox, \
        InMemorySessionStore, SystemClock
"""

from im_core.errors import (
    ClientMsgIdReused,
    ConfigurationError,
    InvalidInput,
    MessageTooLong,
    SessionExpired,
    StorageUnavailable,
)
from im_core.memory import (
    InMemoryGameAuth,
    InMemoryInboxSignals,
    InMemoryMailbox,
    InMemorySessionStore,
    ManualClock,
    SystemClock,
)
from im_core.models import Inbox, Message, Presence, Session, SessionToken
from im_core.ports import (
    AuthError,
    AuthUnavailable,
    Clock,
    GameAuth,
    InvalidCredentials,
    MailboxRepository,
    MailboxUnavailable,
    SessionReplaced,
    SessionStore,
    SessionStoreUnavailable,
    UnknownUser,
)
from im_core.service import ChatService, HistoryPage

__all__ = [
    "AuthError",
    "AuthUnavailable",
    "ChatService",
    "ClientMsgIdReused",
    "Clock",
    "ConfigurationError",
    "GameAuth",
    "HistoryPage",
    "InMemoryGameAuth",
    "InMemoryInboxSignals",
    "InMemoryMailbox",
    "InMemorySessionStore",
    "Inbox",
    "InvalidCredentials",
    "InvalidInput",
    "MailboxRepository",
    "MailboxUnavailable",
    "ManualClock",
    "Message",
    "MessageTooLong",
    "Presence",
    "Session",
    "SessionExpired",
    "SessionReplaced",
    "SessionStore",
    "SessionStoreUnavailable",
    "SessionToken",
    "StorageUnavailable",
    "SystemClock",
    "UnknownUser",
]
