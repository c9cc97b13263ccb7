"""The ``GameAuth`` contract, run against every implementation; then JWT specifics.

The implementations and the fake login service are in ``game_auth_contract.py``;
the HTTP adapter's specifics are in ``test_game_auth_contract_http.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest

from im_adapters.game_auth import JwtGameAuth
from im_core.ports.auth import InvalidCredentials
from tests.integration.game_auth_contract import (
    SECRET,
    Implementation,
    _write_public_pem,
)

# --- the contract ----------------------------------------------------------------------


def test_a_good_credential_for_the_uid_passes(implementation: Implementation) -> None:
    token = implementation.credential_for("alice")

    implementation.auth.verify("alice", token)


def test_the_same_credential_for_another_uid_is_refused(implementation: Implementation) -> None:
    token = implementation.credential_for("alice")
    implementation.credential_for("bob")

    with pytest.raises(InvalidCredentials):
        implementation.auth.verify("bob", token)


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "e30.e30.", "\u00e9\u00e9\u00e9"])
def test_garbage_is_refused(implementation: Implementation, garbage: str) -> None:
    implementation.credential_for("alice")

    with pytest.raises(InvalidCredentials):
        implementation.auth.verify("alice", garbage)


def test_a_refusal_never_quotes_the_token(implementation: Implementation) -> None:
    token = implementation.credential_for("alice")

    with pytest.raises(InvalidCredentials) as refused:
        implementation.auth.verify("mallory", token)

    assert token not in str(refused.value)


def test_ping_answers_and_the_verifier_still_works_after_it(
    implementation: Implementation,
) -> None:
    assert implementation.auth.ping() is None
    implementation.auth.verify("alice", implementation.credential_for("alice"))
    with pytest.raises(InvalidCredentials):
        implementation.auth.verify("bob", implementation.credential_for("alice"))


# --- JWT specifics: every algorithm family enforces short-lived tokens -----------------


@dataclass
class Signer:
    auth: JwtGameAuth
    sign: Callable[[dict[str, Any]], str]


@pytest.fixture(params=["hs256", "rs256", "es256"])
def signer(request: pytest.FixtureRequest, tmp_path: Path) -> Signer:
    """A JWT verifier (default max age, an hour) and the game's way to sign claims."""
    if request.param == "hs256":
        return Signer(JwtGameAuth.from_secret(SECRET),
                      lambda claims: jwt.encode(claims, SECRET.encode(), "HS256"))
    key = request.getfixturevalue("rsa_key" if request.param == "rs256" else "ec_key")
    auth = JwtGameAuth.from_public_key_file(_write_public_pem(tmp_path, key))
    return Signer(auth, lambda claims: jwt.encode(claims, key, request.param.upper()))


def test_a_jwt_without_exp_is_refused(signer: Signer) -> None:
    with pytest.raises(InvalidCredentials, match="exp"):
        signer.auth.verify("alice", signer.sign({"sub": "alice", "iat": int(time.time())}))


@pytest.mark.parametrize("with_iat", [True, False])
def test_a_jwt_lasting_longer_than_an_hour_is_refused(signer: Signer, with_iat: bool) -> None:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "alice", "exp": now + 2 * 3600}
    if with_iat:
        claims["iat"] = now

    with pytest.raises(InvalidCredentials, match="longer than"):
        signer.auth.verify("alice", signer.sign(claims))


def test_a_jwt_lasting_an_hour_is_accepted(signer: Signer) -> None:
    now = int(time.time())

    signer.auth.verify("alice", signer.sign({"sub": "alice", "iat": now, "exp": now + 3600}))
