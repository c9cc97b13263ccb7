"""A Python client for the HTTP API v1 (``docs/api.md``), with the client's loop built in.

The API leaves a few duties to every client; this SDK does them so that callers
cannot get them wrong:

- ``send`` makes the ``client_msg_id`` itself and retries with the same one after a
  lost connection, a 503 or a 429, so that a retried message is stored once;
- ``heartbeat`` and ``messages`` acknowledge exactly the highest msgid they have
  handed to the caller, never more, and drop a message delivered again because an
  ack was lost (msgids increase, for one recipient, in reading order);
- on 401 ``session_expired`` the client logs in again with a fresh game token from
  the caller's ``credentials`` callback; on ``session_replaced`` it stops, since
  another login of the same player took over and fighting it would loop forever
  (and on ``session_ended``, since the game's server ended it);
- ``messages`` paces its calls by the server's ``next_heartbeat_ms`` when the server
  does not hold heartbeats, so an idle player calls less often.

HTTP goes through one urllib3 pool, so connections are kept alive. One ``Client``
may be used from two threads (a long-poll in the background, sends in the
foreground): the token is swapped under a lock and a re-login happens once.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
import urllib3.exceptions

from im_http.client.groups import Conversation, Group, GroupMember, GroupsClient

__all__ = [
    "ApiError",
    "Blocked",
    "Client",
    "ClientError",
    "ConnectionFailed",
    "Contact",
    "ContentRejected",
    "Conversation",
    "Group",
    "GroupMember",
    "HistoryPage",
    "Inbox",
    "LoginInfo",
    "Message",
    "Muted",
    "NotLoggedIn",
    "Presence",
    "RateLimited",
    "SessionEnded",
    "SessionExpired",
    "SessionReplaced",
    "Unavailable",
]


# ---------------------------------------------------------------------------- errors


class ClientError(Exception):
    """Anything this SDK raises."""


class NotLoggedIn(ClientError):
    """A call that needs a session was made before ``login``."""


class ConnectionFailed(ClientError):
    """The server could not be reached (or did not answer) after every retry."""


class ApiError(ClientError):
    """The server answered with an error: ``status`` and its stable ``code``."""

    def __init__(self, status: int, code: str, description: str, *,
                 title: str = "", retry_after: float | None = None,
                 fields: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.title = title
        self.description = description
        self.retry_after = retry_after
        self.fields = dict(fields or {})  # the error's other fields (a mute's `until`)


class SessionExpired(ApiError):
    """401 ``session_expired`` and no way to log in again (no credentials callback)."""


class SessionReplaced(ApiError):
    """401 ``session_replaced``: this player logged in elsewhere; this client stops.

    Logging in again here would only take the session back from the other login,
    which would do the same: the client refuses every call until ``login`` is
    called explicitly.
    """


class SessionEnded(SessionReplaced):
    """401 ``session_ended``: the game's server ended the session (a kick or a ban);
    the client stops as for ``SessionReplaced``."""


class Muted(ApiError):
    """403 ``muted``: the game muted this player; ``until`` (ms since the epoch, or
    ``None``: until lifted) and ``reason`` say for how long and why."""

    @property
    def until(self) -> int | None:
        until = self.fields.get("until")
        return until if isinstance(until, int) else None

    @property
    def reason(self) -> str:
        return str(self.fields.get("reason") or "")


class ContentRejected(ApiError):
    """403 ``rejected_content``: the game's moderation refused the message body."""


class RateLimited(ApiError):
    """429 ``rate_limited`` after the retries; ``retry_after`` says when to try again."""


class Unavailable(ApiError):
    """503: the server's storage or the game login did not answer, after the retries."""


class Blocked(ApiError):
    """403 ``blocked``: the recipient has blocked the sender."""


_ERRORS: dict[tuple[int, str | None], type[ApiError]] = {
    (401, "session_expired"): SessionExpired,
    (401, "session_replaced"): SessionReplaced,
    (401, "session_ended"): SessionEnded,
    (403, "muted"): Muted,
    (403, "rejected_content"): ContentRejected,
    (429, None): RateLimited,
    (503, None): Unavailable,
    (403, "blocked"): Blocked,
}


def _error(status: int, body: bytes, headers: Mapping[str, str]) -> ApiError:
    code, title, description = "http_error", "", body.decode("utf-8", "replace").strip()
    fields: dict[str, Any] = {}
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):  # the API's {title, description, code}
        code = str(parsed.get("code") or code)
        title = str(parsed.get("title") or "")
        description = str(parsed.get("description") or title)
        fields = {k: v for k, v in parsed.items() if k not in ("code", "title", "description")}
    cls = _ERRORS.get((status, code)) or _ERRORS.get((status, None)) or ApiError
    return cls(status, code, description or f"HTTP {status}", title=title,
               retry_after=_retry_after(headers), fields=fields)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:  # an HTTP date: not sent by this server; back off as usual
        return None


# ----------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Message:
    """A stored message, as the API returns it (``from``/``to`` renamed): a private
    one has a ``recipient``, a group one a ``group`` (and no recipient)."""

    msgid: int
    sender: str
    recipient: str | None
    body: str
    sent_at: int
    client_msg_id: str | None
    group: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        to, group = data.get("to"), data.get("group")
        return cls(msgid=int(data["msgid"]), sender=str(data["from"]),
                   recipient=None if to is None else str(to), body=str(data["body"]),
                   sent_at=int(data["sent_at"]), client_msg_id=data.get("client_msg_id"),
                   group=None if group is None else str(group))


@dataclass(frozen=True)
class LoginInfo:
    """What a login answered: the timings the client's loop must respect (seconds)."""

    uid: str
    token: str
    session_ttl: float
    heartbeat_interval: float
    max_wait: float


@dataclass(frozen=True)
class Inbox:
    """A heartbeat's new messages, oldest first; ``more``: heartbeat again at once;
    ``next_heartbeat``: the seconds the server asks to wait before the next heartbeat
    (0: at once; ``None`` from a server that does not say)."""

    messages: list[Message]
    more: bool
    next_heartbeat: float | None = None


@dataclass(frozen=True)
class HistoryPage:
    """One page of history, newest first; ``next_before`` is None on the last page."""

    messages: list[Message]
    next_before: int | None


@dataclass(frozen=True)
class Presence:
    """Whether a player has a live session, from what device, and when last seen (ms)."""

    online: bool
    client_type: str | None
    last_seen: int | None


@dataclass(frozen=True)
class Contact:
    uid: str
    online: bool


# ----------------------------------------------------------------------------- client

_RETRIED_STATUSES = (429, 503)


class Client(GroupsClient):
    """A session with one im-server, for one player.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8080``.
        credentials: returns a fresh game token; called to log in again when the
            session expires. Without it an expired session raises ``SessionExpired``.
        timeout: seconds to wait for an answer (a long-poll waits its ``wait`` more).
        retries: how many times a call is tried again after a lost connection, a
            503 or a 429, backing off exponentially from ``backoff`` seconds.
        max_retry_delay: the longest single pause; a ``Retry-After`` longer than
            this raises at once instead of blocking the caller.
    """

    def __init__(self, base_url: str, *, credentials: Callable[[], str] | None = None,
                 timeout: float = 10.0, retries: int = 4, backoff: float = 0.2,
                 max_retry_delay: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_retry_delay = max_retry_delay
        # Kept-alive connections: a long-poll held in the background, and the rest.
        self._http = urllib3.PoolManager(num_pools=2, maxsize=4)
        self._lock = threading.Lock()
        self._relogin_lock = threading.Lock()  # one re-login at a time
        self._logging_out = False
        self._login: LoginInfo | None = None
        self._client_type = "pc"
        self._replaced: SessionReplaced | None = None
        # The highest msgid handed to the caller: what the next heartbeat acks.
        self._delivered: int | None = None
        self._acked_sent: int | None = None  # the ack of the last heartbeat answered

    # -- session ---------------------------------------------------------------------

    @property
    def session(self) -> LoginInfo:
        """The current login (token and timings); raises ``NotLoggedIn`` before one."""
        if self._login is None:
            raise NotLoggedIn("call login() first")
        return self._login

    @property
    def uid(self) -> str:
        return self.session.uid

    @property
    def acked(self) -> int | None:
        """The msgid the next heartbeat acknowledges: the highest handed to the caller."""
        return self._delivered

    def login(self, uid: str, game_token: str | None = None,
              client_type: str = "pc") -> LoginInfo:
        """Log in as ``uid``; without ``game_token`` one is asked of ``credentials``."""
        if game_token is None:
            if self.credentials is None:
                raise ValueError("login needs a game_token or a credentials callback")
            game_token = self.credentials()
        answer = self._call("POST", "/v1/login", body={
            "uid": uid, "game_token": game_token, "client_type": client_type}, auth=False)
        info = LoginInfo(
            uid=str(answer["uid"]), token=str(answer["token"]),
            session_ttl=float(answer["session_ttl"]),
            heartbeat_interval=float(answer["heartbeat_interval"]),
            # Older servers do not long-poll: they told no max_wait.
            max_wait=float(answer.get("max_wait", 0)),
        )
        with self._lock:
            if self._login is not None and self._login.uid != info.uid:
                self._delivered = None  # another player's inbox
            self._login, self._client_type, self._replaced = info, client_type, None
        return info

    def logout(self) -> None:
        """End the session; the token is dead afterwards. Idempotent.

        What was handed out but not yet acknowledged is acknowledged first: the
        player's next device is not given it again.
        """
        if self._login is None:
            return
        # From here on no thread of this client logs in again by itself: a held
        # long-poll that the logout ends with 401 must not bring the session back.
        self._logging_out = True
        try:
            if self._delivered is not None and self._delivered != self._acked_sent:
                # Acknowledge what was handed out, or the next device is given it again.
                self._call("POST", "/v1/heartbeat", relogin=False,
                           body={"ack": self._delivered, "limit": 1})
                self._acked_sent = self._delivered
            self._call("POST", "/v1/logout", relogin=False)
        except (SessionExpired, SessionReplaced):
            pass  # already gone: the outcome wanted
        finally:
            self._login = None
            self._logging_out = False

    def close(self) -> None:
        """Close the kept-alive connections (the session is left to expire)."""
        self._http.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- messages --------------------------------------------------------------------

    def send(self, to: str, body: str, *, client_msg_id: str | None = None) -> Message:
        """Send ``body`` to ``to`` and return the stored message.

        Retried with the same ``client_msg_id`` (made here unless given), so a
        message whose answer was lost is stored once: the server answers a retry
        with the message it stored the first time.
        """
        cmid = client_msg_id or uuid.uuid4().hex
        answer = self._call("POST", "/v1/messages",
                            body={"to": to, "body": body, "client_msg_id": cmid})
        return Message.from_json(answer)

    def heartbeat(self, *, wait: float | None = None, limit: int | None = None) -> Inbox:
        """One heartbeat: acks what was handed out before, returns what is new.

        Every message returned counts as handed to the caller, so the next heartbeat
        acks it. ``wait`` holds the call until a message arrives (at most the
        server's ``max_wait``).
        """
        inbox = self._pull(wait, limit)
        if inbox.messages:
            self._delivered = inbox.messages[-1].msgid
        return inbox

    def messages(self, *, stop: threading.Event | None = None,
                 wait: float | None = None) -> Iterator[Message]:
        """Yield incoming messages as they arrive, long-polling, until ``stop`` is set.

        A message counts as handed over once yielded: breaking out of the loop
        leaves the rest of a batch unacknowledged, to be delivered again later.
        """
        stop = stop or threading.Event()
        while not stop.is_set():
            held = self.session.max_wait if wait is None else wait
            started = time.monotonic()
            inbox = self._pull(held or None, None)
            for message in inbox.messages:
                self._delivered = message.msgid
                yield message
            if not inbox.messages and not inbox.more:
                # A server that does not hold heartbeats answers at once: pace the
                # loop at the heartbeat interval instead of spinning.
                pace = (self.session.heartbeat_interval if inbox.next_heartbeat is None
                        else inbox.next_heartbeat)
                early = pace - (time.monotonic() - started)
                if early > 0:
                    stop.wait(early)

    def _pull(self, wait: float | None, limit: int | None) -> Inbox:
        body: dict[str, Any] = {"ack": self._delivered}
        if wait:
            body["wait"] = min(wait, self.session.max_wait) if self.session.max_wait else wait
        if limit is not None:
            body["limit"] = limit
        answer = self._call("POST", "/v1/heartbeat", body=body,
                            read_timeout=self.timeout + float(body.get("wait", 0)))
        self._acked_sent = body["ack"]
        fresh = [Message.from_json(m) for m in answer["messages"]]
        # A message whose ack was lost comes again; msgids grow in reading order.
        seen = self._delivered
        if seen is not None:
            fresh = [m for m in fresh if m.msgid > seen]
        pace = answer.get("next_heartbeat_ms")
        return Inbox(fresh, bool(answer["more"]),
                     pace / 1000 if isinstance(pace, int | float) and pace >= 0 else None)

    def history_pages(self, peer: str, *, before: int | None = None,
                      after: int | None = None, page_size: int = 50) -> Iterator[HistoryPage]:
        """The conversation with ``peer`` page by page, newest first, following
        ``next_before`` until the oldest message (or ``after``)."""
        while True:
            query: dict[str, Any] = {"peer": peer, "limit": page_size}
            if before is not None:
                query["before"] = before
            if after is not None:
                query["after"] = after
            answer = self._call("GET", "/v1/messages/history", query=query)
            page = HistoryPage([Message.from_json(m) for m in answer["messages"]],
                               answer["next_before"])
            yield page
            if page.next_before is None:
                return
            before = page.next_before

    def history(self, peer: str, *, before: int | None = None, after: int | None = None,
                page_size: int = 50) -> Iterator[Message]:
        """Every message with ``peer``, newest first, fetched a page at a time."""
        for page in self.history_pages(peer, before=before, after=after,
                                       page_size=page_size):
            yield from page.messages

    # -- people ----------------------------------------------------------------------

    def presence(self, *uids: str) -> dict[str, Presence]:
        answer = self._call("GET", "/v1/presence", query=[("uid", u) for u in uids])
        return {uid: Presence(bool(p["online"]), p["client_type"], p["last_seen"])
                for uid, p in answer["presence"].items()}

    def contacts(self) -> list[Contact]:
        """Every contact, with whether it is online, following the server's pages."""
        return [Contact(str(c["uid"]), bool(c["online"]))
                for c in self._every("/v1/contacts", "contacts")]

    def add_contact(self, uid: str) -> None:
        self._call("PUT", f"/v1/contacts/{quote(uid, safe='')}")

    def remove_contact(self, uid: str) -> None:
        self._call("DELETE", f"/v1/contacts/{quote(uid, safe='')}")

    def blocks(self) -> list[str]:
        """The players this one has blocked (``GET /v1/blocks``, every page)."""
        return [str(b["uid"]) for b in self._every("/v1/blocks", "blocks")]

    def _every(self, path: str, key: str) -> Iterator[dict[str, Any]]:
        """The items of a paged list, page after page (``after`` / ``next_after``)."""
        after: str | None = None
        while True:
            query = {"limit": "500"} if after is None else {"limit": "500", "after": after}
            answer = self._call("GET", path, query=query)
            yield from answer[key]
            after = answer.get("next_after")
            if not after:
                return

    def block(self, uid: str) -> None:
        """Refuse messages from ``uid`` (their sends get 403 ``blocked``)."""
        self._call("PUT", f"/v1/blocks/{quote(uid, safe='')}")

    def unblock(self, uid: str) -> None:
        self._call("DELETE", f"/v1/blocks/{quote(uid, safe='')}")

    # -- transport -------------------------------------------------------------------

    def _call(self, method: str, path: str, *, body: Any = None,
              query: Mapping[str, Any] | list[tuple[str, str]] | None = None,
              auth: bool = True, relogin: bool = True,
              read_timeout: float | None = None) -> Any:
        """One API call: retried on what is safe to retry, re-logged-in on expiry."""
        url = self.base_url + path + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        timeout = urllib3.Timeout(connect=min(self.timeout, 5.0),
                                  read=read_timeout or self.timeout)
        attempt = 0
        while True:
            headers = {"Content-Type": "application/json"} if data is not None else {}
            token = None
            if auth:
                token = self._token()
                headers["Authorization"] = f"Bearer {token}"
            try:
                response = self._http.request(method, url, body=data, headers=headers,
                                              timeout=timeout, retries=False,
                                              redirect=False)
            except urllib3.exceptions.HTTPError as lost:
                # Lost before an answer: the request may or may not have been applied;
                # every call retried here is safe to run twice (send by its
                # client_msg_id, a heartbeat acks only what was handed out).
                if attempt >= self.retries:
                    raise ConnectionFailed(f"{method} {path}: {lost}") from lost
                self._pause(attempt, None)
                attempt += 1
                continue
            status = response.status
            if status < 300:
                return json.loads(response.data) if response.data else None
            error = _error(status, response.data, response.headers)
            if isinstance(error, SessionExpired) and auth and relogin and self.credentials:
                relogin = False  # once per call: a second expiry is a real problem
                self._relogin(token)
                continue
            if isinstance(error, SessionReplaced):
                with self._lock:
                    self._replaced = error
                why = ("the game's server ended this session" if isinstance(error, SessionEnded)
                       else "this player logged in elsewhere, which ended this session")
                raise type(error)(
                    error.status, error.code,
                    f"{why}; this client stopped and will not log in again by itself "
                    f"({error.description})", title=error.title)
            if status in _RETRIED_STATUSES and attempt < self.retries and (
                    error.retry_after is None or error.retry_after <= self.max_retry_delay):
                self._pause(attempt, error.retry_after)
                attempt += 1
                continue
            raise error

    def _token(self) -> str:
        with self._lock:
            if self._replaced is not None:
                raise self._replaced
            if self._login is None:
                raise NotLoggedIn("call login() first")
            return self._login.token

    def _relogin(self, stale: str | None) -> None:
        """Log in again, unless another thread already did since ``stale`` failed."""
        with self._relogin_lock:
            with self._lock:
                current = self._login
            if current is None or current.token != stale or self._logging_out:
                return
            self.login(current.uid, None, self._client_type)

    def _pause(self, attempt: int, retry_after: float | None) -> None:
        # Jittered, so that clients that failed together do not retry together.
        delay = self.backoff * (2 ** attempt) * (0.5 + random.random())
        if retry_after is not None:
            delay = max(delay, retry_after)
        time.sleep(min(delay, self.max_retry_delay))
