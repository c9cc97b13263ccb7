"""The game-login port: the game's own login service vouches for a player.

The chat server keeps no passwords. At login it hands the player's credential to a
``GameAuth`` and believes its answer.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["AuthError", "AuthUnavailable", "GameAuth", "InvalidCredentials"]


class AuthError(Exception):
    """Base of everything a ``GameAuth`` may raise."""


class InvalidCredentials(AuthError, PermissionError):
    """The game's login service says this credential does not prove this uid."""


class AuthUnavailable(AuthError, ConnectionError):
    """The game's login service could not give an answer (down, slow, or broken)."""


class GameAuth(Protocol):
    """Checks that ``game_token`` proves the player is ``uid``.

    Contract:
        - ``verify`` returns ``None`` when the credential is good for exactly this uid;
        - raises ``InvalidCredentials`` when it is not (wrong signature, expired,
          made to last longer than the verifier accepts, issued for another uid,
          refused by the service);
        - raises ``AuthUnavailable`` when no answer could be had in bounded time.
          It never accepts a credential it could not check.
        - ``ping`` raises ``AuthUnavailable`` if ``verify`` could not work now; a
          verifier that needs nothing outside the process returns at once.
    """

    def verify(self, uid: str, game_token: str) -> None: ...

    def ping(self) -> None: ...
