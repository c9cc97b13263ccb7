"""The HTTP API v1: thin Falcon resources over ``ChatService``.

Resources only translate: JSON and query strings in, the use case called, JSON out.
Rules live in ``im_core``; statuses for errors live in ``im_http.errors``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from typing import Any

import attrs
import falcon
import falcon.media
import orjson

from im_core import ChatService, Message, Session
from im_http.client_address import IpNetwork, client_address
from im_http.demo_ui import DemoUi
from im_http.errors import ApiError, install_error_handling
from im_http.framing import RefuseAmbiguousLength
from im_http.metrics import Metrics
from im_http.observability import Observer
from im_http.openapi import openapi_document

__all__ = ["MAX_REQUEST_BYTES", "ROUTES", "MetricsResource", "create_app", "install_orjson"]

MAX_REQUEST_BYTES = 64 * 1024
_DIGITS = re.compile(r"[0-9]{1,19}")


def message_json(message: Message) -> dict[str, Any]:
    """The API's JSON form of a message."""
    return {
        "msgid": message.msgid,
        "from": message.sender,
        "to": message.recipient,
        "body": message.body,
        "sent_at": message.sent_at,
        "client_msg_id": message.client_msg_id,
    }


def _bad(description: str) -> ApiError:
    return ApiError(400, "invalid_request", "Invalid request", description)


def read_json(req: falcon.Request) -> dict[str, Any]:
    """Read the request body as a JSON object, within the size limit.

    An empty body is ``{}``, so ``POST /v1/heartbeat`` needs no body at all.
    """
    if req.content_length is not None and req.content_length > MAX_REQUEST_BYTES:
        raise ApiError(413, "payload_too_large", "Request too large",
                       f"the request body may be at most {MAX_REQUEST_BYTES} bytes")
    raw = req.bounded_stream.read(MAX_REQUEST_BYTES + 1)
    if len(raw) > MAX_REQUEST_BYTES:
        raise ApiError(413, "payload_too_large", "Request too large",
                       f"the request body may be at most {MAX_REQUEST_BYTES} bytes")
    if not raw:
        return {}
    media_type = (req.content_type or "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Unsupported media type",
                       "the request body must be application/json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _bad("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    return body


def _int_param(req: falcon.Request, name: str) -> int | None:
    raw = req.get_param(name)
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw):
        raise _bad(f"{name} must be a non-negative integer")
    return int(raw)


@attrs.frozen
class _Api:
    """Shared by every resource: the use cases and how to find the caller's session."""

    service: ChatService
    heartbeat_interval: float
    trusted_proxies: tuple[IpNetwork, ...] = ()

    def address(self, req: falcon.Request) -> str | None:
        """The client's address (see ``im_http.client_address``)."""
        return client_address(req.env.get("REMOTE_ADDR"), req.get_header("X-Forwarded-For"),
                              self.trusted_proxies)

    def session(self, req: falcon.Request, command: str) -> Session:
        scheme, _, token = (req.auth or "").partition(" ")
        if scheme.lower() != "bearer":
            token = ""
        return self.service.authenticate(token.strip() or None, command)


def _seconds(value: float) -> float | int:
    return int(value) if value == int(value) else value


@attrs.frozen
class Login:
    api: _Api

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req)
        session = self.api.service.login(
            body.get("uid"), body.get("game_token"), body.get("client_type"),
            self.api.address(req),
        )
        resp.media = {
            "token": str(session.token),
            "uid": session.uid,
            # The TTL the service enforces, so that clients are never told another.
            "session_ttl": _seconds(self.api.service.session_ttl_ms / 1000),
            "heartbeat_interval": _seconds(self.api.heartbeat_interval),
            "max_wait": _seconds(self.api.service.max_wait_ms / 1000),
        }


@attrs.frozen
class Heartbeat:
    api: _Api

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req)
        session = self.api.session(req, "heartbeat")
        # An absent limit is left out, so that the core's default applies (one place).
        given = {"limit": body["limit"]} if "limit" in body else {}
        inbox = self.api.service.heartbeat(session, body.get("ack"), wait=body.get("wait"),
                                           **given)
        resp.media = {"messages": [message_json(m) for m in inbox.messages], "more": inbox.more}


@attrs.frozen
class Messages:
    api: _Api

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req)
        session = self.api.session(req, "send")
        message, created = self.api.service.send(
            session, body.get("to"), body.get("body"), body.get("client_msg_id")
        )
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.media = message_json(message)


@attrs.frozen
class History:
    api: _Api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        session = self.api.session(req, "history")
        peer = req.get_param("peer")
        if peer is None:
            raise _bad("peer is required")
        limit = _int_param(req, "limit")
        given = {} if limit is None else {"limit": limit}  # absent: the core's default
        page = self.api.service.history(
            session,
            peer,
            before=_int_param(req, "before"),
            after=_int_param(req, "after"),
            **given,
        )
        resp.media = {
            "messages": [message_json(m) for m in page.messages],
            "next_before": page.next_before,
        }


@attrs.frozen
class PresenceResource:
    api: _Api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        session = self.api.session(req, "presence")
        uids = req.get_param_as_list("uid") or []
        found = self.api.service.presence(session, uids)
        resp.media = {
            "presence": {
                uid: {"online": p.online, "client_type": p.client_type,
                      "last_seen": p.last_seen}
                for uid, p in found.items()
            }
        }


@attrs.frozen
class Contacts:
    api: _Api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        session = self.api.session(req, "contacts")
        page = self.api.service.contacts_page(session, **_list_page(req))
        resp.media = {
            "contacts": [{"uid": uid, "online": online} for uid, online in page.contacts],
            "next_after": page.next_after,
        }


def _list_page(req: falcon.Request) -> dict[str, Any]:
    """``after`` and ``limit`` of a list's page; absent ones leave the core's defaults."""
    given: dict[str, Any] = {}
    after = req.get_param("after")
    if after is not None:
        given["after"] = after
    limit = _int_param(req, "limit")
    if limit is not None:
        given["limit"] = limit
    return given


@attrs.frozen
class Blocks:
    api: _Api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        session = self.api.session(req, "blocks")
        page = self.api.service.blocks(session, **_list_page(req))
        resp.media = {"blocks": [{"uid": uid} for uid in page.uids],
                      "next_after": page.next_after}


@attrs.frozen
class Block:
    api: _Api

    def on_put(self, req: falcon.Request, resp: falcon.Response, uid: str) -> None:
        read_json(req)
        session = self.api.session(req, "block")
        self.api.service.block(session, uid)
        resp.status = falcon.HTTP_204

    def on_delete(self, req: falcon.Request, resp: falcon.Response, uid: str) -> None:
        session = self.api.session(req, "unblock")
        self.api.service.unblock(session, uid)
        resp.status = falcon.HTTP_204


@attrs.frozen
class Contact:
    api: _Api

    def on_put(self, req: falcon.Request, resp: falcon.Response, uid: str) -> None:
        read_json(req)
        session = self.api.session(req, "add_contact")
        self.api.service.add_contact(session, uid)
        resp.status = falcon.HTTP_204

    def on_delete(self, req: falcon.Request, resp: falcon.Response, uid: str) -> None:
        session = self.api.session(req, "remove_contact")
        self.api.service.remove_contact(session, uid)
        resp.status = falcon.HTTP_204


@attrs.frozen
class Logout:
    api: _Api

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        read_json(req)
        self.api.service.logout(self.api.session(req, "logout"))
        resp.status = falcon.HTTP_204


class Health:
    """The process is up: answers without touching any port."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


@attrs.frozen
class Ready:
    """Every port answers; a load balancer sends traffic only while this is 200."""

    api: _Api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.api.service.check_ready()
        resp.media = {"status": "ready"}


@attrs.frozen
class OpenApi:
    document: bytes

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self.document


@attrs.frozen
class MetricsResource:
    """Prometheus' scrape: every worker's counts, in the text exposition format."""

    metrics: Metrics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data, resp.content_type = self.metrics.render()


ROUTES: dict[str, type] = {
    "/v1/login": Login,
    "/v1/heartbeat": Heartbeat,
    "/v1/messages": Messages,
    "/v1/messages/history": History,
    "/v1/presence": PresenceResource,
    "/v1/contacts": Contacts,
    "/v1/contacts/{uid}": Contact,
    "/v1/blocks": Blocks,
    "/v1/blocks/{uid}": Block,
    "/v1/logout": Logout,
    "/healthz": Health,
    "/readyz": Ready,
    "/openapi.json": OpenApi,
    "/metrics": MetricsResource,
}


def install_orjson(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    """Make ``app`` read and write JSON media with orjson.

    orjson: several times faster than the json module on the hot path (measured with
    the benchmark's profile), and strict: it refuses lone surrogates. The benchmark's
    bare app calls this too, so that its yardstick does the same JSON work.
    """
    handler = falcon.media.JSONHandler(dumps=orjson.dumps, loads=orjson.loads)
    app.req_options.media_handlers[falcon.MEDIA_JSON] = handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = handler


_LOOPBACK = (ipaddress.ip_network("127.0.0.1"), ipaddress.ip_network("::1"))


def create_app(
    service: ChatService,
    *,
    heartbeat_interval: float,
    metrics: Metrics | None = None,
    access_log: bool = True,
    demo_ui: DemoUi | None = None,
    trusted_proxies: Iterable[IpNetwork] = _LOOPBACK,
) -> falcon.App[falcon.Request, falcon.Response]:
    """Wire the HTTP API to a ready ``ChatService``; this function only wires.

    Clients are told the session TTL that ``service`` enforces, read from it.

    Args:
        service: the use cases, with their ports already built.
        heartbeat_interval: seconds between heartbeats (told to clients).
        metrics: where requests are counted for ``/metrics``; a new ``Metrics`` over
            ``service``'s signals if not given.
        access_log: write one ``im_http.access`` line per request.
        demo_ui: serve the browser demo page under ``/ui/`` (``--demo-ui``).
        trusted_proxies: peers whose ``X-Forwarded-For`` names the client
            (``IM_TRUSTED_PROXIES``; by default the loopback addresses).
    """
    api = _Api(service, heartbeat_interval, tuple(trusted_proxies))
    if metrics is None:
        metrics = Metrics(signals=service.signals,
                          session_ttl_s=service.session_ttl_ms / 1000)
    # The observer first: its X-Request-Id is then on every answer, errors included.
    app = falcon.App(media_type=falcon.MEDIA_JSON,
                     middleware=[Observer(metrics, access=access_log)])
    app.req_options.strip_url_path_trailing_slash = False
    install_orjson(app)
    install_error_handling(app)
    app.add_middleware(RefuseAmbiguousLength())
    document = json.dumps(openapi_document()).encode()
    for path, resource in ROUTES.items():
        if resource is Health:
            app.add_route(path, Health())
        elif resource is OpenApi:
            app.add_route(path, OpenApi(document))
        elif resource is MetricsResource:
            app.add_route(path, MetricsResource(metrics))
        else:
            app.add_route(path, resource(api))
    if demo_ui is not None:
        demo_ui.install(app)
    return app
