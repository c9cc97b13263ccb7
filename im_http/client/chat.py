"""``im-server chat --as UID``: a terminal chat client built on the SDK (stdlib curses).

It is both a way to try the server by hand (two terminals talking through a local
server) and the SDK's own first user. Three threads: the curses loop owns the
screen; a listener long-polls with ``Client.messages``; a refresher reads the
contacts (with their online dots) every couple of seconds. The two background
threads only put events on a queue, so that nothing but the loop touches curses.

Keys: type and Enter to send; Tab / Up / Down pick the conversation among the
contacts and the groups; PgUp / PgDn scroll the conversation, loading older history
as needed; ``/to UID`` opens a conversation (adding UID to the contacts), ``/to
#GID`` opens a group's, ``/group NAME`` makes a group (its id is shown), ``/invite
UID`` adds a player to the open group, ``/leave`` leaves it, ``/add UID``, ``/del
UID``, ``/quit`` (or Ctrl-C). A conversation key is a uid or ``#`` and a group id
(no uid has a ``#``).
"""

from __future__ import annotations

import contextlib
import curses
import locale
import logging
import queue
import textwrap
import threading
from collections.abc import Callable, Iterator
from datetime import datetime

from im_http.client.sdk import (
    ApiError,
    Client,
    ClientError,
    ConnectionFailed,
    Contact,
    HistoryPage,
    Message,
    SessionReplaced,
)

__all__ = ["ChatApp", "run"]

_CONTACTS_EVERY = 2.0  # seconds between two contact (and presence) refreshes
_LEFT = 24  # width of the contacts pane
_HELP = ("Tab/Up/Down: switch  PgUp/PgDn: scroll  /to UID|#GID  /group NAME  /invite UID  "
         "/leave  /add UID  /del UID  /quit")

_Event = tuple[str, object]


class ChatApp:
    """The chat's state and its curses loop; ``run`` builds one and logs in."""

    def __init__(self, client: Client, server: str, peer: str | None = None) -> None:
        self.client = client
        self.server = server
        self.peer = peer
        self.contacts: list[Contact] = []
        self.groups: dict[str, str] = {}  # "#" + gid -> the group's name
        self.messages: dict[str, dict[int, Message]] = {}
        self.pages: dict[str, Iterator[HistoryPage] | None] = {}
        self.unread: dict[str, int] = {}
        self.scroll = 0  # lines scrolled up from the newest
        self.text = ""
        self.status = ""
        self.events: queue.Queue[_Event] = queue.Queue()
        self.stop = threading.Event()
        utf8 = locale.getpreferredencoding(False).lower().replace("-", "") == "utf8"
        self.dots = ("●", "○") if utf8 else ("*", "-")

    # -- background threads ------------------------------------------------------------

    def _listen(self) -> None:
        while not self.stop.is_set():
            try:
                for message in self.client.messages(stop=self.stop):
                    self.events.put(("message", message))
            except SessionReplaced as error:
                self.events.put(("fatal", error))
                return
            except ConnectionFailed as error:
                self.events.put(("status", f"server unreachable ({error}); retrying"))
                self.stop.wait(_CONTACTS_EVERY)
            except ClientError as error:
                if self.stop.is_set():
                    return
                self.events.put(("status", str(error)))
                self.stop.wait(_CONTACTS_EVERY)

    def _refresh_contacts(self) -> None:
        while not self.stop.is_set():
            try:
                self.events.put(("contacts", self.client.contacts()))
                self.events.put(("groups", {f"#{c.group}": c.name or c.group
                                            for c in self.client.conversations(500)
                                            if c.group}))
            except ClientError as error:
                if self.stop.is_set():
                    return
                self.events.put(("status", f"contacts: {error}"))
            self.stop.wait(_CONTACTS_EVERY)

    # -- state -----------------------------------------------------------------------

    def _open(self, peer: str) -> None:
        """Make ``peer`` the current conversation, loading its newest history page."""
        self.peer, self.scroll = peer, 0
        self.unread.pop(peer, None)
        if peer not in self.pages:
            self.pages[peer] = (
                self.client.group_history_pages(peer[1:], page_size=50)
                if peer.startswith("#") else self.client.history_pages(peer, page_size=50))
            self._older(peer)

    def _older(self, peer: str) -> bool:
        """Load one older page of history with ``peer``; False when there is none."""
        pages = self.pages.get(peer)
        if pages is None:
            return False
        page = next(pages, None)
        if page is None or page.next_before is None:
            self.pages[peer] = None
        if page is None:
            return False
        self.messages.setdefault(peer, {}).update((m.msgid, m) for m in page.messages)
        return bool(page.messages)

    def _receive(self, message: Message) -> None:
        me = self.client.uid
        if message.group is not None:
            peer = f"#{message.group}"
        else:
            peer = (message.recipient or "") if message.sender == me else message.sender
        self.messages.setdefault(peer, {})[message.msgid] = message
        if peer != self.peer:
            self.unread[peer] = self.unread.get(peer, 0) + 1
        if peer.startswith("#"):
            self.groups.setdefault(peer, message.group or peer)
        elif all(c.uid != peer for c in self.contacts):
            self.contacts.append(Contact(peer, True))
            self._safely(lambda: self.client.add_contact(peer))

    def _safely(self, action: Callable[[], object]) -> bool:
        """Run a call to the server; a failure goes to the status line, not a crash."""
        try:
            action()
        except (ClientError, ValueError) as error:
            self.status = str(error)
            return False
        return True

    def _command(self, line: str) -> bool:
        """Run what was typed; False to quit."""
        word, _, rest = line.partition(" ")
        uid = rest.strip()
        if word == "/quit":
            return False
        if word == "/to" and uid.startswith("#"):
            self.groups.setdefault(uid, uid[1:])
            self._safely(lambda: self._open(uid))
        elif word == "/group" and uid:
            made: list[str] = []
            if self._safely(lambda: made.append(self.client.create_group(uid).id)):
                self.groups[f"#{made[0]}"] = uid
                self._safely(lambda: self._open(f"#{made[0]}"))
                self.status = f"group {uid} made: #{made[0]}; /invite UID to add players"
        elif word in ("/invite", "/leave") and (self.peer or "").startswith("#"):
            gid = (self.peer or "")[1:]
            if word == "/leave" and self._safely(lambda: self.client.leave_group(gid)):
                self.groups.pop(f"#{gid}", None)
                self.peer, self.status = None, f"you left #{gid}"
            elif word == "/invite" and uid and self._safely(
                    lambda: self.client.add_members(gid, uid)):
                self.status = f"{uid} is in #{gid}"
        elif word in ("/to", "/add") and uid:
            if self._safely(lambda: self.client.add_contact(uid)):
                if all(c.uid != uid for c in self.contacts):
                    self.contacts.append(Contact(uid, False))
                if word == "/to":
                    self._safely(lambda: self._open(uid))
                self.status = f"{uid} is in your contacts"
        elif word == "/del" and uid:
            if self._safely(lambda: self.client.remove_contact(uid)):
                self.contacts = [c for c in self.contacts if c.uid != uid]
                self.status = f"{uid} left your contacts"
        elif word.startswith("/"):
            self.status = f"unknown command {word}; {_HELP}"
        elif self.peer is None:
            self.status = "pick a peer first: /to UID"
        else:
            peer = self.peer
            send: Callable[[], Message] = (
                (lambda: self.client.send_to_group(peer[1:], line)) if peer.startswith("#")
                else (lambda: self.client.send(peer, line)))
            if self._safely(lambda: self._receive(send())):
                self.scroll = 0
        return True

    def _cycle(self, step: int) -> None:
        uids = [c.uid for c in self.contacts] + list(self.groups)
        if not uids:
            return
        at = uids.index(self.peer) if self.peer in uids else -step
        self._safely(lambda: self._open(uids[(at + step) % len(uids)]))

    # -- screen ----------------------------------------------------------------------

    def _lines(self, width: int) -> list[str]:
        shown = sorted((self.messages.get(self.peer or "") or {}).values(),
                       key=lambda m: m.msgid)
        lines: list[str] = []
        for m in shown:
            when = datetime.fromtimestamp(m.sent_at / 1000).strftime("%H:%M")
            text = f"{when} {m.sender}: {m.body}"
            lines.extend(textwrap.wrap(text, width, subsequent_indent="      ") or [""])
        return lines

    def _draw(self, screen: curses.window) -> None:
        height, width = screen.getmaxyx()
        screen.erase()
        put = _writer(screen, height, width)
        put(0, 0, " Contacts", curses.A_BOLD)
        for row, contact in enumerate(self.contacts[: height - 3], start=1):
            dot = self.dots[0] if contact.online else self.dots[1]
            unread = f" ({self.unread[contact.uid]})" if self.unread.get(contact.uid) else ""
            style = curses.A_REVERSE if contact.uid == self.peer else curses.A_NORMAL
            put(row, 0, f" {dot} {contact.uid}{unread}"[: _LEFT - 1], style)
        for row, key in enumerate(list(self.groups)[: max(0, height - 3 - len(self.contacts))],
                                  start=1 + len(self.contacts)):
            unread = f" ({self.unread[key]})" if self.unread.get(key) else ""
            style = curses.A_REVERSE if key == self.peer else curses.A_NORMAL
            put(row, 0, f" # {self.groups[key]}{unread}"[: _LEFT - 1], style)
        for row in range(height - 1):
            put(row, _LEFT - 1, "|")
        right = width - _LEFT
        title = f"{self.client.uid} @ {self.server}"
        if self.peer and self.peer.startswith("#"):
            title += f"  in group {self.groups.get(self.peer, self.peer)} ({self.peer})"
        else:
            title += f"  chatting with {self.peer}" if self.peer else "  (/to UID to start)"
        put(0, _LEFT, title[:right], curses.A_BOLD)
        area = height - 3
        lines = self._lines(max(10, right - 1))
        self.scroll = max(0, min(self.scroll, len(lines) - area))
        end = len(lines) - self.scroll
        for row, line in enumerate(lines[max(0, end - area): end], start=1):
            put(row, _LEFT, line)
        put(height - 2, _LEFT, (self.status or _HELP)[:right], curses.A_DIM)
        prompt = f"> {self.text}"[-(right - 1):]
        put(height - 1, _LEFT, prompt)
        screen.move(height - 1, min(width - 1, _LEFT + len(prompt)))
        screen.refresh()

    def _key(self, key: int | str, screen: curses.window) -> bool:
        height = screen.getmaxyx()[0]
        if key in ("\n", "\r", curses.KEY_ENTER):
            line, self.text = self.text.strip(), ""
            if line:
                self.status = ""
                return self._command(line)
        elif key in (curses.KEY_BACKSPACE, "\x7f", "\x08"):
            self.text = self.text[:-1]
        elif key in ("\t", curses.KEY_DOWN):
            self._cycle(1)
        elif key in (curses.KEY_BTAB, curses.KEY_UP):
            self._cycle(-1)
        elif key == curses.KEY_PPAGE and self.peer:
            self.scroll += height - 4
            # Scrolled past the oldest message loaded: fetch the next older page.
            if self.scroll > len(self._lines(screen.getmaxyx()[1] - _LEFT - 1)) - height + 3:
                self._safely(lambda: self._older(self.peer or ""))
        elif key == curses.KEY_NPAGE:
            self.scroll = max(0, self.scroll - (height - 4))
        elif isinstance(key, str) and key.isprintable():
            self.text += key
        return True

    def loop(self, screen: curses.window) -> None:
        curses.use_default_colors()
        screen.timeout(100)  # wake to show what the background threads brought
        screen.keypad(True)
        for worker in (self._listen, self._refresh_contacts):
            threading.Thread(target=worker, daemon=True).start()
        if self.peer:
            self._command(f"/to {self.peer}")
        while True:
            self._draw(screen)
            try:
                key = screen.get_wch()
            except curses.error:
                key = ""  # the timeout: nothing typed
            if key and not self._key(key, screen):
                return
            while not self.events.empty():
                kind, value = self.events.get_nowait()
                if kind == "message" and isinstance(value, Message):
                    self._receive(value)
                elif kind == "groups" and isinstance(value, dict):
                    # The server's names win; the open group stays (just made, say).
                    self.groups = {**({self.peer: self.groups[self.peer]}
                                      if self.peer in self.groups else {}), **value}
                elif kind == "contacts" and isinstance(value, list):
                    known = {c.uid for c in value}
                    self.contacts = value + [c for c in self.contacts if c.uid not in known]
                elif kind == "fatal" and isinstance(value, BaseException):
                    raise value
                else:
                    self.status = str(value)


def _writer(screen: curses.window, height: int, width: int) -> Callable[..., None]:
    """A clipped addstr: drawing never fails on a small or resized terminal."""
    def put(row: int, col: int, text: str, style: int = curses.A_NORMAL) -> None:
        if 0 <= row < height and col < width:
            # The last cell, or a character the terminal cannot show, raises: skip it.
            with contextlib.suppress(curses.error):
                screen.addnstr(row, col, text, max(0, width - col - 1), style)
    return put


def run(client: Client, *, uid: str, game_token: str, server: str,
        peer: str | None = None, client_type: str = "pc") -> int:
    """Log in and run the chat until ``/quit`` or Ctrl-C; the exit status."""
    locale.setlocale(locale.LC_ALL, "")  # so that curses writes UTF-8 (the dots, emoji)
    logging.disable(logging.WARNING)  # a log line on stderr would tear the screen
    client.login(uid, game_token, client_type)
    app = ChatApp(client, server, peer)
    try:
        curses.wrapper(app.loop)
    except KeyboardInterrupt:
        pass
    except SessionReplaced as error:
        print(f"im-server chat: {error}")
        return 1
    except ApiError as error:
        print(f"im-server chat: {error}")
        return 1
    finally:
        app.stop.set()
        with contextlib.suppress(ClientError):  # leaving anyway: it expires by itself
            client.logout()
        client.close()
    return 0
