"""A committed write is answered as committed, whatever fails after it.

Every use case that commits to one store and then calls another is listed here with
the second store down at exactly that moment:

- ``send`` commits the message, then notes it in the session store (the inbox hint):
  the answer is the stored message, and the failure is logged and counted (that the
  message still arrives within the hint's lapse is in ``test_inbox_hint.py``).
- ``heartbeat`` commits the ack's deletions, then marks the inbox empty: the answer
  is the (empty) inbox.
- ``login`` records the user, then creates the session: without a session there is
  nothing to answer but 503, and the first write is an idempotent upsert, so the
  client's retry is harmless (one user, one live session).
"""

from __future__ import annotations

import logging

import falcon.testing
import pytest

from im_core import (
    ChatService,
    Inbox,
    InMemoryGameAuth,
    InMemoryMailbox,
    InMemorySessionStore,
    ManualClock,
    Session,
    SessionStoreUnavailable,
)
from im_http.app import create_app


class BrokenAfterCommit(InMemorySessionStore):
    """A session store whose named calls fail, as when Redis stops mid-request."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()

    def _maybe_fail(self, call: str) -> None:
        if call in self.failing:
            raise SessionStoreUnavailable(f"{call} failed (switched off by the test)")

    def note_new_message(self, uid: str) -> None:
        self._maybe_fail("note_new_message")
        super().note_new_message(uid)

    def note_inbox_empty(self, uid: str, version: int, now_ms: int) -> None:
        self._maybe_fail("note_inbox_empty")
        super().note_inbox_empty(uid, version, now_ms)

    def create(self, session: Session, ttl_ms: int) -> None:
        self._maybe_fail("create")
        super().create(session, ttl_ms)


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
def service(store: BrokenAfterCommit, mailbox: InMemoryMailbox, clock: ManualClock
            ) -> ChatService:
    return ChatService(store, mailbox, InMemoryGameAuth(), clock)


def login(service: ChatService, uid: str) -> Session:
    auth = service.auth
    assert isinstance(auth, InMemoryGameAuth)
    return service.login(uid, auth.grant(uid), "ios")


def beat(service: ChatService, session: Session, ack: int | None = None) -> Inbox:
    return service.heartbeat(service.authenticate(str(session.token), "heartbeat"), ack)


def test_a_send_whose_note_fails_answers_the_stored_message_and_counts_the_failure(
    service: ChatService, store: BrokenAfterCommit, mailbox: InMemoryMailbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice, _ = login(service, "alice"), login(service, "bob")
    store.failing.add("note_new_message")
    with caplog.at_level(logging.WARNING, logger="im_core"):
        message, created = service.send(alice, "bob", "secret words", client_msg_id="c1")
    assert created
    assert mailbox.history("alice", "bob", None, None, 10) == [message]
    assert service.after_commit_failures == 1
    assert "note a new message" in caplog.text
    assert "secret words" not in caplog.text


def test_a_heartbeat_whose_empty_mark_fails_answers_the_inbox_with_its_ack_applied(
    service: ChatService, store: BrokenAfterCommit, mailbox: InMemoryMailbox
) -> None:
    alice, bob = login(service, "alice"), login(service, "bob")
    message, _ = service.send(alice, "bob", "hi")
    assert beat(service, bob).messages == (message,)
    store.failing.add("note_inbox_empty")
    inbox = beat(service, bob, ack=message.msgid)
    assert inbox.messages == () and inbox.more is False
    assert mailbox.pull("bob", None, 10).messages == ()  # the ack was applied
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


def test_the_http_answer_to_a_stored_send_is_201_even_when_the_session_store_fails_after(
    service: ChatService, store: BrokenAfterCommit
) -> None:
    client = falcon.testing.TestClient(create_app(service, heartbeat_interval=2))
    alice = login(service, "alice")
    login(service, "bob")
    store.failing.add("note_new_message")
    result = client.simulate_post(
        "/v1/messages", json={"to": "bob", "body": "hi", "client_msg_id": "m1"},
        headers={"Authorization": f"Bearer {alice.token}"},
    )
    assert result.status_code == 201, result.json
    assert result.json["body"] == "hi"
