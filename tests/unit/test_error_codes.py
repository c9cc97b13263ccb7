"""One table of error codes (``im_http.api.errors.ERROR_CODES``); the rest agree with it."""

from __future__ import annotations

import re
from pathlib import Path

from im_http.api.errors import ERROR_CODES
from im_http.api.openapi import openapi_document

ROOT = Path(__file__).resolve().parents[2]
TABLE = {(error.status, error.code) for error in ERROR_CODES}


def documented_codes() -> set[tuple[int, str]]:
    """(status, code) of every row of docs/api.md's "Errors" table.

    A row may pair several: ``| ... | 404 / 405 | `not_found` / `method_not_allowed` |``,
    or several codes of one status.
    """
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    pairs: set[tuple[int, str]] = set()
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.fullmatch(r"[0-9]{3}( / [0-9]{3})*", cells[1]):
            continue
        statuses = [int(s) for s in cells[1].split(" / ")]
        codes = re.findall(r"`([a-z_]+)`", cells[2])
        if len(statuses) == 1:
            statuses *= len(codes)
        assert len(statuses) == len(codes), line
        pairs.update(zip(statuses, codes, strict=True))
    return pairs


def test_every_error_code_is_one_row_of_the_table_of_the_api_doc() -> None:
    assert documented_codes() == TABLE


def test_the_openapi_enum_of_error_codes_is_the_table() -> None:
    enum = openapi_document()["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
    assert enum == [error.code for error in ERROR_CODES]


def test_every_code_the_sdk_knows_is_in_the_table_with_its_status() -> None:
    from im_http.client import sdk

    known = {(status, code) for status, code in sdk._ERRORS if code is not None}
    assert known, "the SDK maps codes to its errors"
    assert known <= TABLE
    statuses = {status for status, _ in sdk._ERRORS}
    assert statuses <= {error.status for error in ERROR_CODES}


def test_every_code_the_typescript_sdk_knows_is_in_the_table_with_its_status() -> None:
    source = (ROOT / "sdk" / "js" / "src" / "errors.ts").read_text()
    table = source.split("const BY_CODE", 1)[1].split("};", 1)[0]
    known = {(int(status), code) for status, code in re.findall(r'"([0-9]{3}) ([a-z_]+)"', table)}
    assert known, "the TypeScript SDK maps codes to its errors"
    assert known <= TABLE
    by_status = source.split("const BY_STATUS", 1)[1].split("};", 1)[0]
    statuses = {int(s) for s in re.findall(r"\b([0-9]{3}):", by_status)}
    assert statuses and statuses <= {error.status for error in ERROR_CODES}


def test_each_code_is_in_the_table_once() -> None:
    codes = [error.code for error in ERROR_CODES]
    assert len(codes) == len(set(codes))
