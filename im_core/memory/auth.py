"""A game login that grants tokens itself: for tests, demos and embedding."""

from __future__ import annotations

import hmac

from im_core.ports import (
    AuthUnavailable,
    InvalidCredentials,
)

__all__ = ["InMemoryGameAuth"]


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
