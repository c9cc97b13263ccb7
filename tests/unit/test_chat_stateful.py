"""The use cases against a reference model, in random interleavings (hypothesis).

Logins, heartbeats, sends (with retries and reuses of one client_msg_id), logouts,
session expiry and history reads run in any order. The client acks arbitrary
integers: the msgid it last received, nothing, a msgid it sent itself, one below or
beyond what it was given, the largest msgid there is. After every step the system is
compared with a model simple enough to be obviously right: no message leaves an inbox
before a pull returned it, none comes back after its ack, each inbox is in msgid
order, history holds every message exactly once, and dead sessions are refused.
Groups join in: making groups, adding and removing members, role changes and
dissolving, interleaved with group sends and acks; the model's inboxes then say that
no member loses a message sent while it was a member and no non-member gets one.

The machine runs on the in-memory ports here, and on SQLite and on Redis +
PostgreSQL (with fewer examples) in ``tests/integration/test_chat_stateful_stores.py``.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from im_core import (
    ChatService,
    ClientMsgIdReused,
    InMemoryGameAuth,
    InMemoryMailbox,
    InMemorySessionStore,
    Limits,
    MailboxRepository,
    ManualClock,
    Message,
    Session,
    SessionExpired,
    SessionStore,
    SessionToken,
    UnknownUser,
)
from im_core.models import MSGID_MAX
from tests.strategies import bodies, client_types
from tests.unit.stateful_groups import SESSIONS, GroupRules

NAMES = ["alice", "bob", "carol", "Dave"]
TTL = 10_000
_runs = itertools.count()

# How a client picks its ack: each kind is one way a real client could get it wrong.
ACKS = st.sampled_from(["none", "last", "own", "below", "beyond", "max", "zero"]) | st.integers(
    0, MSGID_MAX
)


class ChatMachine(GroupRules, RuleBasedStateMachine):
    """Drives ``ChatService`` and checks it against the model after every step.

    Subclasses pick the ports (``make_ports``) and how to read an inbox without
    changing it (``waiting``). Each run uses uids of its own, so runs can share one
    database.
    """

    sessions = SESSIONS

    def __init__(self) -> None:
        super().__init__()
        run = next(_runs)
        self.uids = {name: f"{name}.{run}" for name in NAMES}
        self.clock = ManualClock()
        self.auth = InMemoryGameAuth()
        store, mailbox = self.make_ports()
        self.store, self.mailbox = store, mailbox
        # The model has no rate limits (their own tests are in test_abuse_limits).
        # No rate limits and no session cap here: each has tests of its own, and the
        # cap's choice among sessions with the same last-call time is unspecified.
        gids = (f"g{run}-{n}" for n in itertools.count())
        self.service = ChatService(store, mailbox, self.auth, self.clock, session_ttl_ms=TTL,
                                   limits=Limits(sends=None, logins=None),
                                   max_sessions_per_uid=1_000,
                                   new_group_id=lambda: next(gids))
        # The model.
        self.known: set[str] = set()
        self.expires: dict[str, int] = {}  # wire token -> expiry; absent = dead
        self.inbox: dict[str, list[Message]] = {uid: [] for uid in self.uids.values()}
        self.returned: dict[str, set[int]] = {uid: set() for uid in self.uids.values()}
        self.pulled_through: dict[str, int] = dict.fromkeys(self.uids.values(), 0)
        self.history: list[Message] = []
        self.by_key: dict[tuple[str, str], Message] = {}
        self.last_pulled: dict[str, int | None] = {}
        self.gids: list[str] = []
        self.members: dict[str, dict[str, str] | None] = {}  # gid -> uid -> role; None: gone
        self.group_history: dict[str, list[Message]] = {}
        self.delivered: dict[str, set[int]] = {uid: set() for uid in self.uids.values()}

    def make_ports(self) -> tuple[SessionStore, MailboxRepository]:
        return InMemorySessionStore(), InMemoryMailbox()

    def waiting(self, uid: str) -> list[int]:
        """The msgids in ``uid``'s inbox, read without pulling (a pull changes state)."""
        mailbox = self.mailbox
        assert isinstance(mailbox, InMemoryMailbox)
        return mailbox.waiting(uid)

    def _alive(self, session: Session) -> bool:
        return self.expires.get(str(session.token), 0) > self.clock.now

    def _auth(self, session: Session, command: str) -> Session | None:
        """Call ``authenticate`` and check it against the model."""
        if not self._alive(session):
            with pytest.raises(SessionExpired):
                self.service.authenticate(str(session.token), command)
            self.expires.pop(str(session.token), None)
            return None
        live = self.service.authenticate(str(session.token), command)
        assert live.uid == session.uid and live.command == command
        self.expires[str(session.token)] = self.clock.now + TTL
        return live

    def _ack(self, session: Session, kind: str | int) -> int | None:
        uid, mark = session.uid, self.pulled_through[session.uid]
        own = [m.msgid for m in self.history if m.sender == uid]
        choices: dict[str | int, int | None] = {
            "none": None,
            "last": self.last_pulled.get(str(session.token)),
            "own": own[-1] if own else None,
            "below": max(mark - 1, 0),
            "beyond": mark + 2,
            "max": MSGID_MAX,
            "zero": 0,
        }
        return choices[kind] if isinstance(kind, str) else kind

    @rule(target=sessions, name=st.sampled_from(NAMES), client_type=client_types)
    def login(self, name: str, client_type: str) -> Session:
        uid = self.uids[name]
        session = self.service.login(uid, self.auth.grant(uid), client_type)
        assert session.uid == uid
        assert str(session.token) not in self.expires
        self.known.add(uid)
        self.expires[str(session.token)] = self.clock.now + TTL
        self.last_pulled[str(session.token)] = None
        return session

    @rule(session=sessions, kind=ACKS, limit=st.integers(1, 4))
    def heartbeat(self, session: Session, kind: str | int, limit: int) -> None:
        live = self._auth(session, "heartbeat")
        if live is None:
            return
        ack = self._ack(session, kind)
        inbox = self.service.heartbeat(live, ack, limit)
        uid = session.uid
        if ack is not None:
            deletable = min(ack, self.pulled_through[uid])
            gone = [m for m in self.inbox[uid] if m.msgid <= deletable]
            # The promise itself: nothing leaves the inbox before a pull returned it.
            assert all(m.msgid in self.returned[uid] for m in gone)
            self.inbox[uid] = [m for m in self.inbox[uid] if m.msgid > deletable]
        expected = self.inbox[uid][:limit]
        assert list(inbox.messages) == expected
        assert inbox.more == (len(self.inbox[uid]) > limit)
        if inbox.messages:
            top = inbox.messages[-1].msgid
            self.returned[uid].update(m.msgid for m in inbox.messages)
            self.pulled_through[uid] = max(self.pulled_through[uid], top)
            self.last_pulled[str(session.token)] = top

    @rule(session=sessions, to=st.sampled_from([*NAMES, "stranger"]), body=bodies,
          key=st.none() | st.sampled_from(["k1", "k2", "k3"]))
    def send(self, session: Session, to: str, body: str, key: str | None) -> None:
        live = self._auth(session, "send")
        if live is None:
            return
        to = self.uids.get(to, to)
        earlier = self.by_key.get((session.uid, key)) if key else None
        if earlier is not None and (earlier.recipient, earlier.body) != (to, body):
            with pytest.raises(ClientMsgIdReused):
                self.service.send(live, to, body, key)
            return
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
        self.delivered[to].add(message.msgid)
        if key:
            self.by_key[session.uid, key] = message

    @rule(session=sessions, peer=st.sampled_from(NAMES), page=st.integers(1, 3))
    def read_history(self, session: Session, peer: str, page: int) -> None:
        live = self._auth(session, "history")
        if live is None:
            return
        peer = self.uids[peer]
        if peer not in self.known:
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
        assert seen == self._conversation(session.uid, peer)

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

    def _conversation(self, a: str, b: str) -> list[Message]:
        return [m for m in reversed(self.history) if {m.sender, m.recipient} == {a, b}]

    # --- the system against the model, after every step ------------------------------

    @invariant()
    def every_inbox_holds_exactly_what_the_model_says(self) -> None:
        for uid in self.uids.values():
            assert self.waiting(uid) == [m.msgid for m in self.inbox[uid]]

    @invariant()
    def every_message_never_returned_by_a_pull_is_still_waiting(self) -> None:
        for uid in self.uids.values():
            unseen = self.delivered[uid] - self.returned[uid]
            assert unseen <= set(self.waiting(uid))

    @invariant()
    def history_holds_every_message_exactly_once(self) -> None:
        ids = [m.msgid for m in self.history]
        assert len(ids) == len(set(ids))
        for a, b in itertools.combinations(sorted(self.known), 2):
            stored = self.mailbox.history(a, b, None, None, len(self.history) + 1)
            assert stored == self._conversation(a, b)

    @precondition(lambda self: bool(self.expires))
    @invariant()
    def presence_matches_the_live_sessions(self) -> None:
        alive = {self.session_uid_of(token) for token, exp in self.expires.items()
                 if exp > self.clock.now}
        found = self.store.presence(list(self.uids.values()), self.clock.now)
        # Exactly the live uids have an entry; the service shows the rest as OFFLINE.
        assert set(found) == alive
        assert all(p.online for p in found.values())

    def session_uid_of(self, wire_token: str) -> str:
        parsed = SessionToken.parse(wire_token)
        assert parsed is not None
        return parsed.uid


def machine_settings(examples: int, steps: int) -> Any:
    return settings(max_examples=examples, stateful_step_count=steps, deadline=None)


ChatMachine.TestCase.settings = machine_settings(200, 40)
TestChatAgainstTheModel = ChatMachine.TestCase
