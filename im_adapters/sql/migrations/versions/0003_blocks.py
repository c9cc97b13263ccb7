"""Blocking: ``blocks (owner, blocked)``; ``owner`` takes no messages from ``blocked``.

Spelled out here rather than imported from ``tables.py``, like 0001.

Revision ID: 0003
Revises: 0002
Create Date: 2024-07-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    op.create_table(
        "blocks",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("blocked", sa.String(64), primary_key=True),
        **_MYSQL,
    )


def downgrade() -> None:
    op.drop_table("blocks")
