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
    RateLimited,
    SessionExpired,
    StorageUnavailable,
)
from im_core.group_models import Conversation, Group, Member, Role
from im_core.groups import ConversationsPage, MembersPage
from im_core.limits import Limits, PresenceScope, RateLimit
from im_core.memory import (
    InMemoryGameAuth,
    InMemoryInboxSignals,
    InMemoryMailbox,
    InMemoryRateLimiter,
    InMemorySessionStore,
    ManualClock,
    SystemClock,
)
from im_core.models import HistoryPage, Inbox, Message, Presence, Session, SessionToken
from im_core.ports import (
    AuthError,
    AuthUnavailable,
    Blocked,
    Clock,
    GameAuth,
    GroupFull,
    InvalidCredentials,
    ListFull,
    MailboxRepository,
    MailboxUnavailable,
    NotAllowed,
    NotAMember,
    RateLimiter,
    RateLimiterUnavailable,
    SessionReplaced,
    SessionStore,
    SessionStoreUnavailable,
    TooManyBlocks,
    TooManyContacts,
    UnknownGroup,
    UnknownUser,
)
from im_core.service import ChatService, ContactsPage, UidPage

__all__ = [
    "AuthError",
    "AuthUnavailable",
    "Blocked",
    "ChatService",
    "ClientMsgIdReused",
    "Clock",
    "ConfigurationError",
    "ContactsPage",
    "Conversation",
    "ConversationsPage",
    "GameAuth",
    "Group",
    "GroupFull",
    "HistoryPage",
    "InMemoryGameAuth",
    "InMemoryInboxSignals",
    "InMemoryMailbox",
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
    "Member",
    "MembersPage",
    "Message",
    "MessageTooLong",
    "NotAMember",
    "NotAllowed",
    "Presence",
    "PresenceScope",
    "RateLimit",
    "RateLimited",
    "RateLimiter",
    "RateLimiterUnavailable",
    "Role",
    "Session",
    "SessionExpired",
    "SessionReplaced",
    "SessionStore",
    "SessionStoreUnavailable",
    "SessionToken",
    "StorageUnavailable",
    "SystemClock",
    "TooManyBlocks",
    "TooManyContacts",
    "UidPage",
    "UnknownGroup",
    "UnknownUser",
]
