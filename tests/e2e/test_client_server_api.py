"""The SDK and a real ``im-server serve`` against the server API: what a game sees."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
import urllib3

from im_http.client import Client, Muted, SessionEnded
from im_http.client.demo import LocalServer

KEY = "sdk-test-server-key-0123456789abcdef0123"
WRONG = "sdk-test-wrong-key-0123456789abcdef01234"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(env={"IM_SERVER_API_KEYS": KEY, "IM_LOG_LEVEL": "DEBUG"}) as served:
        yield served


def server_call(server: LocalServer, method: str, path: str, body: object = None,
                key: str = KEY) -> tuple[int, dict[str, object]]:
    answer = urllib3.request(method, server.url + path, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        body=None if body is None else json.dumps(body).encode(), timeout=5)
    return answer.status, json.loads(answer.data)


def player(server: LocalServer, uid: str, asked: list[str] | None = None) -> Client:
    def credentials() -> str:
        if asked is not None:
            asked.append(uid)
        return server.game_token(uid)

    client = Client(server.url, credentials=credentials, backoff=0.01)
    client.login(uid)
    return client


def test_a_muted_player_s_sdk_raises_muted_with_until_and_reason(server: LocalServer) -> None:
    alice, bob = player(server, "sdk-alice"), player(server, "sdk-bob")
    until = int(time.time() * 1000) + 60_000
    status, _ = server_call(server, "PUT", "/v1/server/players/sdk-alice/mutes/global",
                            {"until": until, "reason": "spam"})
    assert status == 200
    with pytest.raises(Muted) as raised:
        alice.send("sdk-bob", "buy gold")
    assert (raised.value.until, raised.value.reason) == (until, "spam")
    assert bob.heartbeat().messages == []
    server_call(server, "DELETE", "/v1/server/players/sdk-alice/mutes/global")
    assert alice.send("sdk-bob", "sorry").body == "sorry"
    for client in (alice, bob):
        client.close()


def test_a_kicked_player_s_long_poll_ends_with_session_ended_and_no_relogin(
    server: LocalServer,
) -> None:
    asked: list[str] = []
    carol = player(server, "sdk-carol", asked)
    errors: list[BaseException] = []

    def listen() -> None:
        try:
            for _ in carol.messages():
                pass
        except SessionEnded as error:
            errors.append(error)

    thread = threading.Thread(target=listen)
    thread.start()
    time.sleep(0.5)  # the long-poll is held
    started = time.monotonic()
    assert server_call(server, "DELETE", "/v1/server/players/sdk-carol/sessions") == (
        200, {"ended": 1})
    thread.join(5)
    assert time.monotonic() - started < 2
    assert errors and "game's server ended" in str(errors[0])
    assert asked == ["sdk-carol"]  # the first login only: the client stopped
    carol.close()


def test_the_sdk_reads_the_pacing_of_each_heartbeat(server: LocalServer) -> None:
    dave = player(server, "sdk-dave")
    assert dave.heartbeat().next_heartbeat == 5.0  # idle: half the 10 s TTL
    dave.close()


def test_the_served_log_never_holds_a_key(server: LocalServer) -> None:
    assert server_call(server, "GET", "/v1/server/players/x/mutes")[0] == 200
    assert server_call(server, "GET", "/v1/server/players/x/mutes", key=WRONG)[0] == 401
    time.sleep(0.2)
    log = server.log
    assert "GET /v1/server/players/{uid}/mutes 200" in log  # the access log saw both calls
    assert "GET - 401" in log
    assert KEY not in log and WRONG not in log


def test_the_sdk_loop_follows_the_servers_pacing_when_heartbeats_are_not_held() -> None:
    with LocalServer(env={"IM_MAX_WAIT": "0"}) as polling:
        erin = player(polling, "sdk-erin")
        stop = threading.Event()
        thread = threading.Thread(target=lambda: list(erin.messages(stop=stop)))
        thread.start()
        time.sleep(7.0)  # idle: paced at 5 s, so 2 heartbeats (at 0 s and 5 s), not 4
        stop.set()
        thread.join(10)
        erin.close()
        beats = polling.log.count("POST /v1/heartbeat 200")
    assert beats == 2, beats
