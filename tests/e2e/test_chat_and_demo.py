"""``im-server chat`` driven in tmux, and ``im-server demo`` run to its end."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from im_http.client import Client
from im_http.client.demo import LocalServer

SERVER = [sys.executable, "-m", "im_http.serving.cli"]


class Tmux:
    """A private tmux server (its own socket), so nothing touches the user's sessions."""

    def __init__(self) -> None:
        self.socket = f"im-chat-test-{uuid.uuid4().hex[:8]}"
        self.sessions: list[str] = []

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        line = shlex.join(["env", *(f"{k}={v}" for k, v in env.items()), *command])
        self.run("new-session", "-d", "-s", name, "-x", "120", "-y", "40", line)
        self.sessions.append(name)

    def keys(self, name: str, *keys: str) -> None:
        self.run("send-keys", "-t", name, *keys)

    def screen(self, name: str) -> str:
        return self.run("capture-pane", "-p", "-t", name)

    def wait_for(self, name: str, shown: Callable[[str], bool], timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen(name)
            if shown(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"not shown within {timeout} s:\n{screen}")
            time.sleep(0.1)  # between two looks at the pane

    def kill(self) -> None:
        while self.sessions:
            name = self.sessions.pop()
            subprocess.run(["tmux", "-L", self.socket, "kill-session", "-t", name],
                           capture_output=True, timeout=10)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    driver = Tmux()
    try:
        yield driver
    finally:
        driver.kill()


def test_two_chat_clients_in_tmux_talk_through_a_real_server(tmux: Tmux) -> None:
    with LocalServer() as server:
        # Tokens are minted from the secret, as `im-server token` does.
        env = {"LANG": "C.UTF-8", "TERM": "xterm-256color",
               "IM_GAME_AUTH_JWT_SECRET": server.secret}
        seeder = Client(server.url)
        seeder.login("carol", server.game_token("carol"))
        for uid in ("alice", "bob"):  # a recipient must have logged in once
            with Client(server.url) as once:
                once.login(uid, server.game_token(uid))
        for i in range(70):  # more than a screen: PgUp must load older history
            seeder.send("bob", f"old {i:02d}")
        seeder.close()
        for uid, peer in (("alice", "bob"), ("bob", "carol")):
            tmux.start(uid, [*SERVER, "chat", "--as", uid, "--server", server.url,
                             "--peer", peer], env)

        tmux.wait_for("alice", lambda s: "chatting with bob" in s)
        tmux.wait_for("alice", lambda s: "● bob" in s)  # bob is online: a filled dot
        tmux.keys("alice", "gg, rematch? 🎮", "Enter")
        # Bob is reading carol's messages: alice's arrives live, as one unread.
        screen = tmux.wait_for("bob", lambda s: "alice (1)" in s)
        assert "old 69" in screen and "old 00" not in screen

        for _ in range(4):
            tmux.keys("bob", "PPage")
        tmux.wait_for("bob", lambda s: "carol: old 00" in s)
        tmux.keys("bob", "NPage", "NPage", "NPage", "NPage")
        tmux.wait_for("bob", lambda s: "old 69" in s)

        tmux.keys("bob", "/to alice", "Enter")
        tmux.wait_for("bob", lambda s: "alice: gg, rematch? 🎮" in s)
        tmux.keys("bob", "sure, 5 min", "Enter")
        tmux.wait_for("alice", lambda s: "bob: sure, 5 min" in s)

        tmux.keys("bob", "/quit", "Enter")
        tmux.wait_for("alice", lambda s: "○ bob" in s)  # logged out: offline at once
        tmux.kill()  # before the server stops: it would wait for alice's connections


def test_chat_switches_between_a_peer_and_a_group_in_tmux(tmux: Tmux) -> None:
    with LocalServer() as server:
        env = {"LANG": "C.UTF-8", "TERM": "xterm-256color",
               "IM_GAME_AUTH_JWT_SECRET": server.secret}
        for uid in ("bob", "carol"):
            with Client(server.url) as once:
                once.login(uid, server.game_token(uid))
        with Client(server.url) as alice:
            alice.login("alice", server.game_token("alice"))
            gid = alice.create_group("Guild", ["bob", "carol"]).id
        tmux.start("alice", [*SERVER, "chat", "--as", "alice", "--server", server.url,
                             "--group", gid], env)
        tmux.start("bob", [*SERVER, "chat", "--as", "bob", "--server", server.url,
                           "--peer", "carol"], env)
        tmux.wait_for("alice", lambda s: "in group Guild" in s)
        tmux.wait_for("bob", lambda s: "chatting with carol" in s)
        tmux.keys("alice", "raid at 9?", "Enter")
        tmux.wait_for("bob", lambda s: "# Guild (1)" in s)  # live, as one unread
        tmux.keys("bob", f"/to #{gid}", "Enter")
        tmux.wait_for("bob", lambda s: "alice: raid at 9?" in s)
        tmux.keys("bob", "in!", "Enter")
        tmux.wait_for("alice", lambda s: "bob: in!" in s)
        tmux.keys("bob", "/to carol", "Enter")  # and back to a private conversation
        tmux.keys("bob", "see you at the raid", "Enter")
        with Client(server.url) as carol:
            carol.login("carol", server.game_token("carol"))
            got = [m for m in carol.heartbeat().messages]
        assert [(m.sender, m.group, m.body) for m in got] == [
            ("alice", gid, "raid at 9?"), ("bob", gid, "in!"),
            ("bob", None, "see you at the raid")]
        tmux.kill()


def test_the_demo_tells_its_story_and_exits_by_itself() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IM_")}
    started = time.monotonic()
    result = subprocess.run([*SERVER, "demo"], capture_output=True, text=True, timeout=60,
                            env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 30
    story = result.stdout
    for step in ("server up at http://127.0.0.1:", "alice logs in", "bob logs in",
                 "alice sees: bob online", "bob <- alice: 'gg! rematch?'",
                 "alice <- bob: 'sure, give me 5 min'", "bob is offline",
                 "it waits in bob's inbox", "bob comes back",
                 "bob <- alice: 'see you in the lobby'",
                 "page 2: alice -> bob: 'gg! rematch?'", "the end"):
        assert step in story, f"{step!r} missing from:\n{story}"
    # What bob's phone saw was acknowledged at logout: his pc is not given it again.
    assert story.count("bob <- alice: 'gg! rematch?'") == 1
    assert "Traceback" not in result.stderr
