"""The HTTP face of the IM, in four rooms.

- ``im_http.api``: the Falcon app (``create_app``), its resources, error mapping,
  OpenAPI document and JSON media;
- ``im_http.serving``: settings, the composition root, the HTTP servers and ``im-server``;
- ``im_http.observability``: metrics, logs, request ids and ``check-config``;
- ``im_http.client``: the Python SDK, ``im-server chat`` and ``im-server demo``, which
  import with the standard library and urllib3 alone.

This module imports none of them, so that ``import im_http.client`` stays light.
"""
