"""The stack's own limit: a Falcon app with one resource, served like ``im-server``.

``POST /bare`` parses a small JSON body and answers a small JSON body; nothing else
happens. It does that JSON work exactly as the server does: the body is read by
``im_http.api.media.read_json`` (bounded read, orjson) and the answer is written by the
orjson media handler that ``im_http.api.media.install_orjson`` installs, as in the server's
app. ``python -m bench.bare_app --port P`` serves it with ``im_http.serving.server.serve``,
exactly as ``im-server serve`` is served (gunicorn, gevent workers), so the ratio of a
scenario's throughput to this app's is the share of the HTTP stack's limit the IM keeps.
"""

from __future__ import annotations

import argparse

import falcon

from im_http.api.media import install_orjson, read_json

__all__ = ["create_app"]


class Bare:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req)
        resp.media = {"pong": body.get("ping"), "messages": [], "more": False}


class Health:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


def create_app() -> falcon.App[falcon.Request, falcon.Response]:
    app = falcon.App(media_type=falcon.MEDIA_JSON)
    install_orjson(app)
    app.add_route("/bare", Bare())
    app.add_route("/healthz", Health())
    return app


def main() -> None:
    from im_http.serving.server import Served, serve

    parser = argparse.ArgumentParser(prog="bench.bare_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # Exactly how im-server is served (server settings and process settings alike).
    serve(lambda: Served(create_app()), host=args.host, port=args.port,
          workers=args.workers)


if __name__ == "__main__":
    main()
