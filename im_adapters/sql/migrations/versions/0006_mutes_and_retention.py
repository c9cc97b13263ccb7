"""Mutes and bans (``mutes``), and the indexes ``im-server purge`` reads by range.

``ix_offline_msgid`` and ``ix_messages_sent_at`` let a purge find old inbox and
history rows in small ordered batches instead of scanning the tables. Spelled out
here rather than imported from ``tables.py``, like 0001.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    op.create_table(
        "mutes",
        sa.Column("uid", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(80), primary_key=True),
        sa.Column("until", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        **_MYSQL,
    )
    op.create_index("ix_mutes_until", "mutes", ["until"])
    op.create_index("ix_offline_msgid", "offline", ["msgid"])
    op.create_index("ix_messages_sent_at", "messages", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_sent_at", table_name="messages")
    op.drop_index("ix_offline_msgid", table_name="offline")
    op.drop_table("mutes")
