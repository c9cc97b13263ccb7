"""A committed write is answered as committed, whatever fails after it.

Every use case that commits to one store and then calls another is listed here with
the second store down at exactly that moment:

- ``send`` commits the message, then rings the recipient (wake-ups and the inbox
  hint): the answer is the stored message, and the failure is logged and counted
  (that the message still arrives within the hint's lapse is in ``test_inbox_hint.py``).
- ``logout`` deletes the session, then rings the player's waiting requests: the
  answer is 204 and the token is dead.
- ``heartbeat`` commits the ack's deletions, then marks the inbox empty: that mark is
  kept in the process (``InboxSignals.mark_empty`` does no I/O), so nothing can fail.
- ``login`` records the user, then creates the session: without a session there is
  nothing to answer but 503, and the first write is an idempotent upsert, so the
  client's retry is harmless (one user, one live session).
"""

from __future__ import annotations

import logging
import threading

import falcon.testing
import pytest

from im_core import (
    AuthUnavailable,
    ChatService,
    Inbox,
    InMemoryGameAuth,
    InMemoryInboxSignals,
    InMemoryMailbox,
    InMemorySessionStore,
    ManualClock,
    Session,
    SessionExpired,
    SessionStoreUnavailable,
)
from im_http.api.app import create_app


class BrokenAfterCommit(InMemorySessionStore):
    """A session store whose ``create`` fails, as when Redis stops mid-request."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()

    def create(self, session: Session, ttl_ms: int, max_sessions: int = 8) -> None:
        if "create" in self.failing:
            raise SessionStoreUnavailable("create failed (switched off by the test)")
        super().create(session, ttl_ms, max_sessions)


@pytest.fixture
def store() -> BrokenAfterCommit:
    return BrokenAfterCommit()


@pytest.fixture
def mailbox() -> InMemoryMailbox:
    return InMemoryMailbox()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def signals() -> InMemoryInboxSignals:
    return InMemoryInboxSignals()


@pytest.fixture
def service(store: BrokenAfterCommit, mailbox: InMemoryMailbox, clock: ManualClock,
            signals: InMemoryInboxSignals) -> ChatService:
    return ChatService(store, mailbox, InMemoryGameAuth(), clock, signals=signals)


def login(service: ChatService, uid: str) -> Session:
    auth = service.auth
    assert isinstance(auth, InMemoryGameAuth)
    return service.login(uid, auth.grant(uid), "ios")


def beat(service: ChatService, session: Session, ack: int | None = None) -> Inbox:
    return service.heartbeat(service.authenticate(str(session.token), "heartbeat"), ack)


def test_a_send_whose_ring_fails_answers_the_stored_message_and_counts_the_failure(
    service: ChatService, signals: InMemoryInboxSignals, mailbox: InMemoryMailbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice, _ = login(service, "alice"), login(service, "bob")
    signals.down = True
    with caplog.at_level(logging.WARNING, logger="im_core"):
        message, created = service.send(alice, "bob", "secret words", client_msg_id="c1")
    assert created
    assert mailbox.history("alice", "bob", None, None, 10) == [message]
    assert service.after_commit_failures == 1
    assert "ring the recipient" in caplog.text
    assert "secret words" not in caplog.text


def test_a_logout_whose_ring_fails_still_ends_the_session(
    service: ChatService, signals: InMemoryInboxSignals
) -> None:
    alice = login(service, "alice")
    signals.down = True
    service.logout(alice)
    with pytest.raises(SessionExpired):
        service.authenticate(str(alice.token), "heartbeat")
    assert service.after_commit_failures == 1


def test_a_login_whose_session_cannot_be_stored_fails_and_its_retry_succeeds(
    service: ChatService, store: BrokenAfterCommit, mailbox: InMemoryMailbox
) -> None:
    store.failing.add("create")
    with pytest.raises(SessionStoreUnavailable):
        login(service, "alice")
    store.failing.clear()
    session = login(service, "alice")
    assert mailbox.known_users(["alice"]) == {"alice"}
    assert service.authenticate(str(session.token), "heartbeat").uid == "alice"
    assert len(store) == 1


def test_the_http_answer_to_a_stored_send_is_201_even_when_the_ring_fails_after(
    service: ChatService, signals: InMemoryInboxSignals
) -> None:
    client = falcon.testing.TestClient(create_app(service, heartbeat_interval=2))
    alice = login(service, "alice")
    login(service, "bob")
    signals.down = True
    result = client.simulate_post(
        "/v1/messages", json={"to": "bob", "body": "hi", "client_msg_id": "m1"},
        headers={"Authorization": f"Bearer {alice.token}"},
    )
    assert result.status_code == 201, result.json
    assert result.json["body"] == "hi"


class HangingAuth(InMemoryGameAuth):
    """A game login service that answers only when the test lets it."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def verify(self, uid: str, game_token: str) -> None:
        self.entered.release()
        self.release.wait(10)
        super().verify(uid, game_token)


def test_logins_beyond_the_bound_in_flight_are_refused_at_once_not_queued() -> None:
    auth = HangingAuth()
    service = ChatService(InMemorySessionStore(), InMemoryMailbox(), auth, ManualClock(),
                          max_logins_in_flight=2)
    held = [threading.Thread(target=service.login, args=(uid, auth.grant(uid), "pc"))
            for uid in ("alice", "bob")]
    for thread in held:
        thread.start()
    for _ in held:
        assert auth.entered.acquire(timeout=5)
    with pytest.raises(AuthUnavailable, match="too many logins"):
        service.login("carol", auth.grant("carol"), "pc")
    auth.release.set()
    for thread in held:
        thread.join(timeout=5)
    assert service.login("carol", auth.grant("carol"), "pc").uid == "carol"  # freed again
