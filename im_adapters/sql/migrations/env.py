"""Alembic environment for the mailbox schema.

``upgrade_to_head`` runs Alembic in-process and hands over an open connection in
``config.attributes["connection"]``: the migration then runs on the caller's
engine (with its timeouts and SQLite pragmas) and inside the caller's transaction.
Offline mode (``alembic upgrade --sql``) renders SQL for ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context

from im_adapters.sql.tables import metadata

config = context.config


def _run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run migrations with im_adapters.sql.upgrade_to_head (or `im-server migrate`)"
        )
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
