"""The database's plans for the hot queries, printed after the scale fill.

A plan that scans instead of seeking is what makes the scale run slower than the
small one; the report carries the plans so that a reader can see which it is.
"""

from __future__ import annotations

import sqlalchemy as sa

from bench.seed import direct_engine
from bench.settings import PAGE

__all__ = ["explain"]


def explain(direct_url: str, ack_uid: str, pair: tuple[str, str]) -> str:
    """EXPLAIN the heartbeat pull (and its ack delete) and the history query."""
    from im_adapters.sql.mailbox import conversation_key
    from im_adapters.sql.statements import HISTORY, PG_ACK_AND_PULL, PULL
    from im_adapters.sql.tables import offline

    engine = direct_engine(direct_url)
    dialect = engine.dialect.name
    statements = [
        ("heartbeat pull", PULL.params(uid=ack_uid, limit=PAGE + 1), True),
        ("heartbeat ack delete", sa.delete(offline).where(
            offline.c.recipient == ack_uid, offline.c.msgid <= 1), False),
        *([("heartbeat ack + pull (PostgreSQL: one statement)", PG_ACK_AND_PULL.params(
            user=ack_uid, ack=1, limit=PAGE + 1, returned=PAGE), True)]
          if dialect == "postgresql" else []),
        ("history page", HISTORY.params(conversation=conversation_key(*pair), low=-1,
                                         high=2**63 - 1, limit=21), True),
        ("history page, scale conversation", HISTORY.params(
            conversation=conversation_key("fl-00000", "fl-00001"), low=-1, high=2**63 - 1,
            limit=21), True),
    ]
    out = []
    try:
        with engine.connect() as conn:
            for title, stmt, select in statements:
                sql = str(stmt.compile(dialect=engine.dialect,
                                       compile_kwargs={"literal_binds": True}))
                if dialect == "postgresql":
                    prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if select else "EXPLAIN "
                elif dialect == "mysql":
                    prefix = "EXPLAIN "
                else:
                    prefix = "EXPLAIN QUERY PLAN "
                result = conn.exec_driver_sql(prefix + sql)
                keys = list(result.keys())
                lines = [f"-- {title}", " ".join(sql.split())]
                if dialect == "mysql":
                    for row in result:
                        lines.append("  " + ", ".join(f"{k}={v}" for k, v in zip(keys, row,
                                                                                 strict=True)
                                                      if v is not None))
                else:
                    lines.extend("  " + str(row[-1]) for row in result)
                out.append("\n".join(lines))
            conn.rollback()
    finally:
        engine.dispose()
    return "\n\n".join(out)
