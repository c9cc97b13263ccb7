"""The ``MailboxRepository`` contract's fixture and helpers, shared by its test modules.

The in-memory mailbox is the reference; the SQL mailbox runs on SQLite, PostgreSQL
and MariaDB/MySQL, each on a freshly migrated scratch database; on PostgreSQL over
both executors (direct to psycopg, and through SQLAlchemy). A test that passes
on one and fails on another has found a difference the port does not allow. The
contract is ``test_mailbox_contract*.py``: users, pulls and acks; sends, bodies and
history; contacts, blocks and health.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from im_adapters.sql import SqlMailbox
from im_core.memory import InMemoryMailbox
from im_core.models import Message
from im_core.ports import MailboxRepository

IMPLEMENTATIONS = [
    pytest.param("memory"),
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("postgres-sqlalchemy", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]

# Hypothesis runs many examples on one (function-scoped) database: every example
# uses users of its own, so examples never see each other's messages.
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_fresh = itertools.count()

# What a body may be on every backend: any Unicode scalar value but NUL, which a
# PostgreSQL text cannot hold (see the report on ``check_body``).
bodies = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=300)
client_msg_ids = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=64
)


@pytest.fixture(params=IMPLEMENTATIONS)
def mailbox(
    request: pytest.FixtureRequest, sql_mailbox: Callable[[str], SqlMailbox]
) -> MailboxRepository:
    if request.param == "memory":
        return InMemoryMailbox()
    box = sql_mailbox(request.param)
    assert box.executor == ("sqlalchemy" if request.param != "postgres" else "direct")
    return box


def users(mailbox: MailboxRepository, *names: str) -> list[str]:
    """Log in users that no other example uses; return their uids."""
    run = next(_fresh)
    uids = [f"{name}.{run}" for name in names]
    for uid in uids:
        mailbox.record_login(uid, "ios", 1_700_000_000_000)
    return uids


def send(
    mailbox: MailboxRepository,
    sender: str,
    recipient: str,
    body: str = "hi",
    client_msg_id: str | None = None,
) -> Message:
    message, created = mailbox.send(sender, recipient, body, client_msg_id, 1_700_000_000_001)
    assert created
    return message
