"""The group rules of the stateful model test (``test_chat_stateful.py``).

A mixin of ``ChatMachine``: it declares the model state it reads and writes, which
the machine owns. Each rule predicts the outcome from the model (the error, or the
change) and checks the service against it.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, precondition, rule

from im_core import (
    ChatService,
    ClientMsgIdReused,
    Message,
    NotAllowed,
    NotAMember,
    Session,
    UnknownGroup,
    UnknownUser,
)
from im_core.group_models import may_remove
from tests.strategies import bodies

__all__ = ["SESSIONS", "GroupRules"]

NAMES = ["alice", "bob", "carol", "Dave"]
SESSIONS: Bundle[Session] = Bundle("sessions")
sessions = SESSIONS


class GroupRules:
    """Groups, members, roles and group sends against the model."""

    service: ChatService
    uids: dict[str, str]
    known: set[str]
    inbox: dict[str, list[Message]]
    delivered: dict[str, set[int]]
    history: list[Message]
    by_key: dict[tuple[str, str], Message]
    gids: list[str]
    members: dict[str, dict[str, str] | None]
    group_history: dict[str, list[Message]]

    def _auth(self, session: Session, command: str) -> Session | None:
        raise NotImplementedError

    # --- groups -------------------------------------------------------------------------

    def _group(self, index: int) -> str:
        return self.gids[index % len(self.gids)]

    def _expect(self, error: type[Exception] | None, call: Any) -> bool:
        """Run ``call``; it must raise ``error`` (then ``False``) or succeed (``True``)."""
        if error is None:
            call()
            return True
        with pytest.raises(error):
            call()
        return False

    def _guard(self, gid: str, actor: str) -> type[Exception] | None:
        members = self.members[gid]
        if members is None:
            return UnknownGroup
        return None if actor in members else NotAMember

    @rule(session=sessions, names=st.lists(st.sampled_from([*NAMES, "stranger"]), max_size=3))
    def create_group(self, session: Session, names: list[str]) -> None:
        live = self._auth(session, "create_group")
        if live is None:
            return
        uids = [self.uids.get(n, n) for n in names]
        if any(uid not in self.known for uid in uids):
            with pytest.raises(UnknownUser):
                self.service.create_group(live, "Knights", uids)
            return
        made = self.service.create_group(live, "Knights", uids)
        self.gids.append(made.gid)
        self.members[made.gid] = {uid: "member" for uid in uids} | {session.uid: "owner"}
        self.group_history[made.gid] = []

    @precondition(lambda self: bool(self.gids))
    @rule(session=sessions, index=st.integers(0, 5), name=st.sampled_from([*NAMES, "stranger"]))
    def add_member(self, session: Session, index: int, name: str) -> None:
        live = self._auth(session, "add_members")
        if live is None:
            return
        gid, uid = self._group(index), self.uids.get(name, name)
        error = self._guard(gid, session.uid)
        members = self.members[gid]
        if error is None and members is not None:
            if members[session.uid] == "member":
                error = NotAllowed
            elif uid not in self.known:
                error = UnknownUser
        if self._expect(error, lambda: self.service.add_members(live, gid, [uid])):
            assert members is not None
            members.setdefault(uid, "member")

    @precondition(lambda self: bool(self.gids))
    @rule(session=sessions, index=st.integers(0, 5), name=st.sampled_from(NAMES))
    def remove_member(self, session: Session, index: int, name: str) -> None:
        live = self._auth(session, "remove_member")
        if live is None:
            return
        gid, uid = self._group(index), self.uids[name]
        error = self._guard(gid, session.uid)
        members = self.members[gid]
        if error is None and members is not None:
            if uid not in members:
                error = NotAMember
            elif uid == session.uid:
                error = NotAllowed if members[uid] == "owner" else None
            elif not may_remove(members[session.uid], members[uid]):  # type: ignore[arg-type]
                error = NotAllowed
        if self._expect(error, lambda: self.service.remove_member(live, gid, uid)):
            assert members is not None
            del members[uid]

    @precondition(lambda self: bool(self.gids))
    @rule(session=sessions, index=st.integers(0, 5), name=st.sampled_from(NAMES),
          role=st.sampled_from(["owner", "admin", "member"]))
    def set_role(self, session: Session, index: int, name: str, role: str) -> None:
        live = self._auth(session, "set_role")
        if live is None:
            return
        gid, uid = self._group(index), self.uids[name]
        error = self._guard(gid, session.uid)
        members = self.members[gid]
        if error is None and members is not None:
            if members[session.uid] != "owner":
                error = NotAllowed
            elif uid not in members:
                error = NotAMember
            elif uid == session.uid and role != "owner":
                error = NotAllowed
        if self._expect(error, lambda: self.service.set_role(live, gid, uid, role)):
            assert members is not None
            if uid != session.uid:
                if role == "owner":
                    members[session.uid] = "admin"
                members[uid] = role

    @precondition(lambda self: bool(self.gids))
    @rule(session=sessions, index=st.integers(0, 5))
    def dissolve(self, session: Session, index: int) -> None:
        live = self._auth(session, "dissolve_group")
        if live is None:
            return
        gid = self._group(index)
        error = self._guard(gid, session.uid)
        members = self.members[gid]
        if error is None and members is not None and members[session.uid] != "owner":
            error = NotAllowed
        if self._expect(error, lambda: self.service.dissolve_group(live, gid)):
            self.members[gid] = None

    @precondition(lambda self: bool(self.gids))
    @rule(session=sessions, index=st.integers(0, 5), body=bodies,
          key=st.none() | st.sampled_from(["k1", "k2", "k3"]))
    def send_to_group(self, session: Session, index: int, body: str, key: str | None) -> None:
        live = self._auth(session, "send")
        if live is None:
            return
        gid = self._group(index)
        error = self._guard(gid, session.uid)
        if error is not None:
            with pytest.raises(error):
                self.service.send_to_group(live, gid, body, key)
            return
        earlier = self.by_key.get((session.uid, key)) if key else None
        if earlier is not None and (earlier.group, earlier.recipient, earlier.body) != (
                gid, None, body):
            with pytest.raises(ClientMsgIdReused):
                self.service.send_to_group(live, gid, body, key)
            return
        message, created = self.service.send_to_group(live, gid, body, key)
        if earlier is not None:
            assert (message, created) == (earlier, False)
            return
        assert created and (message.sender, message.group, message.body) == (
            session.uid, gid, body)
        assert all(message.msgid > m.msgid for m in self.history)
        self.history.append(message)
        self.group_history[gid].append(message)
        members = self.members[gid]
        assert members is not None
        for uid in members:
            if uid != session.uid:  # every member at this moment, and nobody else
                self.inbox[uid].append(message)
                self.delivered[uid].add(message.msgid)
        if key:
            self.by_key[session.uid, key] = message

    @precondition(lambda self: bool(self.gids))
    @rule(session=sessions, index=st.integers(0, 5), page=st.integers(1, 3))
    def read_group_history(self, session: Session, index: int, page: int) -> None:
        live = self._auth(session, "history")
        if live is None:
            return
        gid = self._group(index)
        error = self._guard(gid, session.uid)
        if error is not None:
            with pytest.raises(error):
                self.service.group_history(live, gid, limit=page)
            return
        seen: list[Message] = []
        before = None
        while True:
            result = self.service.group_history(live, gid, before=before, limit=page)
            seen.extend(result.messages)
            if result.next_before is None:
                break
            before = result.next_before
        assert seen == self.group_history[gid][::-1]

    @rule(session=sessions)
    def list_conversations(self, session: Session) -> None:
        live = self._auth(session, "conversations")
        if live is None:
            return
        listed = self.service.conversations(live, limit=500).conversations
        uid = session.uid
        assert {c.group for c in listed if c.group} == {
            gid for gid, members in self.members.items() if members and uid in members}
        assert {c.peer for c in listed if c.peer} == {
            m.sender if m.recipient == uid else m.recipient for m in self.history
            if m.group is None and uid in (m.sender, m.recipient)}

