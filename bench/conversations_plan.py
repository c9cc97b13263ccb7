"""The query plan of ``GET /v1/conversations`` for a player with 200 conversations.

    .venv/bin/python -m bench.conversations_plan [--history 200000]

On a scratch PostgreSQL database (dropped afterwards) it makes one player with 100
private peers and 100 groups (five messages in each conversation, through the
mailbox, as the server writes them), adds ``--history`` more messages to other
conversations (so that a scan of history would show) and 100,000 other players'
conversations and 200,000 other groups with 400,000 members (so the chat-list tables
are not tiny), runs ``ANALYZE``, then prints ``EXPLAIN (ANALYZE, BUFFERS)`` of the one
statement behind the chat list, with the time the mailbox call takes (median of 50).
docs/performance.md quotes the output.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import sqlalchemy as sa

from bench.log import log

__all__ = ["main"]

POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def main(argv: list[str] | None = None) -> int:
    from im_adapters.sql import SqlMailbox, upgrade_to_head
    from im_adapters.sql.admin import create_database, drop_database
    from im_adapters.sql.group_statements import CONVERSATIONS

    parser = argparse.ArgumentParser(prog="python -m bench.conversations_plan")
    parser.add_argument("--history", type=int, default=200_000)
    parser.add_argument("--server", default=POSTGRES_SERVER)
    args = parser.parse_args(argv)
    url = create_database(args.server, prefix="im_bench")
    try:
        box = SqlMailbox.from_url(url)
        upgrade_to_head(box.engine)
        me = "player"
        peers = [f"peer-{i:03d}" for i in range(100)]
        for uid in [me, *peers]:
            box.record_login(uid, "pc", 1)
        t0 = time.perf_counter()
        for i, peer in enumerate(peers):
            for k in range(5):
                box.send(peer if k % 2 else me, me if k % 2 else peer, f"p{k}", None, i)
            gid = f"g{i:03d}"
            box.create_group(gid, f"guild {i}", peer, [me, *peers[:10]], 500, 1)
            for k in range(5):
                box.send_to_group(peer, gid, f"g{k}", None, i)
        log(f"200 conversations made in {time.perf_counter() - t0:.1f}s")
        with box.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO messages (conversation, sender, recipient, body, sent_at, seq) "
                "SELECT 'x' || mod(n, 5000) || ' y', 'x', 'y', 'old', n, n / 5000 "
                f"FROM generate_series(1, {args.history}) AS n")
            # Other players' chat lists and groups, so the tables are not tiny.
            conn.exec_driver_sql(
                "INSERT INTO dialogs (owner, peer, last_seq, last_msgid, read_seq) "
                "SELECT 'o' || mod(n, 20000), 'q' || n, 1, n, 0 "
                "FROM generate_series(1, 100000) AS n")
            conn.exec_driver_sql(
                "INSERT INTO chat_groups (gid, name, owner, created_at) "
                "SELECT 'h' || n, 'other', 'o1', 1 FROM generate_series(1, 200000) AS n")
            conn.exec_driver_sql(
                "INSERT INTO group_members (gid, uid, role, joined_at) "
                "SELECT 'h' || mod(n, 200000), 'o' || n, 'member', 1 "
                "FROM generate_series(1, 400000) AS n")
            conn.exec_driver_sql("ANALYZE")
        log(f"{args.history} more history rows; ANALYZE done")
        listed, more = box.conversations(me, 500)
        assert len(listed) == 200 and not more, (len(listed), more)
        times = []
        for _ in range(50):
            t = time.perf_counter()
            box.conversations(me, 100)
            times.append(time.perf_counter() - t)
        compiled = CONVERSATIONS.params(uid=me, limit=101).compile(
            dialect=box.engine.dialect, compile_kwargs={"literal_binds": True})
        sql = str(compiled)
        with box.engine.connect() as conn:
            plan = [str(row[0]) for row in conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)]
            rows = conn.execute(sa.text("SELECT count(*) FROM messages")).scalar()
        print(f"-- GET /v1/conversations?limit=100 for a player with 200 conversations "
              f"({rows} messages in history)")
        print(" ".join(sql.split()))
        print("\n".join("  " + line for line in plan))
        print(f"-- mailbox.conversations(limit=100): median "
              f"{statistics.median(times) * 1000:.2f} ms over 50 calls")
        box.close()
    finally:
        drop_database(args.server, url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
