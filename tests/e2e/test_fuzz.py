"""No input makes the server answer 5xx: hypothesis throws anything at every route.

Headers come as arbitrary bytes (handed to the app the way WSGI does, as latin-1
text), bodies as arbitrary JSON or arbitrary bytes, query strings as arbitrary
pairs. Half of the requests carry a live session's token, so the fuzzing reaches the
use cases and not only the authentication in front of them.
"""

from __future__ import annotations

import json
from typing import Any

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from im_http.api.app import ROUTES
from im_http.api.openapi import openapi_document
from tests.e2e.conftest import Stack

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
PATHS = [path.replace("{uid}", "bob") for path in ROUTES] + ["/v1/contacts/\u00e9", "/v1/x"]
OPERATIONS = [(method.upper(), path.replace("{uid}", "bob"))
              for path, item in openapi_document()["paths"].items()
              for method in item if method.upper() in METHODS]

header_text = st.binary(max_size=120).map(lambda raw: raw.decode("latin-1"))
# Near-misses of a real token: a head of base64url with a few foreign characters,
# a secret of the right shape or not.
token_heads = st.text(st.sampled_from([*"YWxpY2U-_=.", "\u00e9", "\u00c3", "\u00a9", " "]),
                      min_size=1, max_size=90)
secrets_ = st.from_regex(r"[A-Za-z0-9_-]{22,40}", fullmatch=True)
token_like = st.builds(lambda head, secret, scheme: f"{scheme} {head}.{secret}",
                       token_heads, secrets_ | header_text,
                       st.sampled_from(["Bearer", "bearer", "Basic"]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12,
)
# Bodies shaped like the API's, with any values: these reach the field checks.
api_fields = st.sampled_from(["uid", "game_token", "client_type", "to", "body",
                              "client_msg_id", "ack", "limit", "wait"])
shaped_bodies = st.dictionaries(api_fields, json_values, max_size=5)
query_params = st.dictionaries(
    st.sampled_from(["peer", "before", "after", "limit", "uid", "x"]),
    st.text(max_size=25) | st.integers().map(str),
    max_size=4,
)

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def fuzzed(memory_stack: Stack) -> tuple[falcon.testing.TestClient, str]:
    memory_stack.api.login("bob")
    return memory_stack.api.client, memory_stack.api.login("alice")


def _check(result: falcon.testing.Result, request: Any) -> None:
    assert result.status_code < 500, (request, result.status_code, result.text[:300])
    if result.status_code >= 400:
        assert result.json["code"], request  # errors stay JSON with a code


@FUZZ
@given(authorization=header_text | token_like | st.just("Bearer LIVE") | st.none(),
       content_type=st.none() | st.just("application/json") | header_text,
       extra=header_text)
def test_arbitrary_headers_never_get_a_5xx_on_any_route(
    fuzzed: tuple[falcon.testing.TestClient, str],
    authorization: str | None, content_type: str | None, extra: str,
) -> None:
    client, live = fuzzed
    headers = {"X-Anything": extra}
    if authorization is not None:
        headers["Authorization"] = authorization.replace("LIVE", live)
    if content_type is not None:
        headers["Content-Type"] = content_type
    for method, path in OPERATIONS:
        result = client.simulate_request(method, path, headers=headers, body=b"{}")
        _check(result, (method, path, headers))


@FUZZ
@given(method=st.sampled_from(METHODS), path=st.sampled_from(PATHS),
       body=shaped_bodies | json_values, raw=st.none() | st.binary(max_size=200),
       params=query_params, authed=st.booleans())
def test_arbitrary_bodies_and_queries_never_get_a_5xx(
    fuzzed: tuple[falcon.testing.TestClient, str], method: str, path: str, body: Any,
    raw: bytes | None, params: dict[str, str], authed: bool,
) -> None:
    client, live = fuzzed
    headers = {"Content-Type": "application/json"}
    if authed:
        headers["Authorization"] = f"Bearer {live}"
    data = raw if raw is not None else json.dumps(body).encode()
    result = client.simulate_request(method, path, headers=headers, body=data, params=params)
    _check(result, (method, path, body, raw, params))
