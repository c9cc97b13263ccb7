"""The inbox's "pulled through" mark: ``users.pulled_through``.

The highest msgid a pull has returned to the user (0: none yet). An ack deletes only
up to it, so an ack beyond what was pulled cannot delete messages never returned.
Spelled out here rather than imported from ``tables.py``, like 0001.

Revision ID: 0002
Revises: 0001
Create Date: 2024-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("pulled_through", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("pulled_through")
