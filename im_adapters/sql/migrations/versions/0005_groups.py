"""Groups and conversations: ``chat_groups``, ``group_members``, ``dialogs``, and
``messages.group_id`` / ``messages.seq``.

Spelled out here rather than imported from ``tables.py``, like 0001. Messages stored
before this revision have no ``seq`` and no ``dialogs`` rows: a private conversation
enters the chat list with its next message (counted from there), and a read position
given as an older msgid counts as the conversation's start.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    op.add_column("messages", sa.Column("group_id", sa.String(32), nullable=True))
    op.add_column("messages", sa.Column("seq", sa.BigInteger, nullable=True))
    op.create_table(
        "chat_groups",
        sa.Column("gid", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("last_msgid", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        **_MYSQL,
    )
    op.create_table(
        "group_members",
        sa.Column("gid", sa.String(32), primary_key=True),
        sa.Column("uid", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("joined_at", sa.BigInteger, nullable=False),
        sa.Column("read_seq", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        **_MYSQL,
    )
    op.create_index("ix_group_members_uid", "group_members", ["uid"])
    op.create_table(
        "dialogs",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("peer", sa.String(64), primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_msgid", sa.BigInteger, nullable=False),
        sa.Column("read_seq", sa.BigInteger, nullable=False),
        **_MYSQL,
    )


def downgrade() -> None:
    op.drop_table("dialogs")
    op.drop_index("ix_group_members_uid", table_name="group_members")
    op.drop_table("group_members")
    op.drop_table("chat_groups")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("seq")
        batch.drop_column("group_id")
