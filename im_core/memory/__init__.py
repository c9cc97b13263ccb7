"""In-process implementations of every port.

These are shipped adapters, not test helpers: the embedded default keeps sessions
here, a Python game server can run the whole IM in its own process, and every test
that needs no real service uses them. Each is thread-safe (requests run concurrently:
threads, or greenlets under gevent) and honours the same contract suite as the Redis
and SQL adapters.

Each has a ``down`` switch: while it is true, every call raises the port's
"unavailable" error, so outages can be tested without mocks.
"""

from im_core.memory.auth import InMemoryGameAuth
from im_core.memory.clock import ManualClock, SystemClock
from im_core.memory.limits import InMemoryRateLimiter
from im_core.memory.mailbox import InMemoryMailbox
from im_core.memory.mutes import InMemoryMuteStore
from im_core.memory.sessions import InMemorySessionStore
from im_core.memory.signals import InMemoryInboxSignals

__all__ = [
    "InMemoryGameAuth",
    "InMemoryInboxSignals",
    "InMemoryMailbox",
    "InMemoryMuteStore",
    "InMemoryRateLimiter",
    "InMemorySessionStore",
    "ManualClock",
    "SystemClock",
]
