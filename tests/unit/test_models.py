"""The domain's value rules: uids, tokens, bodies and limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from im_core import InvalidInput, MessageTooLong, SessionToken
from im_core.models import check_body, check_client_msg_id, check_limit, check_msgid, check_uid
from tests.strategies import bodies, client_msg_ids, uids


@given(uids, st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
                     min_size=22, max_size=64))
def test_a_token_reads_back_as_the_uid_and_secret_it_was_made_of(uid: str, secret: str) -> None:
    token = SessionToken(uid, secret)
    assert SessionToken.parse(str(token)) == token


@pytest.mark.parametrize("raw", ["", ".", "abc", "YWxpY2U.short", "!!!.AAAAAAAAAAAAAAAAAAAAAAAA",
                                 "YWxpY2U.AAAAAAAAAAAAAAAAAAAAAAAA.extra",
                                 "YSBi.AAAAAAAAAAAAAAAAAAAAAAAA",
                                 "\u00e9.AAAAAAAAAAAAAAAAAAAAAAAA",
                                 "\u00c3\u00a9.AAAAAAAAAAAAAAAAAAAAAAAA",
                                 "YWxpY2U=.AAAAAAAAAAAAAAAAAAAAAAAA",
                                 "YWxp Y2U.AAAAAAAAAAAAAAAAAAAAAAAA"])
def test_a_token_this_server_cannot_have_issued_parses_as_none(raw: str) -> None:
    assert SessionToken.parse(raw) is None


@given(st.text(max_size=200))
def test_parsing_any_text_as_a_token_never_raises(raw: str) -> None:
    token = SessionToken.parse(raw)
    assert token is None or SessionToken.parse(str(token)) == token


@given(uids)
def test_every_uid_of_the_documented_alphabet_is_accepted(uid: str) -> None:
    assert check_uid(uid) == uid


@pytest.mark.parametrize("uid", ["", "a" * 65, "a b", "ü", "a/b", None, 5, ["a"]])
def test_a_uid_outside_the_rules_is_invalid_input(uid: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_uid(uid, "to")
    assert caught.value.field == "to"


@given(bodies)
def test_any_unicode_body_up_to_4096_characters_is_accepted(body: str) -> None:
    assert check_body(body) == body


def test_a_body_of_4097_characters_is_too_long_not_malformed() -> None:
    assert check_body("😀" * 4096)
    with pytest.raises(MessageTooLong):
        check_body("a" * 4097)


def test_a_too_long_body_is_named_once_in_the_error() -> None:
    with pytest.raises(MessageTooLong) as error:
        check_body("a" * 4097)
    assert str(error.value) == "body is 4097 characters; at most 4096"


@given(client_msg_ids)
def test_printable_ascii_client_msg_ids_are_accepted(key: str) -> None:
    assert check_client_msg_id(key) == key


@pytest.mark.parametrize("value", [True, False, 1.5, -1, -1.0, 2**63, 2.0**63, 1e300,
                                   float("inf"), float("nan"), "3"])
def test_msgids_must_be_non_negative_64_bit_integers(value: object) -> None:
    with pytest.raises(InvalidInput):
        check_msgid(value, "ack")


@pytest.mark.parametrize(("value", "read"), [(0, 0), (20303, 20303), (20303.0, 20303),
                                             (0.0, 0), (2.0**62, 2**62)])
def test_integral_floats_are_msgids_as_json_schema_says(value: object, read: int) -> None:
    got = check_msgid(value, "ack")
    assert got == read and type(got) is int


@pytest.mark.parametrize("value", [0, 101, 0.0, 100.5, 101.0, 1e300, float("nan"), True,
                                   None, "5"])
def test_limits_must_be_integers_within_range(value: object) -> None:
    with pytest.raises(InvalidInput):
        check_limit(value, "limit", 100)


def test_an_integral_float_limit_is_its_integer() -> None:
    got = check_limit(100.0, "limit", 100)
    assert got == 100 and type(got) is int


@pytest.mark.parametrize("body", ["nul\x00inside", "lone \ud800 surrogate", "\udfff"])
def test_a_body_no_database_can_store_as_text_is_invalid_input(body: str) -> None:
    with pytest.raises(InvalidInput):
        check_body(body)
