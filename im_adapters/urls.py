"""URLs fit for a log line or an error message: the one rule for hiding their secrets.

Every URL the server prints (start-up lines, ``check-config``, a store that does not
answer, a database URL that cannot be parsed, the game login service) goes through
``redacted``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["SECRET_QUERY_KEYS", "redacted"]

SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pwd", "secret", "token"})
"""Query parameters whose values are hidden (``?password=...`` is a libpq habit)."""


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***``, in the user part and the query.

    A URL too broken to be parsed is shown as its scheme only (``postgresql://...``):
    where its password starts cannot be known.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        scheme, sep, _ = url.partition("://")
        return f"{scheme}://..." if sep else "(not a URL)"
    if password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    if parts.query:
        query = [(key, "***" if key.lower() in SECRET_QUERY_KEYS else value)
                 for key, value in parse_qsl(parts.query, keep_blank_values=True)]
        parts = parts._replace(query=urlencode(query, safe="*/:"))
    return parts.geturl() if (password is not None or parts.query) else url
