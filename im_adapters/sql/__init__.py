"""The mailbox port on SQL databases: PostgreSQL, MySQL/MariaDB and SQLite.

``create_engine_from_url`` builds an engine with bounded waits on every backend,
``upgrade_to_head`` applies the migrations shipped in this package,
``ensure_schema_current`` refuses to serve an out-of-date database, and
``SqlMailbox`` implements ``im_core.ports.MailboxRepository``.
"""

from im_adapters.sql.engine import MissingDriver, create_engine_from_url
from im_adapters.sql.mailbox import SqlMailbox
from im_adapters.sql.schema import SchemaOutOfDate, ensure_schema_current, upgrade_to_head

__all__ = [
    "MissingDriver",
    "SchemaOutOfDate",
    "SqlMailbox",
    "create_engine_from_url",
    "ensure_schema_current",
    "upgrade_to_head",
]
