"""How many heartbeats adaptive pacing saves for a mostly idle population.

A simulated population runs on the real ``ChatService`` (in-memory ports, a manual
clock): every player heartbeats when the previous answer's ``next_heartbeat_ms``
says, a share of them chat (each active player sends every ``--send-every`` seconds
to another active one), and the rest idle. The fixed-interval figure is what the same
population costs when every client heartbeats every ``heartbeat_interval``, as before
``next_heartbeat_ms``. Also printed: the longest a message waited in an inbox before
its recipient's heartbeat took it: the median, and the worst (a conversation's first
message can find its recipient at the idle pace).

    python -m bench.idle_heartbeats --players 2000 --active 0.05 --minutes 10
"""

from __future__ import annotations

import argparse
import heapq
import random

from im_core import (
    ChatService,
    InMemoryGameAuth,
    InMemoryMailbox,
    InMemorySessionStore,
    ManualClock,
    Session,
)
from im_core.limits import Limits
from im_core.pacing import HeartbeatPacing

__all__ = ["main", "simulate"]


def simulate(players: int, active_share: float, minutes: float, send_every_s: float,
             ttl_ms: int = 10_000, interval_ms: int = 2_000,
             seed: int = 7) -> dict[str, float]:
    """Run the population; return the counts and delays (ms)."""
    rng = random.Random(seed)
    clock, auth = ManualClock(), InMemoryGameAuth()
    chat = ChatService(InMemorySessionStore(), InMemoryMailbox(), auth, clock,
                       session_ttl_ms=ttl_ms, pacing=HeartbeatPacing.for_ttl(ttl_ms, interval_ms),
                       limits=Limits(sends=None, logins=None, logins_per_address=None))
    start = clock.now
    sessions: dict[str, Session] = {}
    uids = [f"p{i}" for i in range(players)]
    active = set(uids[: round(players * active_share)])
    for uid in uids:
        sessions[uid] = chat.login(uid, auth.grant(uid), "pc")
    events: list[tuple[int, int, str, str]] = []  # (at, order, kind, uid)
    order = 0
    for uid in uids:
        heapq.heappush(events, (start + rng.randrange(interval_ms), order, "beat", uid))
        order += 1
        if uid in active:
            heapq.heappush(events, (start + rng.randrange(round(send_every_s * 1000)), order,
                                    "send", uid))
            order += 1
    end = start + round(minutes * 60_000)
    beats = 0
    acked: dict[str, int | None] = dict.fromkeys(uids)
    waits: list[int] = []
    sent_at: dict[int, int] = {}
    talkers = sorted(active)
    while events and events[0][0] < end:
        at, _, kind, uid = heapq.heappop(events)
        clock.now = at
        if kind == "send":
            to = rng.choice(talkers) if len(talkers) > 1 else uid
            if to == uid and len(talkers) > 1:
                to = talkers[(talkers.index(uid) + 1) % len(talkers)]
            message, _ = chat.send(sessions[uid], to, "gg")
            sent_at[message.msgid] = at
            heapq.heappush(events, (at + round(send_every_s * 1000), order, "send", uid))
        else:
            beats += 1
            sessions[uid] = chat.authenticate(str(sessions[uid].token), "heartbeat")
            inbox = chat.heartbeat(sessions[uid], acked[uid])
            for message in inbox.messages:
                waits.append(at - sent_at.pop(message.msgid, at))
                acked[uid] = message.msgid
            heapq.heappush(events, (at + chat.next_heartbeat_ms(uid), order, "beat", uid))
        order += 1
    fixed = players * (end - start) / interval_ms
    waits.sort()
    return {"players": players, "active": len(active), "adaptive": beats, "fixed": fixed,
            "saved": 1 - beats / fixed, "messages": len(waits),
            "median_wait_ms": waits[len(waits) // 2] if waits else 0,
            "worst_wait_ms": waits[-1] if waits else 0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=2000)
    parser.add_argument("--active", type=float, default=0.05, help="share that chats")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--send-every", type=float, default=10, help="seconds")
    args = parser.parse_args(argv)
    print(f"{args.minutes:g} simulated minutes, session TTL 10 s, heartbeat 2 s active / "
          "5 s idle")
    print("| players | chatting | heartbeats, fixed 2 s | heartbeats, adaptive | saved "
          "| messages | inbox wait, median | inbox wait, worst |")
    print("|---|---|---|---|---|---|---|---|")
    for share in sorted({0.0, args.active, 0.25}):
        r = simulate(args.players, share, args.minutes, args.send_every)
        print(f"| {r['players']:,} | {r['active']:,} | {r['fixed']:,.0f} | {r['adaptive']:,} "
              f"| {r['saved']:.0%} | {r['messages']:,} | {r['median_wait_ms'] / 1000:.1f} s "
              f"| {r['worst_wait_ms'] / 1000:.1f} s |")


if __name__ == "__main__":
    main()
