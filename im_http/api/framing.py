"""Refuse a request whose length is ambiguous: ``Content-Length`` with ``Transfer-Encoding``.

Such a request is the tool of request smuggling: a proxy in front may read the body by
one header and the server by the other, so that part of a body becomes a request of
its own. RFC 9112 section 6.3 lets a server refuse it. gunicorn (23 and later) already
answers it with its own plain 400 before the app sees it; this hook makes the app
refuse it too, as JSON, under any other WSGI server or a gunicorn that lets it pass.
"""

from __future__ import annotations

import falcon

from im_http.api.errors import ApiError

__all__ = ["RefuseAmbiguousLength"]


class RefuseAmbiguousLength:
    """Falcon middleware: 400 ``invalid_request`` for a body framed two ways at once."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.get_header("Transfer-Encoding") is not None and (
            req.get_header("Content-Length") is not None
        ):
            raise ApiError(400, "invalid_request", "Invalid request",
                           "a request may not carry both Content-Length and "
                           "Transfer-Encoding")
