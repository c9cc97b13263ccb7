"""In-process implementations of every port.

These are shipped adapters, not test helpers: the embedded default keeps sessions
here, a Python game server can run the whole IM in its own process, and every test
that needs no real service uses them. Each is thread-safe (requests run concurrently:
threads, or greenlets under gevent) and honours the same contract suite as the Redis
and SQL adapters.

Each has a ``down`` switch: while it is true, every call raises the port's
"unavailable" error, so outages can be tested without mocks.
"""

from __future__ import annotations

import bisect
import hmac
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

import attrs

from im_core.models import Inbox, Message, Presence, Session, SessionToken
from im_core.ports import (
    INBOX_HINT_TTL_MS,
    MAX_SESSIONS_DEFAULT,
    AuthUnavailable,
    Blocked,
    InvalidCredentials,
    MailboxUnavailable,
    RateLimiterUnavailable,
    SessionReplaced,
    SessionStoreUnavailable,
    TooManyBlocks,
    TooManyContacts,
    UnknownUser,
)
from im_core.ports.limits import interval_ms
from im_core.ports.signals import InboxHint, SignalsUnavailable, Waiter

__all__ = [
    "InMemoryGameAuth",
    "InMemoryInboxSignals",
    "InMemoryMailbox",
    "InMemoryRateLimiter",
    "InMemorySessionStore",
    "ManualClock",
    "SystemClock",
]


class SystemClock:
    """The wall clock, never going backwards within the process."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        now = time.time_ns() // 1_000_000
        with self._lock:
            if now < self._last:
                return self._last
            self._last = now
            return now


@attrs.define
class ManualClock:
    """A clock that moves only when told to: TTLs become deterministic in tests."""

    now: int = 1_700_000_000_000

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@attrs.define(slots=True)
class _Live:
    """What the store keeps of one session (small: there is one per online player)."""

    client_type: str
    command: str
    last_seen: int
    expires: int


_Key = tuple[str, str]
"""A session's key in the store: its uid and the digest of its secret, never the secret."""


def _key(token: SessionToken) -> _Key:
    return token.uid, token.digest


class InMemorySessionStore:
    """Sessions in a dict, expired ones freed as time goes on.

    Sessions sit in an ``OrderedDict`` in the order of their last call; with one TTL
    for all, that is also the order they expire in, so freeing the expired costs
    nothing per call beyond popping them off the front. Replaced sessions are
    remembered (by digest, until their TTL) the same way. Only digests of secrets
    are kept, as in Redis.
    """

    def __init__(self) -> None:
        self.down = False
        self._lock = threading.Lock()
        self._live: OrderedDict[_Key, _Live] = OrderedDict()
        # uid -> its live sessions' keys, in the order they were created
        self._by_uid: dict[str, dict[_Key, None]] = {}
        self._replaced: OrderedDict[_Key, int] = OrderedDict()  # key -> forgotten at

    def __len__(self) -> int:
        return len(self._live)

    def create(
        self, session: Session, ttl_ms: int, max_sessions: int = MAX_SESSIONS_DEFAULT
    ) -> None:
        self._check()
        _check_max_sessions(max_sessions)
        key = _key(session.token)
        now = session.last_seen
        entry = _Live(session.client_type, session.command, now, now + ttl_ms)
        with self._lock:
            self._sweep(now)
            self._drop(key)
            self._replaced.pop(key, None)
            others = self._by_uid.get(key[0], {})
            while len(others) >= max_sessions:
                # The one idle longest; among equals, the one created first.
                oldest = min(others, key=lambda k: self._live[k].last_seen)
                self._drop(oldest)
                self._replaced[oldest] = now + ttl_ms
            self._live[key] = entry
            self._by_uid.setdefault(key[0], {})[key] = None

    def touch(
        self, token: SessionToken, command: str, now_ms: int, ttl_ms: int
    ) -> Session | None:
        self._check()
        key = _key(token)
        with self._lock:
            self._sweep(now_ms)
            entry = self._live.get(key)
            if entry is None:
                if key in self._replaced:
                    raise SessionReplaced("the session was replaced by a newer login")
                return None
            entry.command = command
            entry.last_seen = now_ms
            entry.expires = now_ms + ttl_ms
            self._live.move_to_end(key)
            return Session(token, entry.client_type, command, now_ms)

    def delete(self, token: SessionToken) -> None:
        self._check()
        with self._lock:
            self._drop(_key(token))

    def presence(self, uids: Iterable[str], now_ms: int) -> dict[str, Presence]:
        self._check()
        found: dict[str, Presence] = {}
        with self._lock:
            self._sweep(now_ms)
            for uid in uids:
                live = [self._live[k] for k in self._by_uid.get(uid, ())]
                if live:
                    latest = max(live, key=lambda e: e.last_seen)
                    found[uid] = Presence(True, latest.client_type, latest.last_seen)
        return found

    def ping(self) -> None:
        self._check()

    def _check(self) -> None:
        if self.down:
            raise SessionStoreUnavailable("the in-memory session store is switched off")

    def _sweep(self, now_ms: int) -> None:
        while self._live:
            key, entry = next(iter(self._live.items()))
            if entry.expires > now_ms:
                break
            self._drop(key)
        while self._replaced:
            key, forgotten_at = next(iter(self._replaced.items()))
            if forgotten_at > now_ms:
                break
            del self._replaced[key]

    def _drop(self, key: _Key) -> None:
        if self._live.pop(key, None) is None:
            return
        keys = self._by_uid[key[0]]
        del keys[key]
        if not keys:
            del self._by_uid[key[0]]


def _check_max_sessions(max_sessions: int) -> None:
    """Reject a cap that would end the session being created, as the caller's bug."""
    if max_sessions < 1:
        raise ValueError(f"max_sessions must be at least 1, not {max_sessions}")


@attrs.define
class _User:
    first_seen: int
    last_login: int
    client_type: str
    contacts: dict[str, None] = attrs.Factory(dict)
    blocks: dict[str, None] = attrs.Factory(dict)


class InMemoryMailbox:
    """Users, contacts, inboxes and history in dicts and sorted lists.

    One lock makes every call atomic, which gives the contract's ordering for free:
    msgids are handed out under the lock, in the order messages become visible.
    """

    def __init__(self) -> None:
        self.down = False
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._users: dict[str, _User] = {}
        self._messages: dict[int, Message] = {}
        self._inbox: dict[str, list[int]] = {}
        self._conversations: dict[tuple[str, str], list[int]] = {}
        self._sent: dict[tuple[str, str], int] = {}
        self._pulled: dict[str, int] = {}  # uid -> the "pulled through" mark

    def record_login(self, uid: str, client_type: str, at_ms: int) -> None:
        self._check()
        with self._lock:
            user = self._users.get(uid)
            if user is None:
                self._users[uid] = _User(at_ms, at_ms, client_type)
            else:
                user.last_login = at_ms
                user.client_type = client_type

    def known_users(self, uids: Iterable[str]) -> set[str]:
        self._check()
        with self._lock:
            return {uid for uid in uids if uid in self._users}

    def send(
        self,
        sender: str,
        recipient: str,
        body: str,
        client_msg_id: str | None,
        sent_at: int,
    ) -> tuple[Message, bool]:
        self._check()
        with self._lock:
            if client_msg_id is not None and (sender, client_msg_id) in self._sent:
                return self._messages[self._sent[sender, client_msg_id]], False
            target = self._users.get(recipient)
            if target is None:
                raise UnknownUser(recipient)
            if sender in target.blocks:
                raise Blocked(recipient)
            msgid = next(self._ids)
            message = Message(msgid, sender, recipient, body, sent_at, client_msg_id)
            self._messages[msgid] = message
            self._inbox.setdefault(recipient, []).append(msgid)
            self._conversations.setdefault(_pair(sender, recipient), []).append(msgid)
            if client_msg_id is not None:
                self._sent[sender, client_msg_id] = msgid
            return message, True

    def pull(self, uid: str, ack: int | None, limit: int) -> Inbox:
        self._check()
        with self._lock:
            inbox = self._inbox.get(uid, [])
            mark = self._pulled.get(uid, 0)
            if ack is not None:
                del inbox[: bisect.bisect_right(inbox, min(ack, mark))]
            page = inbox[:limit]
            if page and page[-1] > mark:
                self._pulled[uid] = page[-1]
            return Inbox(tuple(self._messages[i] for i in page), len(inbox) > limit)

    def history(
        self, uid: str, peer: str, before: int | None, after: int | None, limit: int
    ) -> list[Message]:
        self._check()
        with self._lock:
            ids = self._conversations.get(_pair(uid, peer), [])
            hi = len(ids) if before is None else bisect.bisect_left(ids, before)
            lo = 0 if after is None else bisect.bisect_right(ids, after)
            return [self._messages[i] for i in reversed(ids[max(lo, hi - limit) : hi])]

    def waiting(self, uid: str) -> list[int]:
        """The msgids in ``uid``'s inbox, lowest first, read without pulling.

        Not part of the port: a pull raises the "pulled through" mark, this does not,
        so tests and debugging can look without changing what an ack may delete.
        """
        with self._lock:
            return list(self._inbox.get(uid, []))

    def contacts(self, uid: str) -> list[str]:
        self._check()
        with self._lock:
            user = self._users.get(uid)
            return sorted(user.contacts) if user else []

    def add_contact(self, uid: str, contact: str, max_contacts: int | None = None) -> None:
        self._check()
        with self._lock:
            _add(self._known(uid, contact).contacts, contact, max_contacts, TooManyContacts)

    def remove_contact(self, uid: str, contact: str) -> None:
        self._check()
        with self._lock:
            user = self._users.get(uid)
            if user is not None:
                user.contacts.pop(contact, None)

    def listed_by(self, uid: str, owners: Iterable[str]) -> set[str]:
        self._check()
        with self._lock:
            return {owner for owner in owners
                    if owner in self._users and uid in self._users[owner].contacts}

    def blocks(self, uid: str) -> list[str]:
        self._check()
        with self._lock:
            user = self._users.get(uid)
            return sorted(user.blocks) if user else []

    def block(self, uid: str, blocked: str, max_blocks: int | None = None) -> None:
        self._check()
        with self._lock:
            _add(self._known(uid, blocked).blocks, blocked, max_blocks, TooManyBlocks)

    def unblock(self, uid: str, blocked: str) -> None:
        self._check()
        with self._lock:
            user = self._users.get(uid)
            if user is not None:
                user.blocks.pop(blocked, None)

    def _known(self, uid: str, other: str) -> _User:
        """``uid``'s record, once both are known (under the lock)."""
        for who in (other, uid):
            if who not in self._users:
                raise UnknownUser(who)
        return self._users[uid]

    def ping(self) -> None:
        self._check()

    def _check(self) -> None:
        if self.down:
            raise MailboxUnavailable("the in-memory mailbox is switched off")


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def _add(entries: dict[str, None], uid: str, limit: int | None,
         full: type[TooManyContacts | TooManyBlocks]) -> None:
    if uid not in entries and limit is not None and len(entries) >= limit:
        raise full(limit)
    entries.setdefault(uid, None)


class InMemoryRateLimiter:
    """Token buckets in a dict: each process limits on its own (see the port).

    Buckets are kept in the order of their last change; one that has refilled holds
    nothing worth keeping, so it is freed from the front as time goes on (buckets of
    different limits refill at different paces, so a few may linger until a later
    sweep reaches them).
    """

    def __init__(self) -> None:
        self.down = False
        self._lock = threading.Lock()
        # key -> the time the bucket is full again (the "theoretical arrival time")
        self._full_at: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._full_at)

    def hit(self, key: str, limit: int, window_ms: int, now_ms: int) -> int:
        self.ping()
        interval = interval_ms(limit, window_ms)
        with self._lock:
            self._sweep(now_ms)
            after = max(self._full_at.get(key, now_ms), now_ms) + interval
            if after - now_ms > limit * interval:
                return after - limit * interval - now_ms
            self._full_at[key] = after
            self._full_at.move_to_end(key)
            return 0

    def ping(self) -> None:
        if self.down:
            raise RateLimiterUnavailable("the in-memory rate limiter is switched off")

    def _sweep(self, now_ms: int) -> None:
        while self._full_at:
            key, full_at = next(iter(self._full_at.items()))
            if full_at > now_ms:
                return
            del self._full_at[key]


class InMemoryGameAuth:
    """A game login service in a dict: tests and demos grant credentials to uids."""

    def __init__(self) -> None:
        self.down = False
        self._granted: dict[str, str] = {}

    def grant(self, uid: str, game_token: str | None = None) -> str:
        """Make ``game_token`` (or a fresh one) prove ``uid`` from now on; return it."""
        token = game_token if game_token is not None else f"game-token-for-{uid}"
        self._granted[uid] = token
        return token

    def verify(self, uid: str, game_token: str) -> None:
        self.ping()
        granted = self._granted.get(uid)
        # A credential is a secret: compared in constant time, like any secret.
        if granted is None or not hmac.compare_digest(
            granted.encode("utf-8", "surrogatepass"), game_token.encode("utf-8", "surrogatepass")
        ):
            raise InvalidCredentials("the game does not vouch for this uid")

    def ping(self) -> None:
        if self.down:
            raise AuthUnavailable("the in-memory game login is switched off")


class _LocalWaiter:
    """A ``Waiter`` on a ``threading.Event`` (cooperative under gevent's patching)."""

    __slots__ = ("_event", "_signals", "uid")

    def __init__(self, signals: InMemoryInboxSignals, uid: str) -> None:
        self._signals = signals
        self._event = threading.Event()
        self.uid = uid

    def wait(self, timeout_s: float) -> bool:
        if self._signals.closed:
            return False
        rung = self._event.wait(max(0.0, timeout_s))
        # Cleared after waking: a ring that lands in between bumped the hint's version
        # first, and the caller reads the inbox after this returns, so nothing is missed.
        self._event.clear()
        return rung and not self._signals.is_closed()

    def close(self) -> None:
        self._signals._forget(self)

    def _wake(self) -> None:
        self._event.set()


class InMemoryInboxSignals:
    """Rings, waiters and inbox hints inside one process.

    The embedded default (one process: a ring wakes waiters directly), and the local
    half of every other implementation: those add a bus that carries rings between
    processes and call ``deliver`` for each ring that arrives, and ``deliver_all``
    when they may have missed some.

    Hints are kept for players seen recently (``hint`` was called within
    ``INBOX_HINT_TTL_MS``), in the order of their last use, so forgetting the rest
    costs nothing per call beyond popping them off the front.
    """

    def __init__(self) -> None:
        self.down = False
        self.closed = False
        self._lock = threading.Lock()
        self._waiters: dict[str, set[_LocalWaiter]] = {}
        # uid -> [version, version seen empty (-1: none), mark lapses at, last used]
        self._hints: OrderedDict[str, list[int]] = OrderedDict()

    def ring(self, uid: str) -> None:
        if self.down:
            raise SignalsUnavailable("the in-memory signals are switched off")
        self.deliver(uid)

    def deliver(self, uid: str) -> None:
        """Take a ring for ``uid``: the hint's version moves on, then waiters wake."""
        with self._lock:
            hint = self._hints.get(uid)
            if hint is not None:
                hint[0] += 1
            waiters = list(self._waiters.get(uid, ()))
        for waiter in waiters:
            waiter._wake()

    def deliver_all(self) -> None:
        """Rings may have been missed: forget every mark and wake every waiter."""
        with self._lock:
            for hint in self._hints.values():
                hint[0] += 1
            waiters = [w for group in self._waiters.values() for w in group]
        for waiter in waiters:
            waiter._wake()

    def hint(self, uid: str, now_ms: int) -> InboxHint:
        with self._lock:
            self._sweep(now_ms)
            hint = self._hints.get(uid)
            if hint is None:
                hint = self._hints[uid] = [0, -1, 0, now_ms]
            else:
                hint[3] = now_ms
                self._hints.move_to_end(uid)
            return InboxHint(hint[0], hint[1] == hint[0] and hint[2] > now_ms)

    def mark_empty(self, uid: str, version: int, now_ms: int) -> None:
        with self._lock:
            hint = self._hints.get(uid)
            if hint is not None and hint[0] == version:
                hint[1] = version
                hint[2] = now_ms + INBOX_HINT_TTL_MS

    def listen(self, uid: str) -> Waiter:
        waiter = _LocalWaiter(self, uid)
        with self._lock:
            self._waiters.setdefault(uid, set()).add(waiter)
        return waiter

    def is_closed(self) -> bool:
        return self.closed

    def close(self) -> None:
        """The process is stopping: every wait, now or later, returns ``False`` at once.

        Held long-polls then answer with what the inbox holds instead of running into
        the server's shutdown deadline.
        """
        self.closed = True
        self.deliver_all()

    def waiting(self) -> int:
        """How many waiters are open in this process (for metrics)."""
        with self._lock:
            return sum(len(group) for group in self._waiters.values())

    def ping(self) -> None:
        if self.down:
            raise SignalsUnavailable("the in-memory signals are switched off")

    def _forget(self, waiter: _LocalWaiter) -> None:
        with self._lock:
            group = self._waiters.get(waiter.uid)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self._waiters[waiter.uid]

    def _sweep(self, now_ms: int) -> None:
        while self._hints:
            uid, hint = next(iter(self._hints.items()))
            if hint[3] + INBOX_HINT_TTL_MS > now_ms:
                return
            del self._hints[uid]
