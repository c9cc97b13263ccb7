"""The domain's values: who talks, what they send, and what the server remembers of them.

Everything here is an immutable value (``attrs.frozen``) with a dumb ``__init__``.
The validating functions (``check_uid``...) are kept apart from the constructors so
that adapters can rebuild values read back from storage without paying for checks
twice, while every use case checks what arrives from the outside.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re

import attrs

from im_core.errors import InvalidInput, MessageTooLong

__all__ = [
    "BODY_MAX_CHARS",
    "CLIENT_MSG_ID_MAX",
    "HISTORY_LIMIT_DEFAULT",
    "HISTORY_LIMIT_MAX",
    "OFFLINE",
    "PULL_LIMIT_DEFAULT",
    "PULL_LIMIT_MAX",
    "HistoryPage",
    "Inbox",
    "Message",
    "Presence",
    "Session",
    "SessionToken",
    "check_body",
    "check_client_msg_id",
    "check_client_type",
    "check_limit",
    "check_max_wait",
    "check_msgid",
    "check_uid",
    "check_wait",
    "default_max_wait_ms",
]

BODY_MAX_CHARS = 4096
CLIENT_MSG_ID_MAX = 64
PULL_LIMIT_MAX = 500
PULL_LIMIT_DEFAULT = 100  # what a heartbeat returns when it names no limit
HISTORY_LIMIT_MAX = 100
HISTORY_LIMIT_DEFAULT = 50  # what a history page holds when it names no limit
MSGID_MAX = 2**63 - 1
_WAIT_CAP_S = 86_400  # far above any server's longest wait; keeps the arithmetic small

_UID = re.compile(r"[A-Za-z0-9_.:@-]{1,64}")
_CLIENT_TYPE = re.compile(r"[a-z0-9_-]{1,16}")
_CLIENT_MSG_ID = re.compile(r"[\x20-\x7e]{1,64}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SECRET = re.compile(r"[A-Za-z0-9_-]{22,128}")
_WIRE_TOKEN = re.compile(r"([A-Za-z0-9_-]{2,88})\.([A-Za-z0-9_-]{22,128})")
"""The exact shape of a wire token: unpadded base64url of a uid, a dot, the secret."""


def check_uid(value: object, field: str = "uid") -> str:
    """Return ``value`` if it is a well-formed uid, else raise ``InvalidInput``."""
    if isinstance(value, str) and _UID.fullmatch(value):
        return value
    raise InvalidInput(field, "must be 1 to 64 characters of A-Z a-z 0-9 _ . : @ -")


def check_client_type(value: object) -> str:
    """Return ``value`` if it names a client type such as ``ios`` or ``pc``."""
    if isinstance(value, str) and _CLIENT_TYPE.fullmatch(value):
        return value
    raise InvalidInput("client_type", "must be 1 to 16 characters of a-z 0-9 _ -")


def check_body(value: object) -> str:
    """Return ``value`` if it is a sendable message body.

    An over-long body is its own error (``MessageTooLong``) because clients must tell
    "shorten it" apart from "this request is broken".
    """
    if not isinstance(value, str) or not value:
        raise InvalidInput("body", "must be a non-empty string")
    if len(value) > BODY_MAX_CHARS:
        raise MessageTooLong(f"is {len(value)} characters; at most {BODY_MAX_CHARS}")
    # NUL and lone surrogates (which JSON's \u escapes can produce) cannot be stored
    # as text by every database, nor sent back as UTF-8: refuse them up front.
    if "\x00" in value or (not value.isascii() and _LONE_SURROGATE.search(value)):
        raise InvalidInput("body", "must not contain NUL or unpaired surrogate characters")
    return value


def check_client_msg_id(value: object) -> str | None:
    """Return ``value`` if it is ``None`` or 1 to 64 printable ASCII characters."""
    if value is None:
        return None
    if isinstance(value, str) and _CLIENT_MSG_ID.fullmatch(value):
        return value
    raise InvalidInput("client_msg_id", "must be null or 1 to 64 printable ASCII characters")


def check_msgid(value: object, field: str) -> int | None:
    """Return ``value`` if it is ``None`` or a non-negative 64-bit msgid."""
    if value is None:
        return None
    number = _integral(value)
    if number is not None and 0 <= number <= MSGID_MAX:
        return number
    raise InvalidInput(field, "must be null or an integer msgid")


def _integral(value: object) -> int | None:
    """``value`` as an int if it is an integer or an integral float, else ``None``.

    JSON Schema (and so the OpenAPI document) calls ``20303.0`` an integer, and some
    JSON encoders write whole numbers that way, so an integral float is read as its
    integer; the caller's range check still applies (``1e300`` is out of range). A
    float beyond 2**53 stands for the integer it rounded to when the JSON was parsed.
    Booleans, fractions, infinities and NaN are not integers.
    """
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def check_wait(value: object) -> int:
    """Return ``value`` (seconds, a number >= 0; ``None`` is 0) in whole milliseconds.

    Any size is accepted, since the use case caps it at the server's longest wait.
    """
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InvalidInput("wait", "must be a number of seconds, 0 or more")
    return math.ceil(min(value, _WAIT_CAP_S) * 1000)


def default_max_wait_ms(session_ttl_ms: int) -> int:
    """The longest a heartbeat is held unless configured: four fifths of the TTL.

    Below the TTL, so that a waiting player's session never lapses while it waits,
    with a fifth of the TTL left for the answer to travel and the next call to come.
    """
    return session_ttl_ms * 4 // 5


def check_max_wait(max_wait_ms: int, session_ttl_ms: int) -> int:
    """Return ``max_wait_ms`` if a heartbeat may be held that long: 0 up to below the TTL.

    The one statement of the rule; the settings (``IM_MAX_WAIT``) and ``ChatService``
    both check it here.

    Raises:
        ValueError: the wait would outlast the session.
    """
    if not 0 <= max_wait_ms < session_ttl_ms:
        raise ValueError(f"max_wait_ms must be from 0 to below the session TTL "
                         f"({session_ttl_ms} ms), not {max_wait_ms}")
    return max_wait_ms


def check_limit(value: object, field: str, maximum: int) -> int:
    """Return ``value`` if it is an integer (or integral float) from 1 to ``maximum``."""
    number = _integral(value)
    if number is not None and 1 <= number <= maximum:
        return number
    raise InvalidInput(field, f"must be an integer from 1 to {maximum}")


@attrs.frozen
class Message:
    """One message, as stored in history and in each recipient's inbox.

    A private message names its ``recipient`` and has no ``group``; a group message
    names its ``group`` and has no ``recipient`` (it went to every member's inbox).
    ``msgid`` is unique and, for any one recipient, increases in the order that
    recipient must read its messages, so a cumulative ``ack`` is meaningful.
    """

    msgid: int
    sender: str
    recipient: str | None
    body: str
    sent_at: int
    client_msg_id: str | None = None
    group: str | None = None


@attrs.frozen
class HistoryPage:
    """Messages of one conversation (a peer, a group), newest first.

    ``next_before`` is the ``before`` to ask for the next (older) page, or ``None``
    when there is nothing older in the range asked for.
    """

    messages: tuple[Message, ...]
    next_before: int | None


@attrs.frozen
class Inbox:
    """A page of a user's inbox, oldest first; ``more`` says whether more is waiting."""

    messages: tuple[Message, ...]
    more: bool


@attrs.frozen
class SessionToken:
    """The bearer token of one session: a routing part (the uid) and a secret.

    The wire form is ``base64url(uid) "." secret``. Carrying the uid lets a session
    store keep all of one user's keys together (one Redis Cluster hash slot) and find
    a session without a second lookup; the secret alone is what makes the token
    unguessable, so it must carry at least 128 random bits.
    """

    uid: str
    secret: str = attrs.field(repr=False)  # a repr may reach a log line

    @property
    def digest(self) -> str:
        """What a store keeps instead of the secret: SHA-256 of it, unpadded base64url.

        A store keys the session by this alone, so whoever reads the store (a dump, a
        replica, ``MONITOR``) learns nothing that authenticates: the secret's 192
        random bits make inverting the hash hopeless, and no salt or slow hash is
        needed for a value nobody chose.
        """
        hashed = hashlib.sha256(self.secret.encode()).digest()
        return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode()

    def __str__(self) -> str:
        encoded = base64.urlsafe_b64encode(self.uid.encode()).rstrip(b"=").decode()
        return f"{encoded}.{self.secret}"

    @classmethod
    def parse(cls, raw: str) -> SessionToken | None:
        """Read a wire token; ``None`` if it cannot be one that this server issued.

        The whole string must match the token's exact shape before anything is
        decoded, so no input (non-ASCII, padding, stray dots) reaches the decoder.
        """
        shape = _WIRE_TOKEN.fullmatch(raw)
        if shape is None:
            return None
        head, secret = shape.groups()
        try:
            uid = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if not _UID.fullmatch(uid):
            return None
        return cls(uid, secret)


@attrs.frozen
class Session:
    """A live login: the article's ``{type, cmd, time}`` plus who it belongs to.

    (The article is the one named at the top of docs/architecture.md.)

    ``command`` is the last endpoint the client called and ``last_seen`` the time of
    that call, in milliseconds since the epoch.
    """

    token: SessionToken
    client_type: str
    command: str
    last_seen: int

    @property
    def uid(self) -> str:
        return self.token.uid


@attrs.frozen
class Presence:
    """Whether a user has a live session, from which client, and when it last called."""

    online: bool
    client_type: str | None = None
    last_seen: int | None = None


OFFLINE = Presence(online=False)
"""How a user with no live session appears: nothing of a dead session is kept."""
