"""The initial mailbox schema: users, contacts, messages (history) and offline (inbox).

The tables are spelled out here rather than imported from ``tables.py``: a migration
must keep creating what it created the day it was written, whatever the metadata
becomes later.

Revision ID: 0001
Revises:
Create Date: 2024-01-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}
_MSGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# utf8mb4_bin pads with spaces ("c1" == "c1 "); binary strings compare every byte.
_CLIENT_MSG_ID = sa.String(64).with_variant(mysql.VARBINARY(64), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("uid", sa.String(64), primary_key=True),
        sa.Column("first_seen", sa.BigInteger, nullable=False),
        sa.Column("last_login", sa.BigInteger, nullable=False),
        sa.Column("client_type", sa.String(16), nullable=False),
        **_MYSQL,
    )
    op.create_table(
        "contacts",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("contact", sa.String(64), primary_key=True),
        **_MYSQL,
    )
    op.create_table(
        "messages",
        sa.Column("msgid", _MSGID, sa.Identity(), primary_key=True),
        sa.Column("conversation", sa.String(130), nullable=False),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("sent_at", sa.BigInteger, nullable=False),
        sa.Column("client_msg_id", _CLIENT_MSG_ID, nullable=True),
        sa.UniqueConstraint("sender", "client_msg_id", name="uq_messages_sender_client_msg_id"),
        sqlite_autoincrement=True,
        **_MYSQL,
    )
    op.create_index("ix_messages_conversation_msgid", "messages", ["conversation", "msgid"])
    op.create_table(
        "offline",
        sa.Column("recipient", sa.String(64), primary_key=True),
        sa.Column("msgid", _MSGID, primary_key=True, autoincrement=False),
        **_MYSQL,
    )


def downgrade() -> None:
    op.drop_table("offline")
    op.drop_index("ix_messages_conversation_msgid", table_name="messages")
    op.drop_table("messages")
    op.drop_table("contacts")
    op.drop_table("users")
