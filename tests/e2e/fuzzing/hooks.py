"""Schemathesis hooks: every generated request carries a live session of its own.

Loaded by ``schemathesis`` through ``SCHEMATHESIS_HOOKS=tests.e2e.fuzzing.hooks``.
The server under test is ``IM_FUZZ_BASE_URL``; its game tokens are signed with
``IM_FUZZ_JWT_SECRET``. A fresh login per request (no caching) means a fuzzed
``POST /v1/logout`` ends only its own session, so every operation, logout included,
is reached authenticated, as the player ``fuzz``.

Every other generated uid that is valid is replaced by ``fuzz-peer``, a player who exists, so the
fuzzing reaches the use cases behind ``404 unknown_user`` too: sends, history pages,
contacts. A group's lists of players (``members``, ``uids``) get ``fuzz-peer`` for every
valid uid. Invalid uids are left alone, so negative cases stay negative.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import urllib.request
from typing import Any

import schemathesis

from im_adapters.game_auth import mint_game_token

BASE_URL = os.environ.get("IM_FUZZ_BASE_URL", "http://127.0.0.1:8080")
SECRET = os.environ.get("IM_FUZZ_JWT_SECRET", "")
UID = "fuzz"
PEER = "fuzz-peer"
VALID_UID = re.compile(r"[A-Za-z0-9_.:@-]{1,64}")
_peer_exists = False
_turns = itertools.count()


def _login(uid: str) -> str:
    body = json.dumps({"uid": uid, "game_token": mint_game_token(SECRET, uid, ttl_s=3600),
                       "client_type": "pc"}).encode()
    request = urllib.request.Request(f"{BASE_URL}/v1/login", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        token: str = json.loads(response.read())["token"]
        return token


@schemathesis.auth(refresh_interval=None)
class FreshSession:
    def get(self, case: Any, context: Any) -> str:
        return _login(UID)

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def _existing(value: Any) -> Any:
    global _peer_exists
    if isinstance(value, str) and VALID_UID.fullmatch(value) and next(_turns) % 2 == 0:
        if not _peer_exists:
            _login(PEER)
            _peer_exists = True
        return PEER
    return value


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    if isinstance(case.path_parameters, dict) and "uid" in case.path_parameters:
        case.path_parameters["uid"] = _existing(case.path_parameters["uid"])
    if isinstance(case.query, dict) and "peer" in case.query:
        case.query["peer"] = _existing(case.query["peer"])
    if isinstance(case.body, dict) and "to" in case.body:
        case.body["to"] = _existing(case.body["to"])
    for field in ("uids", "members"):  # a group's players: every valid one exists
        if isinstance(case.body, dict) and isinstance(case.body.get(field), list):
            case.body[field] = [_known(uid) for uid in case.body[field]]
    return case


def _known(value: Any) -> Any:
    global _peer_exists
    if isinstance(value, str) and VALID_UID.fullmatch(value):
        if not _peer_exists:
            _login(PEER)
            _peer_exists = True
        return PEER
    return value
