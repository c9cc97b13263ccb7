"""The inbox-signal port: "this player's inbox may have changed", told to every node.

Two jobs share it because they share one fact, "something was committed for uid":

- **Wake-ups.** A long-polling heartbeat waits on a ``Waiter`` until the signal for
  its player rings, on whichever node the send ran.
- **The inbox hint.** A node remembers "uid's inbox was seen empty, and nothing rang
  since", so that an idle player's heartbeat skips the database.

Both are caches of the mailbox, never its truth: a lost ring costs latency (a waiter
wakes at the end of its wait, a hint lapses ``INBOX_HINT_TTL_MS`` after it was set),
never a message, because every waiter and every stale hint ends in a read of the inbox.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import attrs

from im_core.errors import StorageUnavailable

__all__ = [
    "INBOX_HINT_TTL_MS",
    "InboxHint",
    "InboxSignals",
    "SignalsUnavailable",
    "Waiter",
]

INBOX_HINT_TTL_MS = 60_000
"""How long an "inbox known empty" mark may stand before the database is asked again.

It bounds the delay of a message whose ring was lost (the sending node died between
the commit and the ring, or the signal bus dropped it): late by at most this, never lost.
"""


class SignalsUnavailable(StorageUnavailable):
    """The signal bus (Redis pub/sub...) could not take a ring."""


@attrs.frozen
class InboxHint:
    """What a node knows of one player's inbox without asking the database.

    ``version`` counts the rings this node has seen for the player; ``known_empty``
    says the inbox was seen empty at this version and the mark has not lapsed.
    """

    version: int
    known_empty: bool


class Waiter(Protocol):
    """One waiting request's subscription to one player's rings.

    Contract:
        - ``wait(timeout_s)`` blocks the caller (a thread, or a greenlet under gevent)
          until a ring for the player arrives after the waiter was made, or until
          ``timeout_s`` passes; it returns ``True`` if it was rung. A ring that came
          before ``wait`` was called (but after the waiter was made) returns at once,
          so the caller may read the inbox between making the waiter and waiting.
          It may also return ``True`` spuriously (after the bus reconnected, when a
          ring may have been missed); callers always read the inbox again.
        - ``close()`` ends the subscription; closing twice is harmless.
    """

    def wait(self, timeout_s: float) -> bool: ...

    def close(self) -> None: ...


class InboxSignals(Protocol):
    """Tells every node that a player's inbox may have changed, and what it knows.

    Contract (times are milliseconds since the epoch):
        - ``ring(uid)`` is called after a commit that put something in ``uid``'s inbox
          (and when a session of ``uid`` ends, so its waiting requests notice). Every
          waiter for ``uid``, on any node, that existed when ``ring`` was called is
          woken soon after, and every node's hint for ``uid`` stops being "known
          empty". Raises ``SignalsUnavailable`` if the ring could not be sent; the
          caller treats that as best effort (see the module docstring).
        - ``ring_many(uids)`` is ``ring`` for each uid (a group send rings every
          member), sent in as few round trips as the bus allows.
        - ``hint(uid, now_ms)`` returns this node's ``InboxHint`` for ``uid``. It is
          cheap (no round trip): an idle player's heartbeat calls it instead of the
          database.
        - ``mark_empty(uid, version, now_ms)`` records that the inbox was read empty,
          if the hint's version is still ``version`` (compare-and-set: a ring since
          the read keeps the inbox "not known empty"). The mark lapses
          ``INBOX_HINT_TTL_MS`` after ``now_ms``.
        - ``listen(uid)`` returns a ``Waiter`` for ``uid`` (see ``Waiter``). Waiters
          cost no connection each: one subscription per process serves them all.
        - ``ping()`` returns if rings can be sent now.
        - ``close()`` is called when the process stops: every wait, held now or
          started later, returns ``False`` at once, so held requests answer promptly.
        - A node that may have missed rings (its bus connection dropped) forgets
          every mark and wakes every waiter.
    """

    def ring(self, uid: str) -> None: ...

    def ring_many(self, uids: Iterable[str]) -> None: ...

    def hint(self, uid: str, now_ms: int) -> InboxHint: ...

    def mark_empty(self, uid: str, version: int, now_ms: int) -> None: ...

    def listen(self, uid: str) -> Waiter: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...
