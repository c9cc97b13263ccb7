"""The statements of groups and conversations, once, in SQLAlchemy Core.

As ``statements.py``: built at import time from the ``tables`` metadata, every
parameter a named ``bindparam``, rows read by column name. A group send is a short
transaction of these on every database (``groups.py`` says why and in what order).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from im_adapters.sql.statements import MESSAGE_FIELDS
from im_adapters.sql.tables import (
    blocks,
    chat_groups,
    dialogs,
    group_members,
    messages,
    offline,
    users,
)

__all__ = [
    "CONVERSATIONS",
    "DELETE_GROUP",
    "DELETE_MEMBER",
    "DELETE_MEMBERS",
    "DIALOG",
    "GROUP",
    "INBOX_MEMBERS",
    "INSERT_GROUP",
    "INSERT_MEMBERS",
    "LOCK_GROUP",
    "LOCK_MEMBERS",
    "MEMBERS",
    "MEMBERSHIP",
    "MOVE_GROUP",
    "NOTE_MEMBERS",
    "READ_GROUP",
    "READ_PEER",
    "ROLE",
    "SEQ_AT",
    "SET_OWNER",
    "SET_ROLE",
    "DialogUpserts",
    "dialog_upserts",
]


def _param(name: str, column: sa.Column[Any]) -> sa.BindParameter[Any]:
    return sa.bindparam(name, type_=column.type)


_GID = _param("gid", chat_groups.c.gid)
_UID = _param("uid", group_members.c.uid)

LOCK_GROUP = (
    sa.select(chat_groups.c.owner, chat_groups.c.last_seq)
    .where(chat_groups.c.gid == _GID)
    .with_for_update()
)
"""The group's row, locked: every send and membership change of one group runs one at a
time, so a send sees the members as of its turn."""

GROUP = sa.select(
    chat_groups.c.gid, chat_groups.c.name, chat_groups.c.owner, chat_groups.c.created_at,
    sa.select(sa.func.count()).where(group_members.c.gid == chat_groups.c.gid)
    .scalar_subquery().label("members"),
).where(chat_groups.c.gid == _GID)

ROLE = sa.select(group_members.c.role).where(group_members.c.gid == _GID,
                                             group_members.c.uid == _UID)
MEMBERSHIP = (
    sa.select(group_members.c.role, group_members.c.read_seq, chat_groups.c.last_seq)
    .select_from(group_members.join(chat_groups, chat_groups.c.gid == group_members.c.gid))
    .where(group_members.c.gid == _GID, group_members.c.uid == _UID)
)
"""A member's role and read position, with the group's sequence (none: not a member)."""

MEMBERS = sa.select(group_members.c.uid, group_members.c.role, group_members.c.joined_at
                    ).where(group_members.c.gid == _GID)

INSERT_GROUP = sa.insert(chat_groups).values(
    gid=_GID, name=_param("name", chat_groups.c.name), owner=_param("owner", chat_groups.c.owner),
    created_at=_param("created_at", chat_groups.c.created_at),
)
INSERT_MEMBERS = sa.insert(group_members).from_select(
    ["gid", "uid", "role", "joined_at", "read_seq"],
    sa.select(_GID, users.c.uid,
              sa.case((users.c.uid == _param("owner", users.c.uid), "owner"), else_="member"),
              _param("joined_at", group_members.c.joined_at),
              _param("read_seq", group_members.c.read_seq))
    .where(users.c.uid.in_(sa.bindparam("uids", expanding=True)),
           ~sa.exists(sa.select(group_members.c.uid).where(
               group_members.c.gid == _GID, group_members.c.uid == users.c.uid))),
)
"""Add the known ``uids`` that are not members yet (``owner`` gets the owner's role)."""

DELETE_MEMBER = sa.delete(group_members).where(group_members.c.gid == _GID,
                                               group_members.c.uid == _UID)
DELETE_MEMBERS = sa.delete(group_members).where(group_members.c.gid == _GID)
DELETE_GROUP = sa.delete(chat_groups).where(chat_groups.c.gid == _GID)
# Updates name their parameters apart from the columns (SQLAlchemy reserves those).
_GROUP = _param("group", chat_groups.c.gid)
_USER = _param("user", group_members.c.uid)
SET_ROLE = (sa.update(group_members)
            .where(group_members.c.gid == _GROUP, group_members.c.uid == _USER)
            .values(role=_param("new_role", group_members.c.role)))
SET_OWNER = (sa.update(chat_groups).where(chat_groups.c.gid == _GROUP)
             .values(owner=_param("new_owner", chat_groups.c.owner)))

LOCK_MEMBERS = (
    sa.select(users.c.uid)
    .select_from(users.join(group_members, group_members.c.uid == users.c.uid))
    .where(group_members.c.gid == _GID)
    .order_by(users.c.uid)
    .with_for_update()
)
"""Every member's ``users`` row, locked in uid order (a private send locks its two users
in the same order, so the two never wait for each other in a cycle). Each member's
inbox is then ordered, as a private send orders its recipient's."""

INBOX_MEMBERS = sa.insert(offline).from_select(
    ["recipient", "msgid"],
    sa.select(group_members.c.uid, _param("msgid", offline.c.msgid)).where(
        group_members.c.gid == _GID,
        group_members.c.uid != _param("sender", group_members.c.uid),
        ~sa.exists(sa.select(blocks.c.owner).where(
            blocks.c.owner == group_members.c.uid,
            blocks.c.blocked == _param("sender", blocks.c.blocked))),
    ),
)
"""One inbox row per member, but the sender and those who blocked it: one statement."""

NOTE_MEMBERS = (
    sa.update(users)
    .where(users.c.uid.in_(sa.select(group_members.c.uid).where(
        group_members.c.gid == _param("group", group_members.c.gid))))
    .values(newest_msgid=_param("msgid", users.c.newest_msgid))
)
"""Write every member's row with the new msgid, as a portable private send writes its
recipient's (``statements.NOTE_SENT``): on MariaDB Galera, where row locks are local to
a node, that is what makes two sends to one member through two nodes conflict."""

MOVE_GROUP = (sa.update(chat_groups).where(chat_groups.c.gid == _GROUP)
              .values(last_seq=_param("seq", chat_groups.c.last_seq),
                      last_msgid=_param("msgid", chat_groups.c.last_msgid)))

SEQ_AT = (
    sa.select(messages.c.seq)
    .where(messages.c.conversation == _param("conversation", messages.c.conversation),
           messages.c.msgid <= _param("msgid", messages.c.msgid))
    .order_by(messages.c.msgid.desc())
    .limit(sa.literal_column("1"))
)
"""The sequence of the conversation's last message at or below ``msgid``: one seek of
``(conversation, msgid)``; ``NULL`` for a message stored before 0005."""

READ_GROUP = (sa.update(group_members)
              .where(group_members.c.gid == _GROUP, group_members.c.uid == _USER,
                     group_members.c.read_seq < _param("seq", group_members.c.read_seq))
              .values(read_seq=_param("seq", group_members.c.read_seq)))
DIALOG = sa.select(dialogs.c.last_seq, dialogs.c.read_seq).where(
    dialogs.c.owner == _param("owner", dialogs.c.owner),
    dialogs.c.peer == _param("peer", dialogs.c.peer))
READ_PEER = (sa.update(dialogs)
             .where(dialogs.c.owner == _param("me", dialogs.c.owner),
                    dialogs.c.peer == _param("other", dialogs.c.peer),
                    dialogs.c.read_seq < _param("seq", dialogs.c.read_seq))
             .values(read_seq=_param("seq", dialogs.c.read_seq)))
"""Move a read position forward only (a read on another device never un-reads)."""


def _conversations() -> sa.Select[Any]:
    """A player's private peers and groups, most recent first, each with its last
    message: two index scans (``dialogs`` by owner, ``group_members`` by uid), primary-
    key lookups of the groups and of the last messages, a top-N sort. No history scan."""
    owner = _param("uid", dialogs.c.owner)
    peers = sa.select(
        dialogs.c.peer.label("peer"), sa.cast(sa.null(), chat_groups.c.gid.type).label("gid"),
        sa.cast(sa.null(), chat_groups.c.name.type).label("name"),
        dialogs.c.last_msgid.label("last"),
        (dialogs.c.last_seq - dialogs.c.read_seq).label("unread"),
    ).where(dialogs.c.owner == owner)
    groups = sa.select(
        sa.cast(sa.null(), dialogs.c.peer.type).label("peer"), chat_groups.c.gid,
        chat_groups.c.name, chat_groups.c.last_msgid.label("last"),
        (chat_groups.c.last_seq - group_members.c.read_seq).label("unread"),
    ).select_from(group_members.join(chat_groups, chat_groups.c.gid == group_members.c.gid)
                  ).where(group_members.c.uid == owner)
    both = sa.union_all(peers, groups).subquery("conversation")
    return (
        sa.select(both.c.peer, both.c.gid, both.c.name, both.c.unread,
                  *(messages.c[f] for f in MESSAGE_FIELDS))
        .select_from(both.outerjoin(messages, messages.c.msgid == both.c.last))
        .order_by(both.c.last.desc())
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )


CONVERSATIONS = _conversations()


class DialogUpserts:
    """A private send's two sides of the conversation, in one dialect's words:
    ``mine`` also moves the read position (one's own message is read)."""

    def __init__(self, mine: sa.Executable, theirs: sa.Executable) -> None:
        self.mine = mine
        self.theirs = theirs


def _dialog_upserts(dialect: str) -> DialogUpserts:
    values = {name: _param(name, dialogs.c[name])
              for name in ("owner", "peer", "last_seq", "read_seq", "last_msgid")}
    if dialect in ("postgresql", "sqlite"):
        module: Any = postgresql if dialect == "postgresql" else sqlite
        made = []
        for read in (True, False):
            insert = module.insert(dialogs).values(values)
            moved = {"last_seq": insert.excluded.last_seq,
                     "last_msgid": insert.excluded.last_msgid}
            if read:
                moved["read_seq"] = insert.excluded.read_seq
            made.append(insert.on_conflict_do_update(
                index_elements=[dialogs.c.owner, dialogs.c.peer], set_=moved))
        return DialogUpserts(*made)
    made = []
    for read in (True, False):
        insert = mysql.insert(dialogs).values(values)
        moved = {"last_seq": insert.inserted.last_seq, "last_msgid": insert.inserted.last_msgid}
        if read:
            moved["read_seq"] = insert.inserted.read_seq
        made.append(insert.on_duplicate_key_update(**moved))
    return DialogUpserts(*made)


_DIALOGS = {name: _dialog_upserts(name) for name in ("postgresql", "sqlite", "mysql")}
_DIALOGS["mariadb"] = _DIALOGS["mysql"]


def dialog_upserts(dialect: str) -> DialogUpserts:
    """The dialog upserts for ``dialect`` (an engine's ``dialect.name``)."""
    return _DIALOGS[dialect]
