"""``/openapi.json`` is a valid OpenAPI 3.1 document that describes exactly what is served."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from im_http.api.app import ROUTES
from im_http.api.openapi import openapi_document
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


def _operations() -> list[tuple[str, str, dict[str, object]]]:
    return [(method, path, operation)
            for path, item in openapi_document()["paths"].items()
            for method, operation in item.items() if method in METHODS]


def test_every_body_and_parameter_has_an_example_a_fuzzer_can_start_from() -> None:
    document = openapi_document()
    for method, path, operation in _operations():
        body = operation.get("requestBody")
        if isinstance(body, dict):
            assert "example" in body["content"]["application/json"], (method, path)
        params = [*document["paths"][path].get("parameters", []),
                  *operation.get("parameters", [])]  # type: ignore[misc]
        for param in params:
            assert "example" in param, (method, path, param["name"])


def test_logins_links_lead_to_every_operation_that_needs_a_known_player() -> None:
    ids = {operation["operationId"] for _, _, operation in _operations()}
    assert len(ids) == len(_operations())
    links = openapi_document()["paths"]["/v1/login"]["post"]["responses"]["200"]["links"]
    assert {link["operationId"] for link in links.values()} <= ids
    for name in ("addContact", "removeContact", "block", "unblock", "history", "send"):
        assert name in {link["operationId"] for link in links.values()}


def test_a_429_tells_retry_after_wherever_it_can_be_answered() -> None:
    for method, path, operation in _operations():
        responses = operation["responses"]
        assert isinstance(responses, dict)
        if "429" in responses:
            assert "Retry-After" in responses["429"]["headers"], (method, path)
