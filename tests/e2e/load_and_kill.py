"""A send load over real ``im-server`` nodes with a fault in the middle, and its audit.

What the distributed-store tests share (Galera, a PostgreSQL failover, a Redis Cluster
failover). Senders spread their sends over every node; recipients long-poll with
cumulative acks. The clients behave as docs/api.md tells them to: a 503 or a dead
connection is retried, on the next node, with the same ``client_msg_id``; a long-poll
goes on with the same token elsewhere; a 401 (a session lost with a Redis shard) is a
new login. At a point in the load ``fault`` runs (a kill), later ``recover``.

The audit: every send answered 2xx reached its recipient exactly once, with the msgid
its answer gave; the database holds each ``client_msg_id`` once and every msgid once;
no answer was anything but 2xx, 503 (and 401 where sessions may be lost). The figures
(sends, 503s, how long the 503s lasted, re-logins) are printed for docs/deployment.md.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from tests.e2e.fault_kit import Node, ServerDown, call, game_token

__all__ = ["Load", "Outcome"]

WAIT_S = 2


@attrs.define
class Outcome:
    """What a load saw; ``report`` is the line the docs quote."""

    sends: int = 0
    statuses: Counter[int] = attrs.field(factory=Counter)
    relogins: int = 0
    dead_connections: int = 0
    first_503: float | None = None
    last_503: float | None = None
    fault_at: float | None = None
    recover_at: float | None = None
    took_s: float = 0.0
    redelivered: int = 0

    def unavailable_window_s(self) -> float:
        """Seconds from the fault to the last 503 (0 if none came)."""
        if self.last_503 is None or self.fault_at is None:
            return 0.0
        return max(0.0, self.last_503 - self.fault_at)

    def report(self, name: str) -> str:
        recover = ("" if self.recover_at is None or self.fault_at is None else
                   f", the repair began {self.recover_at - self.fault_at:.1f} s after it")
        return (f"{name}: {self.sends} sends acknowledged in {self.took_s:.1f} s; "
                f"{self.statuses[503]} answers 503, the last "
                f"{self.unavailable_window_s():.1f} s after the kill{recover}; "
                f"{self.dead_connections} dead connections retried elsewhere; "
                f"{self.relogins} re-logins; statuses {dict(sorted(self.statuses.items()))}; "
                f"0 lost, {self.redelivered} delivered twice")


class Load:
    """Senders and long-polling recipients over ``nodes``; see the module docstring."""

    def __init__(self, nodes: Sequence[Node], senders: Sequence[str],
                 recipients: Sequence[str], per_sender: int, *,
                 sessions_may_be_lost: bool = False) -> None:
        self.nodes = list(nodes)
        self.senders = list(senders)
        self.recipients = list(recipients)
        self.per_sender = per_sender
        self.allowed = {200, 201, 503} | ({401} if sessions_may_be_lost else set())
        self.outcome = Outcome()
        self.errors: list[str] = []
        self.acknowledged: dict[str, tuple[str, int]] = {}  # client_msg_id -> (to, msgid)
        self.received: dict[str, list[int]] = defaultdict(list)
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # -- the clients ----------------------------------------------------------------

    def _login(self, uid: str, first: int) -> str:
        """Log in on the first node that answers (a 503 or a dead node: the next one)."""
        answer: Any = None
        for attempt in range(60):
            node = self.nodes[(first + attempt) % len(self.nodes)]
            try:
                status, answer, _ = call(node.port, "POST", "/v1/login", {
                    "uid": uid, "game_token": game_token(uid), "client_type": "pc"})
            except ServerDown:
                continue
            if status == 200:
                token: str = answer["token"]
                return token
            assert status == 503, (status, answer)
            time.sleep(0.1)
        raise AssertionError(f"{uid} could not log in on any node: {answer}")

    def _call(self, uid: str, at: int, method: str, path: str,
              body: Any, timeout: float) -> tuple[int, Any, int]:
        """One call, following the client rules; (status, answer, node index used)."""
        node = self.nodes[at % len(self.nodes)]
        try:
            status, answer, _ = call(node.port, method, path, body, self._tokens[uid],
                                     timeout=timeout)
        except ServerDown:
            with self._lock:
                self.outcome.dead_connections += 1
            return -1, None, at + 1
        with self._lock:
            self.outcome.statuses[status] += 1
            if status == 503:
                now = time.monotonic()
                self.outcome.first_503 = self.outcome.first_503 or now
                self.outcome.last_503 = now
        if status not in self.allowed:
            self.errors.append(f"{uid} {method} {path}: {status} {answer}")
        elif status == 401:
            with self._lock:
                self.outcome.relogins += 1
            self._tokens[uid] = self._login(uid, at + 1)
        return status, answer, at if status in (200, 201) else at + 1

    def _sender(self, index: int, uid: str) -> None:
        for n in range(self.per_sender):
            cmid = f"{uid}-{n}"
            to = self.recipients[(index + n) % len(self.recipients)]
            body = {"to": to, "body": f"message {cmid}", "client_msg_id": cmid}
            at, deadline = index + n, time.monotonic() + 60
            while not self.errors:
                assert time.monotonic() < deadline, f"{cmid} was never answered"
                status, answer, at = self._call(uid, at, "POST", "/v1/messages", body, 5)
                if status in (200, 201):
                    with self._lock:
                        earlier = self.acknowledged.get(cmid)
                        assert earlier in (None, (to, answer["msgid"])), (cmid, earlier, answer)
                        self.acknowledged[cmid] = (to, answer["msgid"])
                        self.outcome.sends += 1
                    break
                if status == 503:
                    time.sleep(0.05)

    def _recipient(self, index: int, uid: str) -> None:
        at, ack = index, None
        while not self._stop.is_set() and not self.errors:
            status, answer, at = self._call(uid, at, "POST", "/v1/heartbeat",
                                            {"ack": ack, "wait": WAIT_S}, WAIT_S + 5)
            if status == 503:
                time.sleep(0.05)
            if status != 200:
                continue
            msgids = [m["msgid"] for m in answer["messages"]]
            with self._lock:
                self.received[uid] += msgids
            if msgids:
                ack = msgids[-1]

    def _guarded(self, target: Callable[..., None], *args: Any) -> None:
        try:
            target(*args)
        except BaseException as error:  # a client thread that dies must fail the test
            self.errors.append(f"{target.__name__}{args}: {error!r}")

    # -- the run ----------------------------------------------------------------------

    def run(self, fault: Callable[[], None], recover: Callable[[], None] | None = None,
            *, fault_after: float = 1 / 3, recover_after: float = 2 / 3) -> Outcome:
        """Run the load; ``fault`` when that share of sends is acknowledged, then
        ``recover``; wait until every acknowledged message is delivered."""
        for i, uid in enumerate(self.senders + self.recipients):
            self._tokens[uid] = self._login(uid, i)
        total = len(self.senders) * self.per_sender
        pollers = [threading.Thread(target=self._guarded, args=(self._recipient, i, uid))
                   for i, uid in enumerate(self.recipients)]
        senders = [threading.Thread(target=self._guarded, args=(self._sender, i, uid))
                   for i, uid in enumerate(self.senders)]
        started = time.monotonic()
        for thread in pollers + senders:
            thread.start()
        try:
            self._when(lambda: self.outcome.sends >= total * fault_after)
            self.outcome.fault_at = time.monotonic()
            fault()
            if recover is not None:
                self._when(lambda: self.outcome.sends >= total * recover_after)
                self.outcome.recover_at = time.monotonic()
                recover()
            for thread in senders:
                thread.join(timeout=120)
            self.outcome.took_s = time.monotonic() - started
            self._when(self._all_delivered, timeout_s=30)
        finally:
            self._stop.set()
            for thread in pollers + senders:
                thread.join(timeout=WAIT_S + 15)
        return self.outcome

    def _when(self, condition: Callable[[], bool], timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition() and not self.errors and time.monotonic() < deadline:
            time.sleep(0.01)

    def _expected(self) -> dict[str, set[int]]:
        expected: dict[str, set[int]] = defaultdict(set)
        for to, msgid in self.acknowledged.values():
            expected[to].add(msgid)
        return expected

    def _all_delivered(self) -> bool:
        with self._lock:
            expected = self._expected()
            return all(expected[uid] <= set(self.received[uid]) for uid in self.recipients)

    def relogin(self, uid: str) -> None:
        """Log ``uid`` in again now: its calls go on with the new session's token."""
        self._tokens[uid] = self._login(uid, 0)

    def ring_latencies(self, uids: Sequence[str], wait_s: float = 6.0) -> dict[str, float]:
        """For each uid: seconds from a send to it (on one node) until its long-poll,
        held on another node, answered with it. Well under ``wait_s``: the ring came."""
        latencies: dict[str, float] = {}
        for i, uid in enumerate(uids):
            sender = self.senders[i % len(self.senders)]
            for who in (uid, sender):
                self._tokens[who] = self._login(who, i)
            got: list[float] = []

            def wait(who: str = uid, got: list[float] = got) -> None:
                status, answer, _ = call(self.nodes[0].port, "POST", "/v1/heartbeat",
                                         {"wait": wait_s}, self._tokens[who],
                                         timeout=wait_s + 5)
                if status == 200 and answer["messages"]:
                    got.append(time.monotonic())

            # Empty the inbox first, so that the held heartbeat waits.
            call(self.nodes[0].port, "POST", "/v1/heartbeat", {"ack": 2**53}, self._tokens[uid])
            waiter = threading.Thread(target=wait)
            waiter.start()
            time.sleep(0.3)
            sent_at = time.monotonic()
            status, answer, _ = call(self.nodes[1].port, "POST", "/v1/messages",
                                     {"to": uid, "body": "ring?"}, self._tokens[sender])
            assert status == 201, answer
            waiter.join(timeout=wait_s + 10)
            latencies[uid] = (got[0] - sent_at) if got else float("inf")
        return latencies

    # -- the audit --------------------------------------------------------------------

    def audit(self, database_url: str) -> None:
        """Fail unless every acknowledged send was delivered once and stored once."""
        assert not self.errors, self.errors[:10]
        assert len(self.acknowledged) == len(self.senders) * self.per_sender
        expected = self._expected()
        for uid in self.recipients:
            got = Counter(self.received[uid])
            missing = expected[uid] - set(got)
            assert not missing, f"{uid} never received {sorted(missing)}"
            assert set(got) == expected[uid], f"{uid} received messages nobody sent"
            self.outcome.redelivered += sum(count - 1 for count in got.values())
        engine = sa.create_engine(database_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(sa.text(
                    "SELECT msgid, sender, client_msg_id FROM messages")).all()
                orphans = connection.execute(sa.text(
                    "SELECT count(*) FROM offline o LEFT JOIN messages m "
                    "ON m.msgid = o.msgid WHERE m.msgid IS NULL")).scalar_one()
        finally:
            engine.dispose()
        stored = Counter(cmid.decode() if isinstance(cmid, bytes) else cmid
                         for _, _, cmid in rows)
        assert stored == Counter(dict.fromkeys(self.acknowledged, 1)), (
            "the database does not hold each acknowledged message exactly once")
        by_cmid = {(cmid.decode() if isinstance(cmid, bytes) else cmid): msgid
                   for msgid, _, cmid in rows}
        assert all(by_cmid[c] == m for c, (_, m) in self.acknowledged.items())
        assert len({msgid for msgid, _, _ in rows}) == len(rows), "a msgid was reused"
        assert orphans == 0
        assert self.outcome.redelivered == 0, f"{self.outcome.redelivered} delivered twice"
