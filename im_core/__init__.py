"""The pure domain of the mailbox IM: models, use cases, ports and in-memory ports.

Importing ``im_core`` pulls in no I/O library. A Python game server can use it
directly::

    from im_core import ChatService, InMemoryGameAuth, InMemoryMailbox, \
        InMemorySessionStore, SystemClock
"""

from im_core.errors import (
    Banned,
    ClientMsgIdReused,
    ConfigurationError,
    ContentRejected,
    InvalidInput,
    MessageTooLong,
    Muted,
    RateLimited,
    SessionExpired,
    StorageUnavailable,
)
from im_core.limits import Limits, PresenceScope, RateLimit
from im_core.memory import (
    InMemoryGameAuth,
    InMemoryInboxSignals,
    InMemoryMailbox,
    InMemoryMuteStore,
    InMemoryRateLimiter,
    InMemorySessionStore,
    ManualClock,
    SystemClock,
)
from im_core.models import Inbox, Message, Presence, Session, SessionToken
from im_core.moderation import AllowAll, WordListFilter
from im_core.pacing import HeartbeatPacing
from im_core.ports import (
    AuthError,
    AuthUnavailable,
    Blocked,
    Clock,
    GameAuth,
    InvalidCredentials,
    ListFull,
    MailboxRepository,
    MailboxUnavailable,
    MessageFilter,
    ModerationUnavailable,
    Mute,
    MuteStore,
    MuteStoreUnavailable,
    RateLimiter,
    RateLimiterUnavailable,
    SessionEnded,
    SessionReplaced,
    SessionStore,
    SessionStoreUnavailable,
    TooManyBlocks,
    TooManyContacts,
    UnknownUser,
)
from im_core.server_ops import SYSTEM_UID, Delivery, SystemSend
from im_core.service import ChatService, ContactsPage, HistoryPage, UidPage

__all__ = [
    "SYSTEM_UID",
    "AllowAll",
    "AuthError",
    "AuthUnavailable",
    "Banned",
    "Blocked",
    "ChatService",
    "ClientMsgIdReused",
    "Clock",
    "ConfigurationError",
    "ContactsPage",
    "ContentRejected",
    "Delivery",
    "GameAuth",
    "HeartbeatPacing",
    "HistoryPage",
    "InMemoryGameAuth",
    "InMemoryInboxSignals",
    "InMemoryMailbox",
    "InMemoryMuteStore",
    "InMemoryRateLimiter",
    "InMemorySessionStore",
    "Inbox",
    "InvalidCredentials",
    "InvalidInput",
    "Limits",
    "ListFull",
    "MailboxRepository",
    "MailboxUnavailable",
    "ManualClock",
    "Message",
    "MessageFilter",
    "MessageTooLong",
    "ModerationUnavailable",
    "Mute",
    "MuteStore",
    "MuteStoreUnavailable",
    "Muted",
    "Presence",
    "PresenceScope",
    "RateLimit",
    "RateLimited",
    "RateLimiter",
    "RateLimiterUnavailable",
    "Session",
    "SessionEnded",
    "SessionExpired",
    "SessionReplaced",
    "SessionStore",
    "SessionStoreUnavailable",
    "SessionToken",
    "StorageUnavailable",
    "SystemClock",
    "SystemSend",
    "TooManyBlocks",
    "TooManyContacts",
    "UidPage",
    "UnknownUser",
    "WordListFilter",
]
