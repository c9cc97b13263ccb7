"""``SqlGroups``: groups and conversations of the SQL mailbox (a part of ``SqlMailbox``).

A group send is write diffusion in one transaction, on every database:

1. lock the group's row (``LOCK_GROUP``): sends and membership changes of one group
   take turns, so the member list a send reads is the one of its turn: a player
   removed before it gets nothing, one added before gets the message;
2. check the sender is a member, and look for an earlier message with the same
   ``client_msg_id`` (a retry);
3. lock every member's ``users`` row in uid order (``LOCK_MEMBERS``), as a private
   send locks its two users in uid order: no cycle of waits between them;
4. insert the history row, which is when the msgid is allocated: after every
   recipient's lock, so for each member id order is commit order and the cumulative
   ack stays safe (docs/architecture.md);
5. one ``INSERT ... SELECT`` from ``group_members`` fills every inbox but the
   sender's and those of members who blocked the sender; one ``UPDATE`` moves the
   group's sequence and last msgid, one the sender's read position. Off PostgreSQL
   one more writes every member's ``users`` row (``NOTE_MEMBERS``), as the portable
   private send writes its recipient's, for MariaDB Galera's certification.

Membership changes lock the group's row first and never a ``users`` row.
"""

from __future__ import annotations

from collections.abc import Sequence

from im_adapters.sql import group_statements as gsql
from im_adapters.sql import statements as sql
from im_adapters.sql.executor import (
    LOCKED_TRANSACTION,
    READ,
    WRITE_STATEMENT,
    Conflict,
    Policy,
    Rows,
    Runner,
    Unit,
)
from im_adapters.sql.tables import messages
from im_core.group_models import Conversation, Group, Member, Role, check_role, may_remove
from im_core.models import Message
from im_core.ports import MailboxUnavailable, UnknownUser
from im_core.ports.groups import GroupFull, GroupSend, NotAllowed, NotAMember, UnknownGroup

__all__ = ["SqlGroups", "group_conversation"]

GROUP_SEND = Policy(writes=True, one_statement=False, conflicts=True, locks=True)
"""A group send: a transaction holding its row locks to the commit, on every database."""

_INSERT_RETURNING = sql.INSERT_MESSAGE.returning(messages.c.msgid)


def group_conversation(gid: str) -> str:
    """The ``messages.conversation`` of a group: ``"#"`` and its id (no uid has a ``#``)."""
    return f"#{gid}"


def _message_rows(rows: Rows) -> list[Message]:
    from im_adapters.sql.mailbox import _messages  # one reader of message rows

    return _messages(rows)


class SqlGroups:
    """The ``GroupMailbox`` methods on the mailbox's runner (see the module)."""

    _runner: Runner
    _postgres: bool
    _dialogs: gsql.DialogUpserts

    def _move_dialogs(self, unit: Unit, sender: str, recipient: str, seq: int,
                      msgid: int) -> None:
        """A portable private send's two sides of the conversation (under both users'
        locks): the sequence and last msgid move; the sender has read its message."""
        side = {"last_seq": seq, "last_msgid": msgid}
        unit.execute(self._dialogs.mine, {"owner": sender, "peer": recipient,
                                          "read_seq": seq, **side})
        if sender != recipient:
            unit.execute(self._dialogs.theirs, {"owner": recipient, "peer": sender,
                                                "read_seq": 0, **side})

    def create_group(self, gid: str, name: str, owner: str, members: Sequence[str],
                     max_members: int, at_ms: int) -> Group:
        everyone = list(dict.fromkeys([owner, *members]))

        def work(unit: Unit) -> Group:
            known = set(unit.column(sql.KNOWN, {"uids": everyone}, "uid"))
            for uid in everyone:
                if uid not in known:
                    raise UnknownUser(uid)
            if len(everyone) > max_members:
                raise GroupFull(max_members)
            unit.execute(gsql.INSERT_GROUP, {"gid": gid, "name": name, "owner": owner,
                                             "created_at": at_ms})
            unit.execute(gsql.INSERT_MEMBERS, {"gid": gid, "owner": owner, "uids": everyone,
                                               "joined_at": at_ms, "read_seq": 0})
            return Group(gid, name, owner, at_ms, len(everyone))

        return self._runner.run(work, LOCKED_TRANSACTION.once())

    def group(self, gid: str) -> Group | None:
        rows = self._runner.run(lambda unit: unit.rows(gsql.GROUP, {"gid": gid}), READ)
        if not rows:
            return None
        return Group(*(rows.value(f) for f in ("gid", "name", "owner", "created_at",
                                                "members")))

    def role(self, gid: str, uid: str) -> Role | None:
        found = self._runner.run(
            lambda unit: unit.column(gsql.ROLE, {"gid": gid, "uid": uid}, "role"), READ)
        return check_role(found[0]) if found else None

    def members(self, gid: str) -> list[Member]:
        rows = self._runner.run(lambda unit: unit.rows(gsql.MEMBERS, {"gid": gid}), READ)
        at = [rows.names.index(f) for f in ("uid", "role", "joined_at")]
        found = [Member(row[at[0]], check_role(row[at[1]]), row[at[2]]) for row in rows.tuples]
        return sorted(found, key=lambda m: m.uid)  # code point order, whatever the collation

    def add_members(self, gid: str, actor: str, uids: Sequence[str], max_members: int,
                    at_ms: int) -> None:
        def work(unit: Unit) -> None:
            last_seq = _lock_group(unit, gid)[1]
            if _role(unit, gid, actor) == "member":
                raise NotAllowed("only the owner and admins add members")
            current = set(unit.column(gsql.MEMBERS, {"gid": gid}, "uid"))
            new = [uid for uid in dict.fromkeys(uids) if uid not in current]
            known = set(unit.column(sql.KNOWN, {"uids": new}, "uid")) if new else set()
            for uid in new:
                if uid not in known:
                    raise UnknownUser(uid)
            if len(current) + len(new) > max_members:
                raise GroupFull(max_members)
            if new:
                unit.execute(gsql.INSERT_MEMBERS, {"gid": gid, "owner": "", "uids": new,
                                                   "joined_at": at_ms, "read_seq": last_seq})

        self._runner.run(work, LOCKED_TRANSACTION)

    def remove_member(self, gid: str, actor: str, uid: str) -> None:
        def work(unit: Unit) -> None:
            _lock_group(unit, gid)
            mine = _role(unit, gid, actor)
            found = unit.column(gsql.ROLE, {"gid": gid, "uid": uid}, "role")
            if not found:
                raise NotAMember(gid, uid)
            if uid == actor:
                if mine == "owner":
                    raise NotAllowed("the owner cannot leave: dissolve the group or hand "
                                     "ownership over first")
            elif not may_remove(mine, check_role(found[0])):
                raise NotAllowed("the owner removes anyone; admins remove members only")
            unit.execute(gsql.DELETE_MEMBER, {"gid": gid, "uid": uid})

        self._runner.run(work, LOCKED_TRANSACTION)

    def set_role(self, gid: str, actor: str, uid: str, role: Role) -> None:
        def work(unit: Unit) -> None:
            _lock_group(unit, gid)
            if _role(unit, gid, actor) != "owner":
                raise NotAllowed("only the owner changes roles")
            if not unit.column(gsql.ROLE, {"gid": gid, "uid": uid}, "role"):
                raise NotAMember(gid, uid)
            if uid == actor:
                if role != "owner":
                    raise NotAllowed("the owner hands ownership over to another member")
                return
            if role == "owner":
                unit.execute(gsql.SET_ROLE, {"group": gid, "user": actor, "new_role": "admin"})
                unit.execute(gsql.SET_OWNER, {"group": gid, "new_owner": uid})
            unit.execute(gsql.SET_ROLE, {"group": gid, "user": uid, "new_role": role})

        self._runner.run(work, LOCKED_TRANSACTION)

    def dissolve(self, gid: str, actor: str) -> list[str]:
        def work(unit: Unit) -> list[str]:
            _lock_group(unit, gid)
            if _role(unit, gid, actor) != "owner":
                raise NotAllowed("only the owner dissolves the group")
            former = sorted(unit.column(gsql.MEMBERS, {"gid": gid}, "uid"))
            unit.execute(gsql.DELETE_MEMBERS, {"gid": gid})
            unit.execute(gsql.DELETE_GROUP, {"gid": gid})
            return former

        return self._runner.run(work, LOCKED_TRANSACTION)

    def send_to_group(self, sender: str, gid: str, body: str, client_msg_id: str | None,
                      sent_at: int) -> GroupSend:
        params = {"gid": gid, "conversation": group_conversation(gid), "sender": sender,
                  "recipient": "", "body": body, "sent_at": sent_at,
                  "client_msg_id": client_msg_id, "group_id": gid}

        def work(unit: Unit) -> GroupSend:
            last_seq = _lock_group(unit, gid)[1]
            _role(unit, gid, sender)
            if client_msg_id is not None:
                earlier = _message_rows(unit.rows(sql.FIND_SENT, params))
                if earlier:
                    others = unit.column(gsql.MEMBERS, {"gid": gid}, "uid")
                    return earlier[0], False, [uid for uid in others if uid != sender]
            members = unit.column(gsql.LOCK_MEMBERS, {"gid": gid}, "uid")
            seq = last_seq + 1
            if self._postgres:
                msgid: int = unit.rows(_INSERT_RETURNING, {**params, "seq": seq}).value("msgid")
            else:
                inserted = unit.connection.execute(
                    sql.INSERT_MESSAGE, {**params, "seq": seq}).inserted_primary_key
                assert inserted is not None
                msgid = inserted[0]
            unit.execute(gsql.INBOX_MEMBERS, {"gid": gid, "msgid": msgid, "sender": sender})
            if not self._postgres:  # Galera: see NOTE_MEMBERS
                unit.execute(gsql.NOTE_MEMBERS, {"group": gid, "msgid": msgid})
            unit.execute(gsql.MOVE_GROUP, {"group": gid, "seq": seq, "msgid": msgid})
            unit.execute(gsql.READ_GROUP, {"group": gid, "user": sender, "seq": seq})
            message = Message(msgid, sender, None, body, sent_at, client_msg_id, gid)
            return message, True, [uid for uid in members if uid != sender]

        policy = GROUP_SEND if client_msg_id is not None else GROUP_SEND.once()
        try:
            return self._runner.run(work, policy)
        except Conflict as conflict:
            if client_msg_id is not None:  # the same id committed meanwhile elsewhere
                earlier = self._runner.run(
                    lambda unit: _message_rows(unit.rows(sql.FIND_SENT, params)), READ)
                if earlier:
                    return earlier[0], False, []
            raise MailboxUnavailable("the message could not be stored") from conflict.__cause__

    def group_history(self, gid: str, uid: str, before: int | None, after: int | None,
                      limit: int) -> list[Message]:
        self._membership(gid, uid)
        params = {"conversation": group_conversation(gid),
                  "low": -1 if after is None else after,
                  "high": 2**63 - 1 if before is None else before - 1, "limit": limit}
        return self._runner.run(lambda unit: _message_rows(unit.rows(sql.HISTORY, params)),
                                READ)

    def conversations(self, uid: str, limit: int) -> tuple[list[Conversation], bool]:
        rows = self._runner.run(
            lambda unit: unit.rows(gsql.CONVERSATIONS, {"uid": uid, "limit": limit + 1}), READ)
        found = _message_rows(rows)
        at = [rows.names.index(f) for f in ("peer", "gid", "name", "unread")]
        listed = [
            Conversation(row[at[0]], row[at[1]], row[at[2]],
                         message if message.msgid is not None else None, max(0, row[at[3]]))
            for row, message in zip(rows.tuples[:limit], found, strict=False)
        ]
        return listed, len(rows) > limit

    def mark_read(self, uid: str, peer: str | None, group: str | None, msgid: int) -> int:
        if group is not None:
            _, read_seq, last_seq = self._membership(group, uid)
            conversation = group_conversation(group)
        else:
            assert peer is not None
            from im_adapters.sql.mailbox import conversation_key

            if not self._runner.run(
                    lambda unit: unit.column(sql.KNOWN, {"uids": [peer]}, "uid"), READ):
                raise UnknownUser(peer)
            rows = self._runner.run(
                lambda unit: unit.rows(gsql.DIALOG, {"owner": uid, "peer": peer}), READ)
            if not rows:
                return 0
            last_seq, read_seq = rows.value("last_seq"), rows.value("read_seq")
            conversation = conversation_key(uid, peer)
        found = self._runner.run(lambda unit: unit.column(
            gsql.SEQ_AT, {"conversation": conversation, "msgid": msgid}, "seq"), READ)
        seq = (found[0] or 0) if found else 0
        if seq > read_seq:
            statement, params = (
                (gsql.READ_GROUP, {"group": group, "user": uid, "seq": seq}) if group is not None
                else (gsql.READ_PEER, {"me": uid, "other": peer, "seq": seq}))
            self._runner.run(lambda unit: unit.execute(statement, params), WRITE_STATEMENT)
        return max(0, int(last_seq) - max(int(read_seq), int(seq)))

    def _membership(self, gid: str, uid: str) -> tuple[Role, int, int]:
        """``uid``'s role and read position in ``gid``, and its sequence."""
        rows = self._runner.run(
            lambda unit: unit.rows(gsql.MEMBERSHIP, {"gid": gid, "uid": uid}), READ)
        if not rows:
            if self.group(gid) is None:
                raise UnknownGroup(gid)
            raise NotAMember(gid, uid)
        return (check_role(rows.value("role")), int(rows.value("read_seq")),
                int(rows.value("last_seq")))


def _lock_group(unit: Unit, gid: str) -> tuple[str, int]:
    """Lock the group's row: its owner and sequence (``UnknownGroup`` if none)."""
    rows = unit.rows(gsql.LOCK_GROUP, {"gid": gid})
    if not rows:
        raise UnknownGroup(gid)
    return rows.value("owner"), int(rows.value("last_seq"))


def _role(unit: Unit, gid: str, uid: str) -> Role:
    """``uid``'s role in ``gid`` (under the group's lock); ``NotAMember`` if none."""
    found = unit.column(gsql.ROLE, {"gid": gid, "uid": uid}, "role")
    if not found:
        raise NotAMember(gid, uid)
    return check_role(found[0])
