"""The clock port: time is injected so TTLs and timestamps are deterministic in tests."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Clock"]


class Clock(Protocol):
    """Tells the current time.

    Contract: ``now_ms()`` returns milliseconds since the Unix epoch (UTC) and never
    goes backwards within one process.
    """

    def now_ms(self) -> int: ...
