"""The HTTP API v1 wired: ``create_app`` puts the resources on their routes.

Resources only translate (``im_http.api.resources``); rules live in ``im_core``;
statuses for errors live in ``im_http.api.errors``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import falcon

from im_core import ChatService
from im_http.api.client_address import DEFAULT_TRUSTED_PROXIES, IpNetwork, parse_networks
from im_http.api.demo_ui import DemoUi
from im_http.api.errors import install_error_handling
from im_http.api.framing import RefuseAmbiguousLength
from im_http.api.groups import (
    ConversationRead,
    Conversations,
    GroupMember,
    GroupMemberRole,
    GroupMembers,
    GroupMessages,
    GroupResource,
    Groups,
)
from im_http.api.media import install_orjson
from im_http.api.openapi import openapi_document
from im_http.api.resources import (
    Api,
    Block,
    Blocks,
    Contact,
    Contacts,
    Health,
    Heartbeat,
    History,
    Login,
    Logout,
    Messages,
    MetricsResource,
    OpenApi,
    PresenceResource,
    Ready,
)
from im_http.api.server_api import SERVER_ROUTES, ServerKeyAuth, ServerKeys
from im_http.observability.metrics import Metrics
from im_http.observability.observer import Observer

__all__ = ["ROUTES", "create_app"]


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
    "/v1/groups": Groups,
    "/v1/groups/{gid}": GroupResource,
    "/v1/groups/{gid}/members": GroupMembers,
    "/v1/groups/{gid}/members/{uid}": GroupMember,
    "/v1/groups/{gid}/members/{uid}/role": GroupMemberRole,
    "/v1/groups/{gid}/messages": GroupMessages,
    "/v1/conversations": Conversations,
    "/v1/conversations/{conversation}/read": ConversationRead,
    "/v1/logout": Logout,
    "/healthz": Health,
    "/readyz": Ready,
    "/openapi.json": OpenApi,
    "/metrics": MetricsResource,
    **SERVER_ROUTES,
}


_LOOPBACK = parse_networks(DEFAULT_TRUSTED_PROXIES)


def create_app(
    service: ChatService,
    *,
    heartbeat_interval: float,
    metrics: Metrics | None = None,
    access_log: bool = True,
    demo_ui: DemoUi | None = None,
    trusted_proxies: Iterable[IpNetwork] = _LOOPBACK,
    server_api_keys: tuple[str, ...] = (),
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
        server_api_keys: the keys the server API (``/v1/server/...``) accepts
            (``IM_SERVER_API_KEYS``); none: every server route answers 401.
    """
    api = Api(service, heartbeat_interval, tuple(trusted_proxies))
    if metrics is None:
        metrics = Metrics(signals=service.signals, mailbox=service.mailbox,
                          events=service.events,
                          session_ttl_s=service.session_ttl_ms / 1000)
    # The observer first: its X-Request-Id is then on every answer, errors included.
    app = falcon.App(media_type=falcon.MEDIA_JSON,
                     middleware=[Observer(metrics, access=access_log)])
    app.req_options.strip_url_path_trailing_slash = False
    install_orjson(app)
    install_error_handling(app)
    app.add_middleware(RefuseAmbiguousLength())
    app.add_middleware(ServerKeyAuth(ServerKeys.of(tuple(server_api_keys))))
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
