"""The players the scenarios play: logged in over HTTP, their tokens in wrk's files.

Every player logs in through ``POST /v1/login`` with a minted game token, as a game
client would, so the sessions are the server's own. Each scenario gets its own group
of players; the files the Lua scripts read are written to the run's work directory.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.log import log
from bench.seed import seed_history

__all__ = ["Client", "Players", "login_all", "prepare_players"]


class Client:
    """A tiny keep-alive HTTP JSON client, one connection per thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._local = threading.local()

    def call(self, method: str, path: str, body: Any = None,
             token: str | None = None) -> tuple[int, Any]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                                  timeout=30)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self._local.conn = None
            raise
        return resp.status, json.loads(raw) if raw else None


def login_all(client: Client, secret: str, uids: list[str]) -> dict[str, str]:
    """Log every uid in (8 at a time); their session tokens by uid."""
    from im_adapters.game_auth import mint_game_token

    def one(uid: str) -> tuple[str, str]:
        status, body = client.call("POST", "/v1/login", {
            "uid": uid, "game_token": mint_game_token(secret, uid, ttl_s=7200),
            "client_type": "pc"})
        if status != 200:
            raise RuntimeError(f"login {uid}: {status} {body}")
        return uid, body["token"]

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(one, uids))


@dataclass
class Players:
    files: dict[str, Path]
    ack_uids: list[str]
    history_pairs: list[tuple[str, str]]
    ack_tokens: dict[str, str]


def prepare_players(client: Client, secret: str, workdir: Path, count: int,
                    direct_url: str) -> Players:
    """``count`` players per scenario, logged in; their files; the history conversations."""
    from im_adapters.game_auth import mint_game_token

    groups = {g: [f"{g}-{i:04d}" for i in range(count)] for g in ("hb", "ha", "sd", "hi", "lg")}
    t0 = time.monotonic()
    tokens = login_all(client, secret, [u for g in groups.values() for u in g])
    log(f"logged in {len(tokens)} players in {time.monotonic() - t0:.1f}s")
    files = {}

    def write(name: str, lines: list[str]) -> None:
        path = workdir / f"{name}.txt"
        path.write_text("\n".join(lines) + "\n")
        files[name] = path

    write("heartbeat_empty", [tokens[u] for u in groups["hb"]])
    write("send", [f"{tokens[u]} {u}" for u in groups["sd"]])
    pairs = [(groups["hi"][i], groups["hi"][i + 1]) for i in range(0, count - 1, 2)]
    write("history", [line for a, b in pairs for line in (f"{tokens[a]} {b}", f"{tokens[b]} {a}")])
    write("login", [f"{u} {mint_game_token(secret, u, ttl_s=7200)}" for u in groups["lg"]])
    seed_history(direct_url, pairs)
    ack = {u: tokens[u] for u in groups["ha"]}
    return Players(files, groups["ha"], pairs, ack)
