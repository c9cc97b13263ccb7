"""``IM_LOGIN_POLICY``: which sessions a new login ends, on every stack."""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.e2e.conftest import Stack, build_stack


def code(result: Any) -> tuple[int, str | None]:
    return result.status_code, (result.json or {}).get("code")


def test_many_keeps_every_device_online(stack: Stack) -> None:
    api = build_stack(stack.name, stack.sessions, stack.mailbox, login_policy="many").api
    first, second = api.login("alice", "ios"), api.login("alice", "ios")
    assert api.heartbeat(first).status_code == api.heartbeat(second).status_code == 200


def test_one_per_client_type_ends_the_older_login_of_the_same_type(stack: Stack) -> None:
    api = build_stack(stack.name, stack.sessions, stack.mailbox,
                      login_policy="one-per-client-type").api
    phone, desktop = api.login("alice", "ios"), api.login("alice", "pc")
    newer_phone = api.login("alice", "ios")
    assert code(api.heartbeat(phone)) == (401, "session_replaced")
    assert api.heartbeat(desktop).status_code == 200
    assert api.heartbeat(newer_phone).status_code == 200


def test_single_ends_every_other_session(stack: Stack) -> None:
    api = build_stack(stack.name, stack.sessions, stack.mailbox, login_policy="single").api
    phone, desktop = api.login("alice", "ios"), api.login("alice", "pc")
    assert code(api.heartbeat(phone)) == (401, "session_replaced")
    assert api.heartbeat(desktop).status_code == 200
    bob = api.login("bob", "ios")
    assert api.heartbeat(desktop).status_code == 200 and api.heartbeat(bob).status_code == 200


def test_a_held_long_poll_of_a_replaced_session_answers_at_once(stack: Stack) -> None:
    api = build_stack(stack.name, stack.sessions, stack.mailbox, login_policy="single").api
    old = api.login("alice", "ios")
    answers: list[Any] = []
    thread = threading.Thread(
        target=lambda: answers.append(api.post("/v1/heartbeat", {"wait": 5}, token=old)))
    thread.start()
    time.sleep(0.3)  # let it reach its wait
    started = time.monotonic()
    api.login("alice", "pc")
    thread.join(5)
    assert time.monotonic() - started < 2
    assert code(answers[0]) == (401, "session_replaced")
