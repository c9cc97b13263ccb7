"""How long one system message to 1,000 players takes, and its retry, on a real database.

Each copy is its own transaction (``im_core/server_ops.py`` says why), so the figure
is about 1,000 send round trips; the retry stores nothing and reads 1,000 times.

    python -m bench.system_messages postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import time

from im_adapters.sql import SqlMailbox, upgrade_to_head
from im_adapters.sql.admin import create_database, drop_database
from im_core import ChatService, InMemoryGameAuth, InMemorySessionStore, SystemClock

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server_url", help="a database server's URL; a scratch database is made")
    parser.add_argument("--recipients", type=int, default=1000)
    args = parser.parse_args(argv)
    url = create_database(args.server_url, prefix="im_bench")
    try:
        box = SqlMailbox.from_url(url)
        upgrade_to_head(box.engine)
        uids = [f"p{i}" for i in range(args.recipients)]
        now = int(time.time() * 1000)
        for uid in uids:
            box.record_login(uid, "pc", now)
        chat = ChatService(InMemorySessionStore(), box, InMemoryGameAuth(), SystemClock())
        timings = []
        for _ in range(2):
            started = time.perf_counter()
            sent = chat.system_send(uids, "The raid starts in 5 minutes", "raid-1")
            timings.append((time.perf_counter() - started,
                            sum(d.created for d in sent.delivered)))
        box.close()
    finally:
        drop_database(args.server_url, url)
    (first, stored), (again, restored) = timings
    print(f"{box.engine.dialect.name}: {args.recipients} recipients in {first * 1000:.0f} ms "
          f"({stored} stored); the retry {again * 1000:.0f} ms ({restored} stored)")


if __name__ == "__main__":
    main()
