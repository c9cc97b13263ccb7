"""What one player may do, and how often: the abuse limits, with their defaults.

The defaults live here, once; ``im_http.serving.settings`` reads overrides from the
environment, and ``docs`` and the README quote these values.
"""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = [
    "GROUP_MEMBERS_CAP",
    "LIST_PAGE_DEFAULT",
    "LIST_PAGE_MAX",
    "Limits",
    "PresenceScope",
    "RateLimit",
]

LIST_PAGE_MAX = 500
LIST_PAGE_DEFAULT = 100  # contacts or blocks per page when the caller names no limit

GROUP_MEMBERS_CAP = 2000
"""The highest member cap a server may set: a group send writes one inbox row per member
in one transaction, and beyond this a send holds too many row locks for too long."""

PresenceScope = Literal["all", "contacts"]


@attrs.frozen
class RateLimit:
    """``count`` actions at once, then one more every ``window_ms / count``."""

    count: int = attrs.field(validator=attrs.validators.ge(1))
    window_ms: int = attrs.field(validator=attrs.validators.ge(1))

    def __str__(self) -> str:
        return f"{self.count}/{self.window_ms / 1000:g}s"


@attrs.frozen
class Limits:
    """The bounds a ``ChatService`` enforces; ``None`` turns a rate limit off.

    - ``sends``: messages per sender. 20 at once (a burst of quick replies), then
      one every half second: far above a player typing, far below a spam script.
    - ``logins``: login attempts per uid (good or bad credentials alike): 10 per
      minute stops guessing and reconnect storms, not a player whose network drops.
    - ``logins_per_address``: login attempts per client address, over all uids:
      120 per minute, so a school or carrier NAT with many players behind one
      address still gets in, while one host spraying uids does not.
    - ``max_contacts`` / ``max_blocks``: entries in one player's lists.
    - ``max_group_members``: members of one group, the owner included (500, as
      WeChat's groups; at most ``GROUP_MEMBERS_CAP``).
    """

    sends: RateLimit | None = RateLimit(20, 10_000)
    logins: RateLimit | None = RateLimit(10, 60_000)
    logins_per_address: RateLimit | None = RateLimit(120, 60_000)
    max_contacts: int = attrs.field(default=1000, validator=attrs.validators.ge(1))
    max_blocks: int = attrs.field(default=1000, validator=attrs.validators.ge(1))
    max_group_members: int = attrs.field(default=500, validator=[
        attrs.validators.ge(1), attrs.validators.le(GROUP_MEMBERS_CAP)])
