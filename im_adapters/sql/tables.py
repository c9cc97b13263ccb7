"""The SQL schema of the mailbox, as SQLAlchemy Core tables.

The migrations in ``migrations/versions`` create exactly these tables; a test compares
the migrated database with this metadata, so the two cannot drift apart silently.

Choices that matter:

- ``messages.conversation`` is the two uids sorted and joined by a space (a space
  cannot occur in a uid), so one conversation's history, in both directions, is a
  range scan of the ``(conversation, msgid)`` index.
- ``offline`` is the inbox: only ``(recipient, msgid)``; the content is joined from
  ``messages``, so a message is stored once.
- ``users.pulled_through`` is the highest msgid a pull has returned to the user (0:
  none): an ack deletes only up to it. It sits beside the inbox so that it commits,
  and survives, with it (docs/architecture.md).
- ``users.newest_msgid`` is the newest msgid sent to the user, written by the portable
  send (MySQL/MariaDB, SQLite) in the send's transaction. It is there to be written:
  on MariaDB Galera row locks are local to a node, and only a write to the recipient's
  row makes two sends to it through two nodes conflict (``mailbox.py``).
- ``blocks`` holds ``(owner, blocked)``: ``owner`` takes no messages from
  ``blocked``. A send reads it under the recipient's lock (``mailbox.py``).
- Groups (migration 0005): ``chat_groups`` (``groups`` is a reserved word in MySQL 8)
  keeps each group's sequence (``last_seq``: how many messages it holds) and last
  msgid; ``group_members`` each member's role and read position (``read_seq``), with
  an index by uid for a player's chat list. A group message is one ``messages`` row
  (``group_id`` set, ``recipient`` empty, ``conversation`` ``"#" + gid``, so a group's
  history is a range scan of the same index) and one ``offline`` row per member.
- ``dialogs`` is a player's side of a private conversation: its sequence, last msgid
  and read position; a private send moves both sides. ``messages.seq`` is a message's
  place in its conversation, so a read position given as a msgid becomes a sequence
  by one index seek. Unread is ``last_seq - read_seq``: no count of history.
- On MySQL/MariaDB every table is ``utf8mb4`` with the binary collation
  ``utf8mb4_bin``: the default collations compare case-insensitively (``"Bob" ==
  "bob"``), which would merge distinct users, and ``utf8`` (3-byte) cannot store emoji.
- ``mutes`` holds ``(uid, scope)`` -> ``until`` (null: until lifted) and a reason; a
  send reads it by primary key. ``offline.msgid`` and ``messages.sent_at`` are
  indexed so that ``im-server purge`` finds old rows by range, in small batches.
- ``msgid`` is a ``BIGINT`` identity; on SQLite it is ``INTEGER PRIMARY KEY
  AUTOINCREMENT`` (the rowid), so ids are never reused even if the newest row is gone.
- ``client_msg_id`` is ``VARBINARY(64)`` on MySQL/MariaDB: their ``utf8mb4_bin`` is a
  PAD SPACE collation, so ``"c1"`` and ``"c1 "`` (both valid ids) would be one key and
  the second message would be taken for a retry of the first. Binary strings compare
  every byte; the ids are ASCII, so bytes and characters are the same thing.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

__all__ = [
    "CONVERSATION_LENGTH",
    "GID_LENGTH",
    "UID_LENGTH",
    "ClientMsgId",
    "blocks",
    "chat_groups",
    "contacts",
    "dialogs",
    "group_members",
    "messages",
    "metadata",
    "mutes",
    "offline",
    "users",
]

UID_LENGTH = 64
GID_LENGTH = 32
CONVERSATION_LENGTH = 2 * UID_LENGTH + 2

metadata = sa.MetaData()

_MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}

MSGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""A 64-bit id; ``INTEGER`` on SQLite, where only that spelling makes it the rowid."""


class ClientMsgId(sa.types.TypeDecorator[str]):
    """``VARCHAR(64)``, but ``VARBINARY(64)`` on MySQL/MariaDB (see the module docstring)."""

    impl = sa.String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.VARBINARY(64))
        return dialect.type_descriptor(sa.String(64))

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> Any:
        if value is not None and dialect.name in ("mysql", "mariadb"):
            return value.encode("ascii")
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> str | None:
        return value.decode("ascii") if isinstance(value, bytes) else value


users = sa.Table(
    "users",
    metadata,
    sa.Column("uid", sa.String(UID_LENGTH), primary_key=True),
    sa.Column("first_seen", sa.BigInteger, nullable=False),
    sa.Column("last_login", sa.BigInteger, nullable=False),
    sa.Column("client_type", sa.String(16), nullable=False),
    sa.Column("pulled_through", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("newest_msgid", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    **_MYSQL,
)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("owner", sa.String(UID_LENGTH), primary_key=True),
    sa.Column("contact", sa.String(UID_LENGTH), primary_key=True),
    **_MYSQL,
)

blocks = sa.Table(
    "blocks",
    metadata,
    sa.Column("owner", sa.String(UID_LENGTH), primary_key=True),
    sa.Column("blocked", sa.String(UID_LENGTH), primary_key=True),
    **_MYSQL,
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("msgid", MSGID, sa.Identity(), primary_key=True),
    sa.Column("conversation", sa.String(CONVERSATION_LENGTH), nullable=False),
    sa.Column("sender", sa.String(UID_LENGTH), nullable=False),
    sa.Column("recipient", sa.String(UID_LENGTH), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("sent_at", sa.BigInteger, nullable=False),
    sa.Column("client_msg_id", ClientMsgId(), nullable=True),
    sa.Column("group_id", sa.String(GID_LENGTH), nullable=True),
    sa.Column("seq", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("sender", "client_msg_id", name="uq_messages_sender_client_msg_id"),
    sa.Index("ix_messages_conversation_msgid", "conversation", "msgid"),
    sa.Index("ix_messages_sent_at", "sent_at"),
    sqlite_autoincrement=True,
    **_MYSQL,
)

offline = sa.Table(
    "offline",
    metadata,
    sa.Column("recipient", sa.String(UID_LENGTH), primary_key=True),
    sa.Column("msgid", MSGID, primary_key=True, autoincrement=False),
    sa.Index("ix_offline_msgid", "msgid"),
    **_MYSQL,
)

SCOPE_LENGTH = 80
REASON_LENGTH = 500

mutes = sa.Table(
    "mutes",
    metadata,
    sa.Column("uid", sa.String(UID_LENGTH), primary_key=True),
    sa.Column("scope", sa.String(SCOPE_LENGTH), primary_key=True),
    sa.Column("until", sa.BigInteger, nullable=True),
    sa.Column("reason", sa.String(REASON_LENGTH), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index("ix_mutes_until", "until"),
    **_MYSQL,
)

chat_groups = sa.Table(
    "chat_groups",
    metadata,
    sa.Column("gid", sa.String(GID_LENGTH), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(UID_LENGTH), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("last_msgid", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    **_MYSQL,
)

group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("gid", sa.String(GID_LENGTH), primary_key=True),
    sa.Column("uid", sa.String(UID_LENGTH), primary_key=True),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("joined_at", sa.BigInteger, nullable=False),
    sa.Column("read_seq", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Index("ix_group_members_uid", "uid"),
    **_MYSQL,
)

dialogs = sa.Table(
    "dialogs",
    metadata,
    sa.Column("owner", sa.String(UID_LENGTH), primary_key=True),
    sa.Column("peer", sa.String(UID_LENGTH), primary_key=True),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("last_msgid", sa.BigInteger, nullable=False),
    sa.Column("read_seq", sa.BigInteger, nullable=False),
    **_MYSQL,
)
