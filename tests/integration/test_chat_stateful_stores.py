"""The stateful model test of ``tests/unit/test_chat_stateful.py`` on real stores.

Fewer examples than on the in-memory ports, since every step is a round trip: the
point is that the real adapters keep the same promises in the same interleavings
(above all, that an arbitrary ack never deletes a message no pull returned).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from hypothesis.stateful import run_state_machine_as_test

from im_adapters.sql import SqlMailbox
from im_adapters.sql.tables import offline
from im_core import InMemorySessionStore, MailboxRepository, SessionStore
from tests.unit.test_chat_stateful import ChatMachine, machine_settings

SETTINGS = machine_settings(examples=12, steps=25)
_WAITING = sa.select(offline.c.msgid).where(
    offline.c.recipient == sa.bindparam("uid")).order_by(offline.c.msgid)


def _run_on(sessions: Callable[[], SessionStore], mailbox: SqlMailbox) -> None:
    """Run the machine; every run gets ``sessions()`` and shares ``mailbox``."""

    class OnRealStores(ChatMachine):
        def make_ports(self) -> tuple[SessionStore, MailboxRepository]:
            return sessions(), mailbox

        def waiting(self, uid: str) -> list[int]:
            with mailbox.engine.connect() as conn:
                return list(conn.execute(_WAITING, {"uid": uid}).scalars())

    run_state_machine_as_test(OnRealStores, settings=SETTINGS)


def test_the_use_cases_agree_with_the_model_on_sqlite(
    sql_mailbox: Callable[..., SqlMailbox],
) -> None:
    # Each run's clock starts at the same time, so each needs a store of its own.
    _run_on(InMemorySessionStore, sql_mailbox("sqlite"))


@pytest.mark.redis
@pytest.mark.postgres
def test_the_use_cases_agree_with_the_model_on_redis_and_postgres(
    redis_url: str, redis_namespace: str, sql_mailbox: Callable[..., SqlMailbox]
) -> None:
    from im_adapters.redis_sessions import RedisSessionStore

    sessions = RedisSessionStore.from_url(redis_url, namespace=redis_namespace)
    try:
        _run_on(lambda: sessions, sql_mailbox("postgres"))  # runs use uids of their own
    finally:
        sessions.close()
