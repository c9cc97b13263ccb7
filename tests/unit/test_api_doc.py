"""docs/api.md tells the same API as the OpenAPI document the server serves."""

from __future__ import annotations

import re
from pathlib import Path

from im_http.api.openapi import openapi_document

API_DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
DOCUMENT = openapi_document()
_METHODS = ("get", "post", "put", "delete")


def _rows() -> dict[str, str]:
    """The endpoint table's rows, keyed by their ``METHOD /path`` cell."""
    rows = {}
    for line in API_DOC.splitlines():
        found = re.match(r"\| `((?:GET|POST|PUT|DELETE) /\S*)` \|(.*)", line)
        if found:
            rows.setdefault(found.group(1), found.group(2))  # the endpoint table is first
    return rows


def test_every_operation_of_the_openapi_document_has_a_row_in_the_api_doc_and_back() -> None:
    documented = {f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items()
                  for method in item if method in _METHODS}
    served_ui = {row for row in _rows() if row.startswith(("GET /ui", "POST /ui"))}
    assert set(_rows()) - served_ui == documented


def test_every_request_field_of_the_openapi_document_is_named_in_its_row() -> None:
    rows = _rows()
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            row = rows[f"{method.upper()} {path}"]
            body = operation.get("requestBody", {}).get("content", {}).get(
                "application/json", {}).get("schema", {})
            names = [*body.get("properties", {}),
                     *(p["name"] for p in operation.get("parameters", [])
                       if p.get("in") == "query")]
            for name in names:
                assert f"`{name}`" in row or f'"{name}"' in row, (method, path, name)


def test_every_error_code_of_the_openapi_document_is_in_the_api_doc_s_error_table() -> None:
    codes = DOCUMENT["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
    for code in codes:
        assert f"`{code}`" in API_DOC, code


def test_every_setting_is_in_the_configuration_doc() -> None:
    from im_http.serving.settings import Settings, variable_of

    configuration = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
                     ).read_text()
    for field in Settings.__attrs_attrs__:  # type: ignore[attr-defined]
        variable = variable_of(field.name)
        assert f"`{variable}`" in configuration, variable
