"""Serving: settings from the environment, the composition root, the HTTP servers, ``im-server``."""
