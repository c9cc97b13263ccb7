"""The client side: the Python SDK, the terminal chat and the narrated demo.

``import im_http.client`` needs only the standard library and urllib3 (docs/sdk.md):
nothing here imports the server, Falcon or a database driver at import time.
"""

from im_http.client.sdk import (
    ApiError,
    Blocked,
    Client,
    ClientError,
    ConnectionFailed,
    Contact,
    ContentRejected,
    Conversation,
    Group,
    GroupMember,
    HistoryPage,
    Inbox,
    LoginInfo,
    Message,
    Muted,
    NotLoggedIn,
    Presence,
    RateLimited,
    SessionEnded,
    SessionExpired,
    SessionReplaced,
    Unavailable,
)

__all__ = [
    "ApiError",
    "Blocked",
    "Client",
    "ClientError",
    "ConnectionFailed",
    "Contact",
    "ContentRejected",
    "Conversation",
    "Group",
    "GroupMember",
    "HistoryPage",
    "Inbox",
    "LoginInfo",
    "Message",
    "Muted",
    "NotLoggedIn",
    "Presence",
    "RateLimited",
    "SessionEnded",
    "SessionExpired",
    "SessionReplaced",
    "Unavailable",
]
