"""The use cases against a reference model, in random interleavings (hypothesis).

Logins, heartbeats with and without ack, sends (with retries of one client_msg_id),
logouts, session expiry and history reads run in any order; after every step the
service must agree with a model simple enough to be obviously right: no message is
lost, none comes back after its ack, each inbox is in msgid order, history holds
every message exactly once, and dead sessions are refused.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from im_core import (
    ChatService,
    InMemoryGameAuth,
    InMemoryMailbox,
    InMemorySessionStore,
    ManualClock,
    Message,
    Session,
    SessionExpired,
    UnknownUser,
)
from im_core.models import OFFLINE
from tests.strategies import bodies, client_types

UIDS = ["alice", "bob", "carol", "Dave"]
TTL = 10_000


class ChatMachine(RuleBasedStateMachine):
    """Drives ``ChatService`` on in-memory ports and checks it against the model."""

    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.auth = InMemoryGameAuth()
        self.service = ChatService(InMemorySessionStore(), self.make_mailbox(), self.auth,
                                   self.clock, session_ttl_ms=TTL)
        # The model.
        self.known: set[str] = set()
        self.expires: dict[str, int] = {}  # wire token -> expiry; absent = dead
        self.inbox: dict[str, list[Message]] = {uid: [] for uid in UIDS}
        self.acked: dict[str, int] = dict.fromkeys(UIDS, 0)
        self.history: list[Message] = []
        self.by_key: dict[tuple[str, str], Message] = {}
        self.last_pulled: dict[str, int | None] = {}

    def make_mailbox(self) -> Any:
        return InMemoryMailbox()

    def _alive(self, session: Session) -> bool:
        return self.expires.get(str(session.token), 0) > self.clock.now

    def _touch(self, session: Session) -> None:
        self.expires[str(session.token)] = self.clock.now + TTL

    def _auth(self, session: Session, command: str) -> Session | None:
        """Call ``authenticate`` and check it against the model."""
        if not self._alive(session):
            with pytest.raises(SessionExpired):
                self.service.authenticate(str(session.token), command)
            self.expires.pop(str(session.token), None)
            return None
        live = self.service.authenticate(str(session.token), command)
        assert live.uid == session.uid and live.command == command
        self._touch(session)
        return live

    @rule(target=sessions, uid=st.sampled_from(UIDS), client_type=client_types)
    def login(self, uid: str, client_type: str) -> Session:
        session = self.service.login(uid, self.auth.grant(uid), client_type)
        assert session.uid == uid
        assert str(session.token) not in self.expires
        self.known.add(uid)
        self._touch(session)
        self.last_pulled[str(session.token)] = None
        return session

    @rule(session=sessions, use_ack=st.booleans(), limit=st.integers(1, 4))
    def heartbeat(self, session: Session, use_ack: bool, limit: int) -> None:
        live = self._auth(session, "heartbeat")
        if live is None:
            return
        ack = self.last_pulled.get(str(session.token)) if use_ack else None
        inbox = self.service.heartbeat(live, ack, limit)
        uid = session.uid
        if ack is not None:
            self.inbox[uid] = [m for m in self.inbox[uid] if m.msgid > ack]
            self.acked[uid] = max(self.acked[uid], ack)
        expected = self.inbox[uid][:limit]
        assert list(inbox.messages) == expected
        assert inbox.more == (len(self.inbox[uid]) > limit)
        assert all(m.msgid > self.acked[uid] for m in inbox.messages)
        if inbox.messages:
            self.last_pulled[str(session.token)] = inbox.messages[-1].msgid

    @rule(session=sessions, to=st.sampled_from([*UIDS, "stranger"]), body=bodies,
          key=st.none() | st.sampled_from(["k1", "k2", "k3"]))
    def send(self, session: Session, to: str, body: str, key: str | None) -> None:
        live = self._auth(session, "send")
        if live is None:
            return
        earlier = self.by_key.get((session.uid, key)) if key else None
        if earlier is None and to not in self.known:
            with pytest.raises(UnknownUser):
                self.service.send(live, to, body, key)
            return
        message, created = self.service.send(live, to, body, key)
        if earlier is not None:
            assert (message, created) == (earlier, False)
            return
        assert created
        assert (message.sender, message.recipient, message.body) == (session.uid, to, body)
        assert message.sent_at == self.clock.now
        assert all(message.msgid > m.msgid for m in self.history)
        self.history.append(message)
        self.inbox[to].append(message)
        if key:
            self.by_key[session.uid, key] = message

    @rule(session=sessions, peer=st.sampled_from(UIDS), page=st.integers(1, 3))
    def read_history(self, session: Session, peer: str, page: int) -> None:
        live = self._auth(session, "history")
        if live is None:
            return
        pair = {session.uid, peer}
        expected = [m for m in reversed(self.history) if {m.sender, m.recipient} == pair]
        if not expected and peer not in self.known:
            with pytest.raises(UnknownUser):
                self.service.history(live, peer, limit=page)
            return
        seen: list[Message] = []
        before = None
        while True:
            result = self.service.history(live, peer, before=before, limit=page)
            seen.extend(result.messages)
            if result.next_before is None:
                break
            before = result.next_before
        assert seen == expected

    @rule(session=consumes(sessions))
    def logout(self, session: Session) -> None:
        live = self._auth(session, "logout")
        if live is None:
            return
        self.service.logout(live)
        self.expires.pop(str(session.token))
        with pytest.raises(SessionExpired):
            self.service.authenticate(str(session.token), "heartbeat")

    @rule(ms=st.sampled_from([1_000, 5_000, 9_999, 10_000, 30_000]))
    def time_passes(self, ms: int) -> None:
        self.clock.advance(ms)

    @precondition(lambda self: bool(self.expires))
    @rule()
    def presence_matches_live_sessions(self) -> None:
        watcher = self.service.login("watcher", self.auth.grant("watcher"), "pc")
        self.known.add("watcher")
        found = self.service.presence(watcher, UIDS)
        alive_uids = {token.partition(".")[0] for token, exp in self.expires.items()
                      if exp > self.clock.now}
        for uid in UIDS:
            encoded = str(Session(type(watcher.token)(uid, "x" * 22), "x", "x", 0).token)
            online = encoded.partition(".")[0] in alive_uids
            assert found[uid].online == online
            if not online:
                assert found[uid] == OFFLINE
        self.service.logout(watcher)

    @invariant()
    def history_holds_every_message_exactly_once(self) -> None:
        ids = [m.msgid for m in self.history]
        assert len(ids) == len(set(ids))


ChatMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40,
                                         deadline=None)
TestChatAgainstTheModel = ChatMachine.TestCase
