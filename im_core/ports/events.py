"""The events port: what the server tells the game after the fact (a message was sent).

Events are for the game's logs and counters; they are never on the path of a send.
"""

from __future__ import annotations

from typing import Protocol

from im_core.models import Message

__all__ = ["EventSink", "NoEvents"]


class EventSink(Protocol):
    """Takes events for delivery elsewhere, later.

    Contract:
        - ``message_sent(message)`` is called once per message stored (not for a
          retry that stored nothing), after its commit.
        - It returns at once: it never waits on the network, never raises, and when
          it cannot keep up it drops the event (and counts it) rather than block.
        - Delivery is at least once and in no promised order: a receiver
          de-duplicates by ``msgid``.
    """

    def message_sent(self, message: Message) -> None: ...


class NoEvents:
    """The default: events go nowhere."""

    def message_sent(self, message: Message) -> None:
        return None
