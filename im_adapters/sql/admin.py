"""Create and drop whole databases on a PostgreSQL or MySQL/MariaDB server.

Tests and the benchmark each work in a database of their own, created empty and
dropped afterwards, so that runs never see each other's data. This is that one helper,
for both, rather than two copies that drift: ``create_database`` / ``drop_database``
for callers that handle a failed create themselves (the test fixtures skip), and
``scratch_database`` for the plain with-block.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import make_url

__all__ = ["create_database", "drop_database", "scratch_database"]


def _admin_engine(server_url: str) -> sa.Engine:
    # DDL on whole databases cannot run inside a transaction on PostgreSQL.
    return sa.create_engine(server_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def create_database(server_url: str, prefix: str = "im_scratch") -> str:
    """Create an empty database named ``<prefix>_<random hex>``; return its URL.

    ``server_url`` names a database the caller may connect to on that server (only the
    connection is used); the result is the same URL with the new database's name. On
    MySQL/MariaDB the database is ``utf8mb4``, as the migrations expect (4-byte emoji).
    """
    url = make_url(server_url)
    if url.get_backend_name() not in ("postgresql", "mysql", "mariadb"):
        raise ValueError(f"cannot create databases on {url.get_backend_name()}")
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = _admin_engine(server_url)
    try:
        quoted = admin.dialect.identifier_preparer.quote(name)
        charset = "" if url.get_backend_name() == "postgresql" else " CHARACTER SET utf8mb4"
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {quoted}{charset}")
    finally:
        admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, database_url: str) -> None:
    """Drop the database ``database_url`` names, connected through ``server_url``.

    On PostgreSQL ``WITH (FORCE)`` ends the sessions still connected to it (a server
    the caller started and killed may have left some), so the drop cannot hang.
    """
    name = make_url(database_url).database
    if not name:
        raise ValueError(f"{database_url!r} names no database")
    admin = _admin_engine(server_url)
    try:
        quoted = admin.dialect.identifier_preparer.quote(name)
        force = " WITH (FORCE)" if admin.dialect.name == "postgresql" else ""
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}{force}")
    finally:
        admin.dispose()


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str = "im_scratch") -> Iterator[str]:
    """A new, empty database for the with-block (its URL), dropped afterwards."""
    database_url = create_database(server_url, prefix)
    try:
        yield database_url
    finally:
        drop_database(server_url, database_url)
