"""``GameAuth`` adapters: the game's own login vouches for a player.

Two ways a game can vouch:

- ``JwtGameAuth``: the game signs a short-lived JWT whose ``sub`` is the uid; the chat
  server checks it offline with a shared secret (HS256) or the game's public key
  (RS256/ES256). Nothing to call, so nothing to go down. Short-lived is enforced: a
  token must carry ``exp``, and one made to last longer than ``max_age_s`` (an hour by
  default) is refused, so a leaked token cannot be a lasting key to the account.
- ``HttpGameAuth`` (``im_adapters.game_auth_http``, re-exported here): the chat server
  asks the game's login service over HTTP, for games whose tokens are opaque session
  ids.

``mint_game_token`` signs HS256 tokens for local trials (``im-server token UID``).
Neither adapter ever puts the game token in an error message or a log line: it is a
bearer credential.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import jwt
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from im_adapters import ConfigurationError
from im_adapters.game_auth_http import HttpGameAuth
from im_core.ports.auth import InvalidCredentials

__all__ = [
    "GAME_TOKEN_MAX_AGE_S",
    "MIN_SECRET_BYTES",
    "HttpGameAuth",
    "JwtGameAuth",
    "mint_game_token",
]

GAME_TOKEN_MAX_AGE_S = 3600
"""The longest lifetime a game JWT may have by default: ``exp - iat`` (or ``exp - now``)."""

MIN_SECRET_BYTES = 32
"""Shortest accepted HS256 secret: a shorter HMAC key can be brute-forced offline."""

# Algorithms grouped by how they read the key. A verifier sticks to one family, so a
# token can never make an RSA public key be used as an HMAC secret (the HS/RS
# confusion attack). "none" belongs to no family and is never accepted.
_FAMILIES: dict[str, frozenset[str]] = {
    "HMAC": frozenset({"HS256", "HS384", "HS512"}),
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
}

# EC curve -> the one JWS algorithm defined for it (RFC 7518 section 3.4).
_EC_ALGORITHMS: dict[str, str] = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}

# PyJWT's exception -> what the player's credential got wrong, in words. PyJWT's own
# messages are not reused: they are not written with secrecy of the token in mind.
_REFUSALS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the game token has expired"),
    (jwt.ImmatureSignatureError, "the game token is not valid yet (iat/nbf in the future)"),
    (jwt.InvalidAlgorithmError, "the game token's signing algorithm is not accepted"),
    (jwt.InvalidSignatureError, "the game token's signature does not verify"),
    (jwt.InvalidIssuerError, "the game token was issued by someone else (iss)"),
    (jwt.InvalidAudienceError, "the game token is meant for another audience (aud)"),
    (jwt.exceptions.InvalidSubjectError, "the game token was issued for another uid"),
    (jwt.InvalidIssuedAtError, "the game token's iat claim is malformed"),
    (jwt.DecodeError, "the game token is not a well-formed JWT"),
)


class JwtGameAuth:
    """Checks a game-signed JWT offline: signature, ``sub`` == uid, expiry, lifetime.

    Build it with ``from_secret`` (HS256) or ``from_public_key_file`` (RS256/ES256);
    the constructor takes a key that is already loaded.
    """

    def __init__(
        self,
        key: Any,
        algorithms: Sequence[str],
        *,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_s: float = 30,
        max_age_s: float = GAME_TOKEN_MAX_AGE_S,
    ) -> None:
        """Check the key against the algorithms once, so ``verify`` cannot hit a config error.

        Args:
            key: an HMAC secret (``str``/``bytes``) for HS*, or a ``cryptography``
                public key (or its PEM) for RS*/PS*/ES*.
            algorithms: the accepted ``alg`` values, all from one family.
            issuer: when set, tokens must carry exactly this ``iss``.
            audience: when set, tokens must name it in ``aud``. When unset, a token
                that carries an ``aud`` is refused (RFC 7519 section 4.1.3).
            leeway_s: tolerated clock skew with the game's servers, in seconds.
            max_age_s: the longest lifetime a token may have, in seconds: ``exp - iat``,
                or ``exp - now`` (plus the leeway) for a token without ``iat``.

        Raises:
            ConfigurationError: no or unknown algorithms, ``none``, a mix of families,
                a key that does not fit them, an HMAC secret that is too short, a
                negative leeway or a max age that is not positive.
        """
        algs = tuple(algorithms)
        if not algs:
            raise ConfigurationError("JWT game auth needs at least one algorithm")
        if any(alg.lower() == "none" for alg in algs):
            raise ConfigurationError('JWT game auth never accepts alg "none"')
        families = {name for name, members in _FAMILIES.items() for alg in algs if alg in members}
        unknown = [alg for alg in algs if not any(alg in m for m in _FAMILIES.values())]
        if unknown:
            raise ConfigurationError(f"unsupported JWT algorithm(s): {', '.join(unknown)}")
        if len(families) != 1:
            raise ConfigurationError(
                f"JWT algorithms {', '.join(algs)} mix key families; use one family only"
            )
        if leeway_s < 0:
            raise ConfigurationError(f"JWT leeway must be >= 0 seconds, not {leeway_s}")
        if not max_age_s > 0:
            raise ConfigurationError(f"the game token max age must be > 0 s, not {max_age_s}")
        prepared: Any = None
        for alg in algs:
            algorithm = jwt.get_algorithm_by_name(alg)
            try:
                prepared = algorithm.prepare_key(key)
            except (jwt.InvalidKeyError, TypeError, ValueError) as error:
                raise ConfigurationError(
                    f"the key does not fit JWT algorithm {alg}: {type(error).__name__}"
                ) from None
            too_short = algorithm.check_key_length(prepared)
            if too_short:
                raise ConfigurationError(f"the key is too weak for {alg}: {too_short}")
        self._key = prepared
        self._algorithms = list(algs)
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = float(leeway_s)
        self._max_age_s = float(max_age_s)

    @classmethod
    def from_secret(cls, secret: str, **opts: Any) -> Self:
        """A verifier for HS256 tokens signed with a secret shared with the game.

        Args:
            secret: the shared secret, at least ``MIN_SECRET_BYTES`` bytes in UTF-8.
            **opts: ``issuer``, ``audience``, ``leeway_s``, ``max_age_s`` as for the
                constructor.

        Raises:
            ConfigurationError: the secret is too short to resist guessing.
        """
        _check_secret(secret)
        return cls(secret.encode("utf-8"), ["HS256"], **opts)

    @classmethod
    def from_public_key_file(cls, path: str | Path, **opts: Any) -> Self:
        """A verifier for tokens signed with the game's private key.

        The algorithm follows from the key, never from the token: RS256 for an RSA key,
        ES256 for an EC P-256 key (ES384/ES512 for P-384/P-521).

        Args:
            path: a PEM file holding a public key or an X.509 certificate.
            **opts: ``issuer``, ``audience``, ``leeway_s``, ``max_age_s`` as for the
                constructor.

        Raises:
            ConfigurationError: the file cannot be read, is not a public key or
                certificate, or holds a key of another type.
        """
        try:
            pem = Path(path).read_bytes()
        except OSError as error:
            raise ConfigurationError(
                f"cannot read the game's public key {str(path)!r}: {error.strerror or error}"
            ) from None
        if b"PRIVATE KEY-----" in pem:
            raise ConfigurationError(
                f"{str(path)!r} holds a private key; give the chat server the public key only"
            )
        public_key: Any
        try:
            if b"-----BEGIN CERTIFICATE-----" in pem:
                public_key = x509.load_pem_x509_certificate(pem).public_key()
            else:
                public_key = load_pem_public_key(pem)
        except ValueError:
            raise ConfigurationError(
                f"{str(path)!r} is not a PEM public key or certificate"
            ) from None
        except UnsupportedAlgorithm as error:
            raise ConfigurationError(
                f"{str(path)!r} cannot be loaded as a public key: {type(error).__name__}"
            ) from None
        if isinstance(public_key, rsa.RSAPublicKey):
            algorithm = "RS256"
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            curve = public_key.curve.name
            if curve not in _EC_ALGORITHMS:
                raise ConfigurationError(
                    f"{str(path)!r} is an EC key on curve {curve}; use P-256 (ES256)"
                )
            algorithm = _EC_ALGORITHMS[curve]
        else:
            raise ConfigurationError(
                f"{str(path)!r} holds a {type(public_key).__name__}; use an RSA or EC P-256 key"
            )
        return cls(public_key, [algorithm], **opts)

    def verify(self, uid: str, game_token: str) -> None:
        """Accept only a validly signed, unexpired, short-lived token whose ``sub`` is ``uid``.

        Raises:
            InvalidCredentials: anything wrong with the token; the message says what.
        """
        try:
            claims = jwt.decode(
                game_token,
                self._key,
                algorithms=self._algorithms,
                options={"require": ["exp", "sub"], "verify_signature": True},
                issuer=self._issuer,
                audience=self._audience,
                subject=uid,
                leeway=self._leeway_s,
            )
        except jwt.MissingRequiredClaimError as error:
            raise InvalidCredentials(f"the game token lacks the {error.claim} claim") from None
        except jwt.PyJWTError as error:
            raise InvalidCredentials(_refusal(error)) from None
        # PyJWT checked sub already; checking again costs nothing and keeps this
        # promise independent of library options.
        if claims.get("sub") != uid:
            raise InvalidCredentials("the game token was issued for another uid")
        # PyJWT checked that exp (required) and iat (if any) are numbers.
        issued = claims.get("iat")
        if issued is None:
            lifetime = claims["exp"] - time.time() - self._leeway_s
        else:
            lifetime = claims["exp"] - issued
        if lifetime > self._max_age_s:
            raise InvalidCredentials(
                f"the game token lasts longer than the {self._max_age_s:g} s accepted"
            )

    def ping(self) -> None:
        """Nothing outside the process is needed: always ready."""


def mint_game_token(
    secret: str,
    uid: str,
    *,
    ttl_s: int = GAME_TOKEN_MAX_AGE_S,
    now: float | None = None,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """Sign an HS256 token proving ``uid``, as a game would: for local trials.

    Args:
        secret: the shared secret, at least ``MIN_SECRET_BYTES`` bytes.
        uid: the player the token proves (its ``sub``).
        ttl_s: seconds until it expires.
        now: the issue time (epoch seconds); defaults to the wall clock.
        issuer: the ``iss`` claim, when the verifier expects one.
        audience: the ``aud`` claim, when the verifier expects one.

    Raises:
        ConfigurationError: the secret is too short or ``ttl_s`` is not positive.
    """
    _check_secret(secret)
    if ttl_s <= 0:
        raise ConfigurationError(f"a game token needs a positive ttl, not {ttl_s}")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": uid, "iat": issued, "exp": issued + ttl_s}
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, secret.encode("utf-8"), algorithm="HS256")


def _check_secret(secret: str) -> None:
    """Refuse an HMAC secret short enough to be guessed."""
    if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"the game JWT secret must be at least {MIN_SECRET_BYTES} bytes "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


def _refusal(error: jwt.PyJWTError) -> str:
    """Say in words what is wrong with a token, without quoting it."""
    for kind, message in _REFUSALS:
        if isinstance(error, kind):
            return message
    return f"the game token does not verify ({type(error).__name__})"
