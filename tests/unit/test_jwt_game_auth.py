"""What ``JwtGameAuth`` checks beyond the shared contract: expiry, keys, algorithms, claims.

Attack tokens (``alg: none``, HS256 signed with the RSA public key) are forged by hand
here, because PyJWT itself refuses to produce them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from im_adapters import ConfigurationError
from im_adapters.game_auth import JwtGameAuth, mint_game_token
from im_core.ports.auth import InvalidCredentials

SECRET = "a-development-secret-of-at-least-32-bytes"
OTHER_SECRET = "another-secret-that-is-also-32-bytes-long"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _forge(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    """A compact JWS built by hand; ``sign`` maps the signing input to a signature."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = sign(signing_input.encode("ascii")) if sign else b""
    return f"{signing_input}.{_b64(signature)}"


def _hs256(secret: str, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, secret.encode(), algorithm="HS256")


def _claims(uid: str = "alice", *, exp_in: float | None = 600, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": uid, "iat": now, **extra}
    if exp_in is not None:
        claims["exp"] = now + int(exp_in)
    return claims


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: Any) -> bytes:
    pem: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def _pem_file(tmp_path: Path, content: bytes, name: str = "game.pem") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


# --- time ------------------------------------------------------------------------------


def test_an_expired_token_is_refused() -> None:
    auth = JwtGameAuth.from_secret(SECRET, leeway_s=30)

    with pytest.raises(InvalidCredentials, match="expired"):
        auth.verify("alice", _hs256(SECRET, _claims(exp_in=-120)))


def test_a_token_expired_within_the_leeway_is_accepted() -> None:
    auth = JwtGameAuth.from_secret(SECRET, leeway_s=30)

    auth.verify("alice", _hs256(SECRET, _claims(exp_in=-10)))


def test_a_token_without_exp_is_refused() -> None:
    auth = JwtGameAuth.from_secret(SECRET)

    with pytest.raises(InvalidCredentials, match="exp"):
        auth.verify("alice", _hs256(SECRET, _claims(exp_in=None)))


def test_a_token_lasting_longer_than_the_max_age_is_refused() -> None:
    auth = JwtGameAuth.from_secret(SECRET)  # the default: an hour

    with pytest.raises(InvalidCredentials, match="longer than the 3600 s"):
        auth.verify("alice", _hs256(SECRET, _claims(exp_in=3601)))


def test_a_token_issued_long_ago_is_refused_even_if_little_of_it_is_left() -> None:
    auth = JwtGameAuth.from_secret(SECRET, max_age_s=600)
    now = int(time.time())

    with pytest.raises(InvalidCredentials, match="longer than"):
        auth.verify("alice", _hs256(SECRET, {"sub": "alice", "iat": now - 86_400,
                                             "exp": now + 60}))


def test_a_token_lasting_exactly_the_max_age_is_accepted() -> None:
    auth = JwtGameAuth.from_secret(SECRET, max_age_s=600)

    auth.verify("alice", _hs256(SECRET, _claims(exp_in=600)))


def test_without_iat_the_lifetime_left_counts_against_the_max_age() -> None:
    auth = JwtGameAuth.from_secret(SECRET, max_age_s=600, leeway_s=30)
    now = int(time.time())

    auth.verify("alice", _hs256(SECRET, {"sub": "alice", "exp": now + 600}))
    with pytest.raises(InvalidCredentials, match="longer than"):
        auth.verify("alice", _hs256(SECRET, {"sub": "alice", "exp": now + 10 * 365 * 86_400}))


def test_a_max_age_that_is_not_positive_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="max age"):
        JwtGameAuth.from_secret(SECRET, max_age_s=0)


def test_a_minted_token_lasts_the_max_age_by_default_and_is_accepted() -> None:
    token = mint_game_token(SECRET, "alice")
    claims = jwt.decode(token, options={"verify_signature": False})

    assert claims["exp"] - claims["iat"] == 3600
    JwtGameAuth.from_secret(SECRET).verify("alice", token)


def test_a_token_without_sub_is_refused() -> None:
    auth = JwtGameAuth.from_secret(SECRET)
    claims = _claims()
    del claims["sub"]

    with pytest.raises(InvalidCredentials, match="sub"):
        auth.verify("alice", _hs256(SECRET, claims))


def test_a_token_not_valid_before_a_future_time_is_refused() -> None:
    auth = JwtGameAuth.from_secret(SECRET, leeway_s=30)

    with pytest.raises(InvalidCredentials, match="not valid yet"):
        auth.verify("alice", _hs256(SECRET, _claims(nbf=int(time.time()) + 300)))


def test_a_token_issued_in_the_future_is_refused() -> None:
    auth = JwtGameAuth.from_secret(SECRET, leeway_s=30)
    claims = _claims()
    claims["iat"] = int(time.time()) + 300

    with pytest.raises(InvalidCredentials):
        auth.verify("alice", _hs256(SECRET, claims))


# --- keys and algorithms ---------------------------------------------------------------


def test_a_token_signed_with_another_secret_is_refused() -> None:
    auth = JwtGameAuth.from_secret(SECRET)

    with pytest.raises(InvalidCredentials, match="signature"):
        auth.verify("alice", _hs256(OTHER_SECRET, _claims()))


def test_an_unsigned_alg_none_token_is_refused() -> None:
    auth = JwtGameAuth.from_secret(SECRET)
    token = _forge({"alg": "none", "typ": "JWT"}, _claims())

    with pytest.raises(InvalidCredentials):
        auth.verify("alice", token)


def test_an_hs256_token_keyed_with_the_rsa_public_pem_is_refused_by_an_rs256_verifier(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    pem = _public_pem(rsa_key)
    auth = JwtGameAuth.from_public_key_file(_pem_file(tmp_path, pem))
    token = _forge(
        {"alg": "HS256", "typ": "JWT"},
        _claims(),
        lambda signing_input: hmac.new(pem, signing_input, hashlib.sha256).digest(),
    )

    with pytest.raises(InvalidCredentials, match="algorithm"):
        auth.verify("alice", token)


def test_an_rs256_verifier_accepts_a_token_signed_by_the_game(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    auth = JwtGameAuth.from_public_key_file(_pem_file(tmp_path, _public_pem(rsa_key)))

    auth.verify("alice", jwt.encode(_claims(), rsa_key, algorithm="RS256"))


def test_an_rs256_verifier_refuses_a_token_signed_with_another_rsa_key(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    auth = JwtGameAuth.from_public_key_file(_pem_file(tmp_path, _public_pem(rsa_key)))
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    with pytest.raises(InvalidCredentials, match="signature"):
        auth.verify("alice", jwt.encode(_claims(), stranger, algorithm="RS256"))


def test_an_hs256_verifier_refuses_a_token_of_another_algorithm() -> None:
    auth = JwtGameAuth.from_secret(SECRET)
    token = jwt.encode(_claims(), SECRET.encode() * 2, algorithm="HS512")

    with pytest.raises(InvalidCredentials, match="algorithm"):
        auth.verify("alice", token)


def test_the_algorithm_of_a_public_key_file_follows_the_key_type(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    auth = JwtGameAuth.from_public_key_file(_pem_file(tmp_path, _public_pem(key)))

    auth.verify("alice", jwt.encode(_claims(), key, algorithm="ES256"))


def test_a_certificate_pem_is_read_for_its_public_key(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "game-login")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(rsa_key, hashes.SHA256())
    )
    path = _pem_file(tmp_path, certificate.public_bytes(serialization.Encoding.PEM))

    JwtGameAuth.from_public_key_file(path).verify(
        "alice", jwt.encode(_claims(), rsa_key, algorithm="RS256")
    )


# --- issuer and audience ---------------------------------------------------------------


def test_a_wrong_issuer_is_refused_when_one_is_configured() -> None:
    auth = JwtGameAuth.from_secret(SECRET, issuer="game-login")

    with pytest.raises(InvalidCredentials, match="iss"):
        auth.verify("alice", _hs256(SECRET, _claims(iss="someone-else")))


def test_a_missing_issuer_is_refused_when_one_is_configured() -> None:
    auth = JwtGameAuth.from_secret(SECRET, issuer="game-login")

    with pytest.raises(InvalidCredentials, match="iss"):
        auth.verify("alice", _hs256(SECRET, _claims()))


def test_a_matching_issuer_is_accepted() -> None:
    auth = JwtGameAuth.from_secret(SECRET, issuer="game-login")

    auth.verify("alice", _hs256(SECRET, _claims(iss="game-login")))


def test_a_wrong_audience_is_refused_when_one_is_configured() -> None:
    auth = JwtGameAuth.from_secret(SECRET, audience="chat")

    with pytest.raises(InvalidCredentials, match="aud"):
        auth.verify("alice", _hs256(SECRET, _claims(aud="shop")))


def test_a_missing_audience_is_refused_when_one_is_configured() -> None:
    auth = JwtGameAuth.from_secret(SECRET, audience="chat")

    with pytest.raises(InvalidCredentials, match="aud"):
        auth.verify("alice", _hs256(SECRET, _claims()))


def test_a_matching_audience_is_accepted() -> None:
    auth = JwtGameAuth.from_secret(SECRET, audience="chat")

    auth.verify("alice", _hs256(SECRET, _claims(aud="chat")))
    auth.verify("alice", _hs256(SECRET, _claims(aud=["shop", "chat"])))


# --- configuration ---------------------------------------------------------------------


def test_from_secret_rejects_a_short_secret() -> None:
    with pytest.raises(ConfigurationError, match="32 bytes"):
        JwtGameAuth.from_secret("x" * 31)


def test_the_constructor_rejects_a_short_hmac_key() -> None:
    with pytest.raises(ConfigurationError):
        JwtGameAuth(b"short", ["HS256"])


@pytest.mark.parametrize(
    "algorithms", [[], ["none"], ["HS256", "RS256"], ["RS256", "ES256"], ["XX999"]]
)
def test_the_constructor_rejects_unsafe_algorithm_lists(
    rsa_key: rsa.RSAPrivateKey, algorithms: list[str]
) -> None:
    with pytest.raises(ConfigurationError):
        JwtGameAuth(rsa_key.public_key(), algorithms)


def test_the_constructor_rejects_a_key_of_another_family(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ConfigurationError):
        JwtGameAuth(_public_pem(rsa_key), ["HS256"])
    with pytest.raises(ConfigurationError):
        JwtGameAuth(SECRET.encode(), ["RS256"])


def test_a_missing_key_file_is_a_one_line_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as error:
        JwtGameAuth.from_public_key_file(tmp_path / "absent.pem")

    assert "\n" not in str(error.value)
    assert "absent.pem" in str(error.value)


@pytest.mark.parametrize(
    "content",
    [
        b"not a key at all",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        b"",
    ],
)
def test_a_key_file_without_a_public_key_is_a_one_line_configuration_error(
    tmp_path: Path, content: bytes
) -> None:
    with pytest.raises(ConfigurationError) as error:
        JwtGameAuth.from_public_key_file(_pem_file(tmp_path, content))

    assert "\n" not in str(error.value)


def test_a_private_key_file_is_refused(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    with pytest.raises(ConfigurationError, match="private key"):
        JwtGameAuth.from_public_key_file(_pem_file(tmp_path, pem))


@pytest.mark.parametrize(
    "key", [ec.generate_private_key(ec.SECP256K1()), ed25519.Ed25519PrivateKey.generate()]
)
def test_a_key_of_an_unsupported_type_is_refused(tmp_path: Path, key: Any) -> None:
    with pytest.raises(ConfigurationError):
        JwtGameAuth.from_public_key_file(_pem_file(tmp_path, _public_pem(key)))


# --- minting ---------------------------------------------------------------------------


def test_a_minted_token_round_trips() -> None:
    token = mint_game_token(SECRET, "alice")

    JwtGameAuth.from_secret(SECRET).verify("alice", token)
    assert jwt.decode(token, SECRET.encode(), algorithms=["HS256"])["sub"] == "alice"


def test_a_minted_token_expires_after_its_ttl() -> None:
    token = mint_game_token(SECRET, "alice", ttl_s=60, now=time.time() - 3600)

    with pytest.raises(InvalidCredentials, match="expired"):
        JwtGameAuth.from_secret(SECRET).verify("alice", token)


def test_a_minted_token_proves_only_its_uid() -> None:
    with pytest.raises(InvalidCredentials, match="another uid"):
        JwtGameAuth.from_secret(SECRET).verify("bob", mint_game_token(SECRET, "alice"))


def test_minting_refuses_a_short_secret() -> None:
    with pytest.raises(ConfigurationError):
        mint_game_token("short", "alice")
