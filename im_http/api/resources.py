"""The resources of API v1: each translates JSON and query strings to one use case.

Rules live in ``im_core``; statuses for errors live in ``im_http.api.errors``.
"""

from __future__ import annotations

import attrs
import falcon

from im_core import ChatService, Session
from im_http.api.client_address import IpNetwork, client_address
from im_http.api.media import bad_request, int_param, list_page, message_json, read_json
from im_http.observability.metrics import Metrics

__all__ = [
    "Api",
    "Block",
    "Blocks",
    "Contact",
    "Contacts",
    "Health",
    "Heartbeat",
    "History",
    "Login",
    "Logout",
    "Messages",
    "MetricsResource",
    "OpenApi",
    "PresenceResource",
    "Ready",
]


@attrs.frozen
class Api:
    """Shared by every resource: the use cases and how to find the caller's session."""

    service: ChatService
    heartbeat_interval: float
    trusted_proxies: tuple[IpNetwork, ...] = ()

    def address(self, req: falcon.Request) -> str | None:
        """The client's address (see ``im_http.api.client_address``)."""
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
    api: Api

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
    api: Api

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req)
        session = self.api.session(req, "heartbeat")
        # An absent limit is left out, so that the core's default applies (one place).
        given = {"limit": body["limit"]} if "limit" in body else {}
        inbox = self.api.service.heartbeat(session, body.get("ack"), wait=body.get("wait"),
                                           **given)
        wait = body.get("wait")
        held = self.api.service.max_wait_ms > 0 and isinstance(wait, int | float) and wait > 0
        pace = self.api.service.next_heartbeat_ms(session.uid, held=held, more=inbox.more)
        resp.media = {"messages": [message_json(m) for m in inbox.messages], "more": inbox.more,
                      "next_heartbeat_ms": pace}


@attrs.frozen
class Messages:
    api: Api

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
    api: Api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        session = self.api.session(req, "history")
        peer = req.get_param("peer")
        if peer is None:
            raise bad_request("peer is required")
        limit = int_param(req, "limit")
        given = {} if limit is None else {"limit": limit}  # absent: the core's default
        page = self.api.service.history(
            session,
            peer,
            before=int_param(req, "before"),
            after=int_param(req, "after"),
            **given,
        )
        resp.media = {
            "messages": [message_json(m) for m in page.messages],
            "next_before": page.next_before,
        }


@attrs.frozen
class PresenceResource:
    api: Api

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
    api: Api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        session = self.api.session(req, "contacts")
        page = self.api.service.contacts_page(session, **list_page(req))
        resp.media = {
            "contacts": [{"uid": uid, "online": online} for uid, online in page.contacts],
            "next_after": page.next_after,
        }


@attrs.frozen
class Blocks:
    api: Api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        session = self.api.session(req, "blocks")
        page = self.api.service.blocks(session, **list_page(req))
        resp.media = {"blocks": [{"uid": uid} for uid in page.uids],
                      "next_after": page.next_after}


@attrs.frozen
class Block:
    api: Api

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
    api: Api

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
    api: Api

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

    api: Api

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
