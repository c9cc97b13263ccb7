"""The server API (``/v1/server/...``): what a game's own servers call, by API key.

Every route under ``/v1/server/`` is refused (401 ``invalid_api_key``) unless the
request carries ``Authorization: Bearer <key>`` with one of ``IM_SERVER_API_KEYS``. A
player's session token is never a key. The check runs before routing, so an unknown
path under ``/v1/server/`` tells nothing either. Keys are compared in constant time,
against every key (each as its SHA-256, so not even a key's length shows), and never
logged.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import attrs
import falcon

from im_core import Mute
from im_http.api.errors import ApiError
from im_http.api.media import read_json
from im_http.api.resources import Api

__all__ = [
    "SERVER_PREFIX",
    "SERVER_ROUTES",
    "ServerKeyAuth",
    "ServerKeys",
    "mute_json",
]

SERVER_PREFIX = "/v1/server/"


@attrs.frozen
class ServerKeys:
    """The accepted API keys, kept as SHA-256 digests only."""

    digests: tuple[bytes, ...] = attrs.field(repr=False)

    @classmethod
    def of(cls, keys: tuple[str, ...]) -> ServerKeys:
        return cls(tuple(hashlib.sha256(key.encode()).digest() for key in keys))

    def accepts(self, presented: str) -> bool:
        """Whether ``presented`` is a key; the same work whichever key (if any) matches."""
        digest = hashlib.sha256(presented.encode("utf-8", "replace")).digest()
        found = False
        for known in self.digests:
            found |= hmac.compare_digest(digest, known)
        return found


class ServerKeyAuth:
    """Falcon middleware: requests under ``/v1/server/`` need a valid API key."""

    def __init__(self, keys: ServerKeys) -> None:
        self._keys = keys

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not (req.path + "/").startswith(SERVER_PREFIX):
            return
        scheme, _, key = (req.auth or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip() or not self._keys.digests \
                or not self._keys.accepts(key.strip()):
            raise ApiError.of("invalid_api_key",
                              "the server API needs Authorization: Bearer <one of "
                              "IM_SERVER_API_KEYS>; a player's session token is not a key",
                              {"WWW-Authenticate": 'Bearer realm="server"'})


def mute_json(mute: Mute) -> dict[str, Any]:
    return {"uid": mute.uid, "scope": mute.scope, "until": mute.until,
            "reason": mute.reason, "created_at": mute.created_at}


@attrs.frozen
class ServerMessages:
    api: Api

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req)
        sent = self.api.service.system_send(body.get("to"), body.get("body"),
                                            body.get("client_msg_id"))
        resp.media = {
            "delivered": [{"to": d.to, "msgid": d.msgid, "created": d.created}
                          for d in sent.delivered],
            "unknown_users": list(sent.unknown),
        }


@attrs.frozen
class ServerSessions:
    api: Api

    def on_delete(self, req: falcon.Request, resp: falcon.Response, uid: str) -> None:
        resp.media = {"ended": self.api.service.end_sessions(uid)}


@attrs.frozen
class ServerMutes:
    api: Api

    def on_get(self, req: falcon.Request, resp: falcon.Response, uid: str) -> None:
        resp.media = {"mutes": [mute_json(m) for m in self.api.service.mutes_of(uid)]}


@attrs.frozen
class ServerMute:
    api: Api

    def on_put(self, req: falcon.Request, resp: falcon.Response, uid: str,
               scope: str) -> None:
        body = read_json(req)
        mute = self.api.service.mute(uid, scope, body.get("until"), body.get("reason", ""))
        resp.media = mute_json(mute)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, uid: str,
                  scope: str) -> None:
        resp.media = {"lifted": self.api.service.unmute(uid, scope)}


SERVER_ROUTES: dict[str, type] = {
    "/v1/server/messages": ServerMessages,
    "/v1/server/players/{uid}/sessions": ServerSessions,
    "/v1/server/players/{uid}/mutes": ServerMutes,
    "/v1/server/players/{uid}/mutes/{scope}": ServerMute,
}
