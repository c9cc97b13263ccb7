"""``users.newest_msgid``: the newest msgid sent to the user, written by every portable send.

Why a column: on MariaDB Galera a row lock (``SELECT ... FOR UPDATE``) is local to its
node, so two sends to one recipient through two nodes would not wait for each other,
and their msgids could commit out of order (the cumulative ack's hazard). Writing
the recipient's row makes the two write sets conflict: certification aborts one, which
is run again after the other. PostgreSQL's one-statement send does not need it and
leaves it 0. Spelled out here rather than imported from ``tables.py``, like 0001.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("newest_msgid", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("newest_msgid")
