"""The browser demo page (``im-server serve --demo-ui``): the API seen from a player's side.

Plain HTML, CSS and JavaScript shipped in the package (``im_http/api/static``), served
under ``/ui/``: no CDN, nothing fetched from elsewhere. The page's script is built on
the TypeScript SDK (``sdk/js``), whose compiled modules are committed in
``static/sdk/`` and served at ``/ui/sdk/`` (CI checks the copy is the build of
``sdk/js/src``), so a Python install needs no node. It is a client of the public API
like any other; the one thing it adds is
``POST /ui/dev-token {"uid"}``, which mints a game token so that a visitor can log
in without a terminal. That call exists only with ``--demo-ui`` *and* a server
running on the development secret (``dev_secret``): a server with a real game
login never mints tokens.

The page writes every message with ``textContent``, never ``innerHTML``, and is
served with a Content-Security-Policy that allows only its own script and style,
so a message body can never become markup or code.
"""

from __future__ import annotations

from importlib import resources

import attrs
import falcon

__all__ = ["DEV_TOKEN_TTL_S", "DemoUi"]

DEV_TOKEN_TTL_S = 3600
"""How long a token minted by the page is valid: logging in is done at once."""

_JS = "text/javascript; charset=utf-8"
_FILES = {
    "": ("index.html", "text/html; charset=utf-8"),
    "app.js": ("app.js", _JS),
    "style.css": ("style.css", "text/css; charset=utf-8"),
}
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _load(name: str) -> bytes:
    return resources.files("im_http.api").joinpath("static", name).read_bytes()


def _sdk() -> dict[str, tuple[bytes, str]]:
    """The SDK's compiled modules (``static/sdk/*.js``), which the page imports."""
    folder = resources.files("im_http.api").joinpath("static", "sdk")
    return {entry.name: (entry.read_bytes(), _JS) for entry in folder.iterdir()
            if entry.name.endswith(".js")}


@attrs.frozen
class _Page:
    """The page's few files, read once from the package."""

    files: dict[str, tuple[bytes, str]]

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str = "") -> None:
        found = self.files.get(name)
        if found is None:
            raise falcon.HTTPNotFound()
        resp.data, resp.content_type = found
        resp.set_headers(_HEADERS)


class _Redirect:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPMovedPermanently("/ui/")


@attrs.frozen
class _DevToken:
    secret: str = attrs.field(repr=False)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        from im_adapters.game_auth import mint_game_token
        from im_core.models import check_uid
        from im_http.api.media import read_json

        uid = check_uid(read_json(req).get("uid"))
        resp.media = {"game_token": mint_game_token(self.secret, uid, ttl_s=DEV_TOKEN_TTL_S)}
        resp.set_header("Cache-Control", "no-store")


@attrs.frozen
class DemoUi:
    """What ``create_app`` needs to serve the demo page.

    Attributes:
        dev_secret: the development secret the server runs on, to mint tokens with at
            ``POST /ui/dev-token``; ``None`` (any real game login) leaves that call out.
    """

    dev_secret: str | None = attrs.field(default=None, repr=False)

    def install(self, app: falcon.App[falcon.Request, falcon.Response]) -> None:
        """Add the page's routes to ``app``."""
        page = _Page({name: (_load(file), kind) for name, (file, kind) in _FILES.items()})
        app.add_route("/ui", _Redirect())
        app.add_route("/ui/", page)
        app.add_route("/ui/{name}", page)
        app.add_route("/ui/sdk/{name}", _Page(_sdk()))
        if self.dev_secret is not None:
            # A literal route wins over /ui/{name}, whatever the order they were added.
            app.add_route("/ui/dev-token", _DevToken(self.dev_secret))
