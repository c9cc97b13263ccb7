"""Observability: Prometheus metrics, logs with request ids, the access log, ``check-config``."""
