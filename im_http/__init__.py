"""The HTTP face of the IM: a Falcon app, its composition root and ``im-server``."""

from im_http.app import create_app
from im_http.bootstrap import build_service
from im_http.settings import Settings

__all__ = ["Settings", "build_service", "create_app"]
