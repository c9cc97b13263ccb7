"""``/openapi.json`` is a valid OpenAPI 3.1 document that describes exactly what is served."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from im_http.app import ROUTES
from im_http.openapi import openapi_document
from tests.e2e.conftest import Stack

METHODS = ("get", "put", "post", "delete", "patch")


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_served_route_is_documented_and_nothing_else(memory_stack: Stack) -> None:
    app = memory_stack.api.client.app
    documented = openapi_document()["paths"]
    assert set(documented) == set(ROUTES)
    for path, resource in ROUTES.items():
        served = {m for m in METHODS if hasattr(resource, f"on_{m}")}
        assert served == {m for m in documented[path] if m in METHODS}, path
    assert app is not None


def test_the_document_is_served_as_json(memory_stack: Stack) -> None:
    result = memory_stack.api.get("/openapi.json")
    assert result.status_code == 200
    assert json.loads(result.text) == openapi_document()


def test_every_authenticated_operation_documents_401_and_503() -> None:
    for path, item in openapi_document()["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation and operation.get("security"):
                assert {"401", "503"} <= set(operation["responses"]), (method, path)
