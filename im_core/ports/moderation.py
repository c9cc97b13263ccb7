"""The moderation port: every message body is shown to a filter before it is stored.

A game decides what may be said: a word list, its own moderation service, nothing.
The filter answers one of three verdicts; the use case acts on it.
"""

from __future__ import annotations

from typing import Literal, Protocol

import attrs

from im_core.errors import StorageUnavailable

__all__ = [
    "ALLOW",
    "MessageFilter",
    "ModerationUnavailable",
    "Verdict",
]


class ModerationUnavailable(StorageUnavailable):
    """The moderation service could not answer and the filter fails closed: nothing
    was stored, the client may retry."""


@attrs.frozen
class Verdict:
    """What to do with a body: ``allow`` it, ``reject`` it (``reason`` says why, for
    the sender), or ``replace`` it by ``body`` (a masked version)."""

    action: Literal["allow", "reject", "replace"]
    body: str | None = None
    reason: str | None = None


ALLOW = Verdict("allow")


class MessageFilter(Protocol):
    """Judges a message body before it is stored.

    Contract:
        - ``check(sender, target, body)`` returns a ``Verdict``; ``target`` names where
          the message goes (a uid, or ``group:<id>`` / ``channel:<name>``).
        - A ``replace`` verdict's ``body`` is a non-empty string; the use case stores
          it in place of the original (and checks its length again).
        - It answers in bounded time. A filter that cannot judge either allows (fails
          open) or raises ``ModerationUnavailable`` (fails closed); never anything else.
        - It never logs the body.
    """

    def check(self, sender: str, target: str, body: str) -> Verdict: ...
