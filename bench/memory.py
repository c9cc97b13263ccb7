"""What one session costs in memory: in ``InMemorySessionStore`` and in Redis.

The in-memory probe runs in a fresh process (``python -m bench.memory``) so that
nothing else the benchmark allocated is counted; it prints one JSON line.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from typing import Any

from bench.settings import (
    MEMORY_SESSIONS,
    PY,
    REDIS_MEMORY_SESSIONS,
    REDIS_SERVER,
    ROOT,
)

__all__ = ["measure_memory", "measure_redis_memory", "memory_probe"]


def memory_probe() -> None:
    """Run in a fresh process: bytes per session in ``InMemorySessionStore``."""
    import gc
    import tracemalloc

    from im_core.memory import InMemorySessionStore, ManualClock
    from im_core.models import Session, SessionToken
    from im_core.service import new_session_secret

    clock = ManualClock()
    ttl = 10_000
    store = InMemorySessionStore()
    # Uids and secrets as the server sees them: strings that arrive with each request.
    uids = [f"player-{i:07d}" for i in range(MEMORY_SESSIONS)]
    secrets_ = [new_session_secret() for _ in range(MEMORY_SESSIONS)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for uid, secret in zip(uids, secrets_, strict=True):
        store.create(Session(SessionToken(uid, secret), "pc", "login", clock.now_ms()), ttl)
    gc.collect()
    live = tracemalloc.get_traced_memory()[0]
    # The strings are counted too: they stay alive only because the store holds them.
    strings = sum(sys.getsizeof(u) + sys.getsizeof(s) for u, s in zip(uids, secrets_,
                                                                      strict=True))
    clock.advance(ttl + 1)
    store.create(Session(SessionToken("late", new_session_secret()), "pc", "login",
                         clock.now_ms()), ttl)  # create() sweeps what has expired
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    # A second wave of as many sessions, swept the same way: if the memory left after
    # the first sweep is the tables' high-water mark (reused), this adds nothing.
    for uid, secret in zip(uids, secrets_, strict=True):
        store.create(Session(SessionToken(uid, secret + "x"), "pc", "login", clock.now_ms()),
                     ttl)
    clock.advance(ttl + 1)
    store.create(Session(SessionToken("late2", new_session_secret()), "pc", "login",
                         clock.now_ms()), ttl)
    gc.collect()
    after_second = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(json.dumps({
        "sessions": MEMORY_SESSIONS,
        "structure_bytes_per_session": (live - before) / MEMORY_SESSIONS,
        "bytes_per_session": (live - before + strings) / MEMORY_SESSIONS,
        "live_after_sweep": len(store),
        "bytes_left_after_sweep": after - before,
        "bytes_left_after_second_wave": after_second - before,
    }))


def measure_memory() -> dict[str, Any]:
    """``memory_probe``'s figures, from a fresh process."""
    done = subprocess.run([PY, "-m", "bench.memory"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def measure_redis_memory() -> dict[str, Any]:
    """Bytes of Redis ``used_memory`` per session created by ``RedisSessionStore``."""
    import redis

    from bench.stores import claim_redis_db, release_redis_db
    from im_adapters.redis_sessions import RedisSessionStore
    from im_core.models import Session, SessionToken
    from im_core.service import new_session_secret

    namespace = f"imbench-mem-{secrets.token_hex(3)}"
    db = claim_redis_db()
    client = redis.Redis.from_url(f"{REDIS_SERVER}/{db}", socket_timeout=5)
    store = RedisSessionStore(client, namespace)
    try:
        before = int(client.info("memory")["used_memory"])
        now = time.time_ns() // 1_000_000
        for i in range(REDIS_MEMORY_SESSIONS):
            store.create(Session(SessionToken(f"player-{i:07d}", new_session_secret()), "pc",
                                 "login", now), 600_000)
        after = int(client.info("memory")["used_memory"])
        return {"sessions": REDIS_MEMORY_SESSIONS,
                "bytes_per_session": (after - before) / REDIS_MEMORY_SESSIONS}
    finally:
        batch = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        for start in range(0, len(batch), 1000):
            client.delete(*batch[start:start + 1000])
        client.close()
        release_redis_db(db)


if __name__ == "__main__":
    memory_probe()
