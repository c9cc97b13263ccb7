"""``im-server demo``: a throwaway server and two scripted players, narrated.

It shows the mailbox model end to end in about five seconds, with nothing to set
up: a real ``im-server serve`` in a subprocess (a temporary directory, a free port,
a random game secret), and two players talking through the SDK: a live long-poll,
a player going offline while messages wait in his inbox, coming back and reading
history. ``LocalServer`` is also what the SDK's tests and docs/sdk.md start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

import urllib3

from im_http.client.sdk import Client, ClientError, Inbox

__all__ = ["LocalServer", "free_port", "run"]


def free_port() -> int:
    """A TCP port free on loopback now (another process could take it: rare)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LocalServer:
    """``im-server serve`` on the embedded defaults, in a temporary directory.

    The environment's ``IM_*`` settings are left out (the user's own configuration
    must not leak into a throwaway server), and the game secret is a random one
    kept in memory, so no development secret file is written anywhere; ``env``
    adds settings (``IM_SESSION_TTL``...).

    Use it as a context manager: the server is stopped by its pid and the
    directory removed on the way out.
    """

    def __init__(self, *, env: Mapping[str, str] | None = None,
                 start_timeout: float = 30.0) -> None:
        self.secret = secrets.token_urlsafe(32)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.directory = Path(tempfile.mkdtemp(prefix="im-server-"))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("IM_")}
        self.env.update({"IM_GAME_AUTH_JWT_SECRET": self.secret,
                         "XDG_DATA_HOME": str(self.directory / "data"), **(env or {})})
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> str:
        """What the server printed so far."""
        path = self.directory / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def game_token(self, uid: str, ttl: int = 3600) -> str:
        """A game token for ``uid``, signed as the game would sign it."""
        from im_adapters.game_auth import mint_game_token

        return mint_game_token(self.secret, uid, ttl_s=ttl)

    def start(self) -> LocalServer:
        with open(self.directory / "server.log", "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "im_http.serving.cli", "serve", "--port", str(self.port)],
                cwd=self.directory, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        http = urllib3.PoolManager()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"im-server serve exited: {self.log.strip()[-2000:]}")
            try:
                if http.request("GET", self.url + "/healthz", retries=False,
                                timeout=1.0).status == 200:
                    return self
            except urllib3.exceptions.HTTPError:
                pass
            # Not up yet (the port refuses at once): wait a little, waking if it exits.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=0.05)
        self.stop()
        raise RuntimeError(f"im-server serve did not answer within {self.start_timeout} s")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and remove its directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def run(say: Callable[[str], None] | None = None) -> int:
    """Play the demo, narrating through ``say`` (stdout by default); the exit status."""
    started = time.monotonic()

    def narrate(text: str) -> None:
        line = f"[{time.monotonic() - started:5.2f}s] {text}"
        if say is None:
            print(line, flush=True)
        else:
            say(line)

    narrate("starting im-server on its embedded defaults in a temporary directory...")
    try:
        with LocalServer() as server:
            narrate(f"server up at {server.url} (SQLite file in {server.directory})")
            _story(server, narrate)
        narrate("server stopped and its directory removed; the end")
    except (ClientError, RuntimeError) as error:
        narrate(f"the demo failed: {error}")
        return 1
    return 0


def _story(server: LocalServer, narrate: Callable[[str], None]) -> None:
    def player(uid: str) -> Client:
        return Client(server.url, credentials=lambda: server.game_token(uid))

    def show(who: str, inbox: Inbox) -> None:
        for m in inbox.messages:
            narrate(f"  {who} <- {m.sender}: {m.body!r} (msgid {m.msgid})")

    alice, bob = player("alice"), player("bob")
    alice.login("alice", client_type="pc")
    narrate("alice logs in from her pc")
    bob.login("bob", client_type="ios")
    narrate("bob logs in from his phone")
    alice.add_contact("bob")
    bob.add_contact("alice")
    dots = ", ".join(f"{c.uid} {'online' if c.online else 'offline'}"
                     for c in alice.contacts())
    narrate(f"they add each other as contacts; alice sees: {dots}")

    # Bob's heartbeat is held by the server until something arrives for him.
    held: list[Inbox] = []
    poll = threading.Thread(target=lambda: held.append(bob.heartbeat(wait=5)))
    poll.start()
    narrate("bob's heartbeat waits (a long-poll, held up to 5 s)...")
    sent = alice.send("bob", "gg! rematch?")
    sent_at = time.monotonic()
    narrate(f"alice sends {sent.body!r} (stored as msgid {sent.msgid})")
    poll.join(timeout=10)
    narrate(f"bob's held heartbeat answers {1000 * (time.monotonic() - sent_at):.0f} ms "
            "after the send:")
    show("bob", held[0] if held else Inbox([], False))
    bob.send("alice", "sure, give me 5 min")
    narrate("bob replies")
    show("alice", alice.heartbeat(wait=5))

    bob.logout()
    narrate("bob logs out: he is offline now")
    online = alice.presence("bob")["bob"].online
    narrate(f"alice asks who is online: bob is {'online' if online else 'offline'}")
    for body in ("see you in the lobby", "bring the new map"):
        alice.send("bob", body)
        narrate(f"alice sends {body!r}: it waits in bob's inbox")

    bob_pc = player("bob")  # another device: the inbox is the player's, not the device's
    bob_pc.login("bob", client_type="pc")
    narrate("bob comes back, from his pc this time; his first heartbeat brings:")
    show("bob", bob_pc.heartbeat())
    bob_pc.heartbeat()  # acknowledges them: only now are they deleted from the inbox
    narrate("his next heartbeat acknowledges them; the inbox is empty again")
    narrate("bob scrolls the conversation's history, newest first, 2 per page:")
    for number, page in enumerate(bob_pc.history_pages("alice", page_size=2), 1):
        for m in page.messages:
            narrate(f"  page {number}: {m.sender} -> {m.recipient}: {m.body!r}")
    for client in (alice, bob_pc):
        client.logout()
        client.close()
    bob.close()
    narrate("both log out")
