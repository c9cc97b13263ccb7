"""An HTTP client over the real Falcon app, on every stack, that checks the contract.

Every response any e2e test sees is validated against ``/openapi.json``: its status
must be documented for that path and method, and its JSON must match the schema.
The ``stack`` fixture runs each test on the in-memory ports and on the real
Redis + PostgreSQL and Redis + MariaDB stacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import attrs
import falcon.testing
import jsonschema
import pytest

from im_core import (
    ChatService,
    InMemoryGameAuth,
    InMemoryInboxSignals,
    InMemoryMailbox,
    InMemorySessionStore,
    MailboxRepository,
    ManualClock,
    SessionStore,
)
from im_core.ports import InboxSignals
from im_http.api.app import create_app
from im_http.api.openapi import openapi_document
from tests.e2e.client_harness import (  # noqa: F401 (for test_client*.py)
    _close_clients,
    proxy,
    server,
    short_lived,
)
from tests.e2e.nodes_harness import nodes  # noqa: F401 (the two nodes, for test_nodes*.py)

DOCUMENT = openapi_document()
TEMPLATES = [
    (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
    for path in DOCUMENT["paths"]
]


def _template(path: str) -> str:
    for pattern, template in TEMPLATES:
        if pattern.match(path):
            return template
    return ""


def check_against_openapi(method: str, path: str, result: falcon.testing.Result) -> None:
    """Fail the test if ``result`` is not what the OpenAPI document promises."""
    template = _template(path)
    if not template:
        assert result.status_code == 404, f"{path} is served but not documented"
        assert result.json["code"] == "not_found"
        return
    operation = DOCUMENT["paths"][template].get(method.lower())
    if operation is None:
        assert result.status_code == 405, f"{method} {path} is served but not documented"
        assert result.json["code"] == "method_not_allowed"
        return
    responses = operation["responses"]
    status = str(result.status_code)
    assert status in responses, f"{method} {template} answered {status}, not documented"
    content = responses[status].get("content")
    if content is None:
        assert not result.content, f"{method} {template} {status} must have no body"
        return
    if "application/json" not in content:  # /metrics: text, checked by its own tests
        (media_type,) = content
        assert result.headers["content-type"].startswith(media_type)
        return
    assert result.headers["content-type"].startswith("application/json")
    schema = {"allOf": [content["application/json"]["schema"]],
              "components": DOCUMENT["components"]}
    jsonschema.Draft202012Validator(schema).validate(result.json)


@attrs.define
class ApiClient:
    """``falcon.testing.TestClient`` plus the calls every test makes."""

    client: falcon.testing.TestClient
    auth: InMemoryGameAuth

    def request(self, method: str, path: str, *, token: str | None = None,
                **kwargs: Any) -> falcon.testing.Result:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        result = self.client.simulate_request(method, path, headers=headers, **kwargs)
        check_against_openapi(method, path, result)
        return result

    def post(self, path: str, json: Any = None, **kwargs: Any) -> falcon.testing.Result:
        if json is not None:
            kwargs["json"] = json
        return self.request("POST", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> falcon.testing.Result:
        return self.request("GET", path, **kwargs)

    def login(self, uid: str, client_type: str = "ios") -> str:
        """Log ``uid`` in (granting it a game credential first); return its token."""
        game_token = self.auth.grant(uid)
        result = self.post("/v1/login", {"uid": uid, "game_token": game_token,
                                         "client_type": client_type})
        assert result.status_code == 200, result.json
        token: str = result.json["token"]
        return token

    def send(self, token: str, to: str, body: str, client_msg_id: str | None = None
             ) -> falcon.testing.Result:
        return self.post("/v1/messages", {"to": to, "body": body,
                                          "client_msg_id": client_msg_id}, token=token)

    def heartbeat(self, token: str, ack: int | None = None, limit: int | None = None
                  ) -> falcon.testing.Result:
        body: dict[str, Any] = {"ack": ack}
        if limit is not None:
            body["limit"] = limit
        return self.post("/v1/heartbeat", body, token=token)


@attrs.define
class Stack:
    """One running app and the ports behind it."""

    name: str
    api: ApiClient
    sessions: SessionStore
    mailbox: MailboxRepository
    auth: InMemoryGameAuth
    clock: ManualClock
    service: ChatService

    def with_session_ttl(self, ttl_ms: int) -> Stack:
        """A second app on the same ports whose sessions live ``ttl_ms``.

        For the tests of expiry, which cannot wait for the usual 10 s.
        """
        return build_stack(self.name, self.sessions, self.mailbox, ttl_ms=ttl_ms)


def build_stack(name: str, sessions: SessionStore, mailbox: MailboxRepository,
                ttl_ms: int = 10_000, signals: InboxSignals | None = None) -> Stack:
    """The app over ``sessions`` and ``mailbox``, with a fake game login and clock.

    ``signals`` defaults to the in-process ones: one stack is one node.
    """
    auth = InMemoryGameAuth()
    clock = ManualClock()
    service = ChatService(sessions, mailbox, auth, clock, session_ttl_ms=ttl_ms,
                          signals=signals or InMemoryInboxSignals())
    app = create_app(service, heartbeat_interval=2)
    api = ApiClient(falcon.testing.TestClient(app), auth)
    return Stack(name, api, sessions, mailbox, auth, clock, service)


@pytest.fixture(params=["memory", "redis+postgres", "redis+mysql"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The app on in-memory ports, and on the real Redis + PostgreSQL / MariaDB."""
    if request.param == "memory":
        yield build_stack("memory", InMemorySessionStore(), InMemoryMailbox())
        return
    from im_adapters.redis_sessions import RedisSessionStore
    database = "postgres" if request.param == "redis+postgres" else "mysql"
    sessions = RedisSessionStore.from_url(
        request.getfixturevalue("redis_url"),
        namespace=request.getfixturevalue("redis_namespace"),
    )
    mailbox = request.getfixturevalue("sql_mailbox")(database)
    try:
        yield build_stack(request.param, sessions, mailbox)
    finally:
        sessions.close()


@pytest.fixture
def memory_stack() -> Stack:
    """The app on in-memory ports only: for what needs the fake clock or a switch."""
    return build_stack("memory", InMemorySessionStore(), InMemoryMailbox())


@pytest.fixture
def api(stack: Stack) -> ApiClient:
    return stack.api
