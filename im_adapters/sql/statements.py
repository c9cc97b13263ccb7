"""Every statement of the SQL mailbox, once, in SQLAlchemy Core.

Built at import time from the ``tables`` metadata, so a renamed table or column breaks
here (and in the metadata-against-migration test), not in a string at run time. Every
parameter is a named ``bindparam``; rows are read by column name, and the message
columns carry the names of ``Message``'s fields (``MESSAGE_FIELDS``).

PostgreSQL does a send in one statement and a pull, with its ack and the raise of the
"pulled through" mark, in one statement (data-modifying CTEs, ``PG_SEND`` and
``PG_ACK_AND_PULL``): one round trip each, in
autocommit. MySQL/MariaDB and SQLite, which have no data-modifying CTEs, run the same
steps as a short transaction of the portable statements.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from im_adapters.sql.tables import blocks, contacts, dialogs, messages, offline, users

__all__ = [
    "ACK",
    "BARRED",
    "BLOCKS",
    "BLOCK_TALLY",
    "CONTACTS",
    "CONTACT_TALLY",
    "FIND_SENT",
    "HISTORY",
    "INSERT_MESSAGE",
    "INSERT_OFFLINE",
    "KNOWN",
    "LISTED_BY",
    "LOCK_PAIR",
    "LOCK_RECIPIENT",
    "LOCK_USER",
    "MARK",
    "MESSAGE_FIELDS",
    "NOTE_SENT",
    "PAIR_SEQ",
    "PG_ACK_AND_PULL",
    "PG_SEND",
    "PING",
    "PULL",
    "PULL_WITH_MARK",
    "RAISE_MARK",
    "REMOVE_BLOCK",
    "REMOVE_CONTACT",
    "Upserts",
    "upserts",
]

MESSAGE_FIELDS = ("msgid", "sender", "recipient", "body", "sent_at", "client_msg_id", "group_id")
"""The columns every message-returning statement selects, in ``Message``'s field order
(``group_id`` is its ``group``; a group message's ``recipient`` is stored empty)."""

_MESSAGE_COLUMNS = tuple(messages.c[name] for name in MESSAGE_FIELDS)


def _param(name: str, column: sa.Column[Any]) -> sa.BindParameter[Any]:
    """A named parameter typed like ``column`` (so it binds as the column does)."""
    return sa.bindparam(name, type_=column.type)


_UID = _param("uid", users.c.uid)
_USER = _param("user", users.c.uid)
"""``uid`` again, for statements that update ``users``: SQLAlchemy reserves its column
names there, and would even add ``SET uid = :uid`` for a parameter named so."""
_LIMIT = sa.bindparam("limit", type_=sa.Integer)

LOCK_RECIPIENT = (
    sa.select(users.c.uid).where(users.c.uid == _param("recipient", users.c.uid)).with_for_update()
)
LOCK_PAIR = (
    sa.select(users.c.uid)
    .where(users.c.uid.in_([_param("sender", users.c.uid), _param("recipient", users.c.uid)]))
    .order_by(users.c.uid)
    .with_for_update()
)
"""Both users of a private send, locked in uid order (as a group send locks its members):
the recipient's lock orders its inbox, the pair's lock hands out the conversation's
sequence one send at a time, whichever way the message goes."""
PAIR_SEQ = sa.select(dialogs.c.last_seq).where(
    dialogs.c.owner == _param("sender", dialogs.c.owner),
    dialogs.c.peer == _param("recipient", dialogs.c.peer),
)
"""The pair's sequence, read under ``LOCK_PAIR`` (the portable send)."""
FIND_SENT = sa.select(*_MESSAGE_COLUMNS).where(
    messages.c.sender == _param("sender", messages.c.sender),
    messages.c.client_msg_id == _param("client_msg_id", messages.c.client_msg_id),
)
INSERT_MESSAGE = sa.insert(messages).values(
    {
        column: _param(column.name, column)
        for column in messages.c
        if column.name != "msgid"
    }
)
INSERT_OFFLINE = sa.insert(offline).values(
    recipient=_param("recipient", offline.c.recipient), msgid=_param("msgid", offline.c.msgid)
)
NOTE_SENT = (
    sa.update(users)
    .where(users.c.uid == _param("recipient", users.c.uid))
    .values(newest_msgid=_param("msgid", users.c.newest_msgid))
)
"""Write the recipient's row with the new msgid (always a change: msgids only grow).

The portable send runs it under the recipient's lock. On MariaDB Galera, where that
lock is local to one node, this write is what makes two sends to one recipient through
two nodes conflict at certification, so that one of them is run again after the other
(``SqlMailbox``'s module docstring)."""

ACK = sa.delete(offline).where(
    offline.c.recipient == _UID, offline.c.msgid <= _param("through", offline.c.msgid)
)
"""Delete ``uid``'s inbox through ``through`` (the caller's ``min(ack, mark)``)."""

MARK = sa.select(users.c.pulled_through).where(users.c.uid == _UID).with_for_update()
"""The "pulled through" mark, locked as a send locks the row (the portable ack's first
statement: see ``SqlMailbox.pull`` on lock order)."""

RAISE_MARK = (
    sa.update(users)
    .where(users.c.uid == _USER, users.c.pulled_through < _param("top", users.c.pulled_through))
    .values(pulled_through=_param("top", users.c.pulled_through))
)
"""Raise ``user``'s mark to ``top``; never lower it, so a stale caller only deletes less later."""



def _pull(uid: sa.BindParameter[Any]) -> sa.Select[Any]:
    return (
        sa.select(*_MESSAGE_COLUMNS)
        .select_from(offline.join(messages, offline.c.msgid == messages.c.msgid))
        .where(offline.c.recipient == uid)
        .order_by(offline.c.msgid)
        .limit(_LIMIT)
    )


PULL = _pull(_UID)
"""The lowest ``limit`` messages in ``uid``'s inbox (the caller asks for one more than it
returns, to know whether more are waiting)."""

PULL_WITH_MARK = PULL.add_columns(
    sa.select(users.c.pulled_through)
    .where(users.c.uid == _UID)
    .scalar_subquery()
    .label("pulled_through")
)
"""``PULL``, each row also carrying the user's mark (to know whether to raise it)."""

HISTORY = (
    sa.select(*_MESSAGE_COLUMNS)
    .where(
        messages.c.conversation == _param("conversation", messages.c.conversation),
        messages.c.msgid > _param("low", messages.c.msgid),
        messages.c.msgid <= _param("high", messages.c.msgid),
    )
    .order_by(messages.c.msgid.desc())
    .limit(_LIMIT)
)
KNOWN = sa.select(users.c.uid).where(users.c.uid.in_(sa.bindparam("uids", expanding=True)))
CONTACTS = sa.select(contacts.c.contact).where(contacts.c.owner == _UID)
REMOVE_CONTACT = sa.delete(contacts).where(
    contacts.c.owner == _UID, contacts.c.contact == _param("contact", contacts.c.contact)
)
LISTED_BY = sa.select(contacts.c.owner).where(
    contacts.c.contact == _UID, contacts.c.owner.in_(sa.bindparam("owners", expanding=True))
)
"""The ``owners`` that have ``uid`` among their contacts (primary-key lookups)."""

LOCK_USER = sa.select(users.c.uid).where(users.c.uid == _UID).with_for_update()
"""``uid``'s row, locked: adds to one player's list wait for each other (the bound)."""

BLOCKS = sa.select(blocks.c.blocked).where(blocks.c.owner == _UID)
REMOVE_BLOCK = sa.delete(blocks).where(
    blocks.c.owner == _UID, blocks.c.blocked == _param("blocked", blocks.c.blocked)
)
BARRED = sa.select(blocks.c.owner).where(
    blocks.c.owner == _param("recipient", blocks.c.owner),
    blocks.c.blocked == _param("sender", blocks.c.blocked),
)
"""A row if the recipient has blocked the sender."""


def _tally(owner: sa.Column[Any], entry: sa.Column[Any], name: str) -> sa.Executable:
    """How many entries ``uid``'s list holds, and whether ``name`` is one of them."""
    return sa.select(
        sa.func.count().label("entries"),
        sa.func.count(sa.case((entry == _param(name, entry), 1))).label("present"),
    ).where(owner == _UID)


CONTACT_TALLY = _tally(contacts.c.owner, contacts.c.contact, "contact")
BLOCK_TALLY = _tally(blocks.c.owner, blocks.c.blocked, "blocked")

PING: sa.Select[Any] = sa.select(sa.literal_column("1").label("one"))


def _pg_send() -> sa.CompoundSelect[Any]:
    """A whole send in one statement; rows are a message and whether it is new.

    No row: the recipient is unknown. One row of nulls (``created`` null): the
    recipient has blocked the sender, and nothing was stored.

    ``target`` locks both users in uid order, and ``go`` counts it whole, so both
    locks are held before anything is written. ``bump`` then moves the sender's side
    of the conversation on with an upsert, which sees the latest row (not the
    statement's snapshot, taken before the lock wait): its new ``last_seq`` is the
    message's ``seq``, and it draws the msgid from the identity's sequence, after
    the locks. ``stored`` inserts the history row with that msgid, ``theirs`` moves
    the recipient's side, ``inboxed`` fills the inbox. ``earlier`` uses the
    snapshot: a racing retry that committed meanwhile makes the INSERT hit the
    unique constraint, and the caller re-reads (as on the portable path).
    """
    target = LOCK_PAIR.cte("target")
    earlier = FIND_SENT.cte("earlier")
    barred = BARRED.cte("barred")
    sender, recipient = _param("sender", users.c.uid), _param("recipient", users.c.uid)
    go = sa.select(sa.literal_column("1").label("go")).where(
        sa.exists(sa.select(target.c.uid).where(target.c.uid == recipient)),
        sa.select(sa.func.count()).select_from(target).scalar_subquery()
        > sa.literal_column("0"),
        ~sa.exists(earlier.select()), ~sa.exists(barred.select()),
    ).cte("go")
    msgid = sa.func.nextval(sa.func.pg_get_serial_sequence(
        sa.literal_column("'messages'"), sa.literal_column("'msgid'")))
    one: sa.ColumnElement[Any] = sa.literal_column("1")
    upsert = postgresql.insert(dialogs).from_select(
        ["owner", "peer", "last_seq", "read_seq", "last_msgid"],
        sa.select(sender, recipient, one, one, msgid).select_from(go))
    bump = upsert.on_conflict_do_update(
        index_elements=[dialogs.c.owner, dialogs.c.peer],
        set_={"last_seq": dialogs.c.last_seq + one, "read_seq": dialogs.c.last_seq + one,
              "last_msgid": upsert.excluded.last_msgid},
    ).returning(dialogs.c.last_seq, dialogs.c.last_msgid).cte("bump")
    values = {
        "msgid": bump.c.last_msgid,
        "conversation": _param("conversation", messages.c.conversation),
        "sender": sender,
        "recipient": recipient,
        "body": _param("body", messages.c.body),
        "sent_at": _param("sent_at", messages.c.sent_at),
        "client_msg_id": _param("client_msg_id", messages.c.client_msg_id),
        "seq": bump.c.last_seq,
    }
    stored = (
        sa.insert(messages)
        .from_select(list(values), sa.select(*(v.label(k) for k, v in values.items())))
        .returning(*_MESSAGE_COLUMNS, messages.c.seq)
        .cte("stored")
    )
    other = postgresql.insert(dialogs).from_select(
        ["owner", "peer", "last_seq", "read_seq", "last_msgid"],
        sa.select(stored.c.recipient, stored.c.sender, stored.c.seq,
                  sa.literal_column("0"), stored.c.msgid)
        .where(stored.c.sender != stored.c.recipient))
    theirs = other.on_conflict_do_update(
        index_elements=[dialogs.c.owner, dialogs.c.peer],
        set_={"last_seq": other.excluded.last_seq, "last_msgid": other.excluded.last_msgid},
    ).cte("theirs")
    inboxed = (
        sa.insert(offline)
        .from_select(["recipient", "msgid"], sa.select(stored.c.recipient, stored.c.msgid))
        .cte("inboxed")
    )
    return sa.union_all(
        sa.select(*(stored.c[f] for f in MESSAGE_FIELDS), sa.true().label("created")),
        sa.select(*(earlier.c[f] for f in MESSAGE_FIELDS), sa.false().label("created")),
        sa.select(*(sa.null().label(f) for f in MESSAGE_FIELDS), sa.null().label("created"))
        .where(sa.exists(barred.select()), ~sa.exists(earlier.select())),
    ).add_cte(inboxed, theirs)


def _pg_ack_and_pull() -> sa.Select[Any]:
    """An ack, its pull and the raise of the mark in one statement.

    Its parameters are ``user``, ``ack``, ``limit`` and ``returned``. Every part sees
    the statement's snapshot: the mark is the one before this pull,
    and the page excludes what the DELETE removes by its own ``msgid > through``.
    ``page`` holds up to ``limit`` (the caller's limit + 1) rows, to tell whether more
    wait; the mark rises to the highest msgid of the first ``returned`` rows only,
    the ones the caller returns. No row returned: no row updated.
    """
    mark = sa.func.coalesce(
        sa.select(users.c.pulled_through).where(users.c.uid == _USER).scalar_subquery(),
        sa.literal_column("0"),
    )
    through = sa.func.least(_param("ack", offline.c.msgid), mark)
    acked = (
        sa.delete(offline)
        .where(offline.c.recipient == _USER, offline.c.msgid <= through)
        .cte("acked")
    )
    page = (
        _pull(_USER)
        .add_columns(sa.func.row_number().over(order_by=offline.c.msgid).label("n"))
        .where(offline.c.msgid > through)
        .cte("page")
    )
    top = (
        sa.select(sa.func.max(page.c.msgid))
        .where(page.c.n <= sa.bindparam("returned", type_=sa.Integer))
        .scalar_subquery()
    )
    marked = (
        sa.update(users)
        .where(users.c.uid == _USER, users.c.pulled_through < top)
        .values(pulled_through=top)
        .cte("marked")
    )
    return (
        sa.select(*(page.c[f] for f in MESSAGE_FIELDS))
        .order_by(page.c.msgid)
        .add_cte(acked, marked)
    )


PG_SEND = _pg_send()
PG_ACK_AND_PULL = _pg_ack_and_pull()


class Upserts:
    """The login upsert and the add-if-absent contact and block inserts, in one
    dialect's words."""

    def __init__(self, login: sa.Executable, add_contact: sa.Executable,
                 block: sa.Executable) -> None:
        self.login = login
        self.add_contact = add_contact
        self.block = block


def _upserts(dialect: str) -> Upserts:
    login_values = {
        "uid": _UID,
        "first_seen": _param("first_seen", users.c.first_seen),
        "last_login": _param("last_login", users.c.last_login),
        "client_type": _param("client_type", users.c.client_type),
    }
    contact_values = {
        "owner": _UID,
        "contact": _param("contact", contacts.c.contact),
    }
    block_values = {"owner": _UID, "blocked": _param("blocked", blocks.c.blocked)}
    if dialect in ("postgresql", "sqlite"):
        module: Any = postgresql if dialect == "postgresql" else sqlite
        login = module.insert(users).values(login_values)
        login = login.on_conflict_do_update(
            index_elements=[users.c.uid],
            set_={
                "last_login": login.excluded.last_login,
                "client_type": login.excluded.client_type,
            },
        )
        contact = module.insert(contacts).values(contact_values).on_conflict_do_nothing()
        block = module.insert(blocks).values(block_values).on_conflict_do_nothing()
        return Upserts(login, contact, block)
    login = mysql.insert(users).values(login_values)
    login = login.on_duplicate_key_update(
        last_login=login.inserted.last_login, client_type=login.inserted.client_type
    )
    contact = mysql.insert(contacts).values(contact_values)
    contact = contact.on_duplicate_key_update(contact=contact.inserted.contact)
    block = mysql.insert(blocks).values(block_values)
    block = block.on_duplicate_key_update(blocked=block.inserted.blocked)
    return Upserts(login, contact, block)


_UPSERTS = {name: _upserts(name) for name in ("postgresql", "sqlite", "mysql")}
_UPSERTS["mariadb"] = _UPSERTS["mysql"]


def upserts(dialect: str) -> Upserts | None:
    """The upserts for ``dialect`` (an engine's ``dialect.name``); ``None`` if unsupported."""
    return _UPSERTS.get(dialect)
