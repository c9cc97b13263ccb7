"""Sends per second on each database tier, side by side: ``python -m tests.measure_db_tiers``.

Not a test: the figures docs/deployment.md quotes for "when to shard". Each tier is
started here, on loopback (``tests/pg_cluster.py``, ``tests/galera.py``), and fed by
``THREADS`` threads calling ``SqlMailbox.send`` for ``SECONDS`` seconds, twice: to
spread recipients (each thread its own), and all to one recipient (the hot inbox,
where sends queue on one lock, or on Galera conflict at certification). The client
shares the machine's cores with the servers, so the absolute figures are this box's;
the ratios between tiers are the point. Stops everything it started.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from im_adapters.sql import SqlMailbox, upgrade_to_head
from im_core.ports import MailboxUnavailable
from tests.galera import GaleraCluster
from tests.pg_cluster import PostgresPair

THREADS = 8
SECONDS = 5.0


def _rate(boxes: list[SqlMailbox], hot: bool, tag: str) -> tuple[float, int]:
    """Sends/s over ``SECONDS`` with ``THREADS`` threads (thread i on box i % n)."""
    recipients = ["hot"] if hot else [f"{tag}-r{i}" for i in range(THREADS)]
    for uid in [*recipients, *(f"{tag}-s{i}" for i in range(THREADS))]:
        boxes[0].record_login(uid, "pc", 1)
    counts = [0] * THREADS
    failures = [0] * THREADS
    deadline = time.monotonic() + SECONDS

    def run(i: int) -> None:
        box, n = boxes[i % len(boxes)], 0
        while time.monotonic() < deadline:
            n += 1
            try:
                box.send(f"{tag}-s{i}", recipients[i % len(recipients)], "x" * 40,
                         f"{tag}-{i}-{n}", n)
                counts[i] += 1
            except MailboxUnavailable:
                failures[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / SECONDS, sum(failures)


def _measure(name: str, boxes: list[SqlMailbox], rows: list[str]) -> None:
    spread, spread_failed = _rate(boxes, False, f"{name[:3]}a")
    hot, hot_failed = _rate(boxes, True, f"{name[:3]}b")
    rows.append(f"| {name} | {spread:,.0f} | {hot:,.0f} | {spread_failed + hot_failed} |")
    for box in boxes:
        box.close()


def _postgres(synchronous: bool, rows: list[str]) -> None:
    directory = Path(tempfile.mkdtemp(prefix="im-pg-"))
    pair = PostgresPair(directory, synchronous=synchronous)
    try:
        pair.start()
        box = SqlMailbox.from_url(pair.url(0))
        upgrade_to_head(box.engine)
        name = "PostgreSQL primary, " + ("synchronous" if synchronous else "asynchronous") \
            + " standby"
        _measure(name, [box], rows)
    finally:
        pair.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _galera(rows: list[str]) -> None:
    directory = Path(tempfile.mkdtemp(prefix="im-galera-"))
    cluster = GaleraCluster(directory)
    try:
        cluster.start()
        make: Callable[[int], SqlMailbox] = lambda i: SqlMailbox.from_url(cluster.url(i))  # noqa: E731
        upgrade_to_head(make(0).engine)
        _measure("Galera, 3 nodes, all writes through one", [make(0)], rows)
        _measure("Galera, 3 nodes, writes through all three", [make(i) for i in range(3)], rows)
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    rows = ["| tier | sends/s, spread recipients | sends/s, one hot recipient | 503s |",
            "|---|---:|---:|---:|"]
    _postgres(False, rows)
    _postgres(True, rows)
    _galera(rows)
    print(f"{THREADS} threads, {SECONDS:.0f} s each, 40-character bodies, one 2-core box:")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
