"""Schema migrations, run in-process with the migrations shipped in this package.

Alembic is configured programmatically (no ``alembic.ini`` at run time): the
script location is the ``migrations`` directory next to this module, and the
caller's connection is handed to ``env.py`` through ``config.attributes``.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from im_adapters import ConfigurationError
from im_adapters.sql.engine import is_autocommit
from im_core.ports import MailboxUnavailable

__all__ = [
    "MIGRATIONS",
    "SchemaOutOfDate",
    "alembic_config",
    "ensure_schema_current",
    "upgrade_to_head",
]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaOutOfDate(ConfigurationError):
    """The database is not at the schema this server was built for."""


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic ``Config`` for the shipped migrations, bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_to_head(engine: sa.Engine) -> None:
    """Bring the database up to the newest schema; a no-op when it is already there.

    Raises:
        MailboxUnavailable: the database failed during the migration.
    """
    if is_autocommit(engine):  # DDL wants a transaction: all of a migration or none
        engine = engine.execution_options(isolation_level="READ COMMITTED")
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
    except sa.exc.SQLAlchemyError as error:
        raise MailboxUnavailable(f"migration failed: {type(error).__name__}") from error


def ensure_schema_current(engine: sa.Engine) -> None:
    """Return if the database is at head, else raise ``SchemaOutOfDate``.

    Raises:
        SchemaOutOfDate: the database is empty, behind, or at a revision unknown to
            this version of the server.
        MailboxUnavailable: the database did not answer.
    """
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except sa.exc.SQLAlchemyError as error:
        raise MailboxUnavailable(f"cannot read the schema version: {error}") from error
    if current != heads:
        found = ", ".join(sorted(current)) or "empty"
        raise SchemaOutOfDate(
            f"the database schema is {found}, this server needs {', '.join(sorted(heads))}:"
            " run `im-server migrate`"
        )
