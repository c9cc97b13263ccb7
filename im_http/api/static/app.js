// The im-server demo page: a plain client of the public HTTP API (docs/api.md).
// Every text from the server is written with textContent, never parsed as markup.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const HISTORY_PAGE = 20;

  const state = {
    token: null,
    uid: null,
    heartbeatInterval: 2,
    maxWait: 8,
    ack: null,             // highest msgid received, acked by the next heartbeat
    generation: 0,         // bumped at each login/logout: stops the loops of the last one
    contacts: new Map(),   // uid -> {online, unread, li}
    peer: null,            // the open conversation
    shown: new Set(),      // msgids shown in the open conversation
    nextBefore: null,      // the next older history page, null: no more
    loadingOlder: false,
  };

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.description) || `HTTP ${status}`);
      this.status = status;
      this.code = body && body.code;
    }
  }

  async function api(method, path, body, { timeoutMs = 10000 } = {}) {
    const headers = {};
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const response = await fetch(path, {
        method, headers, signal: abort.signal,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      const data = text ? JSON.parse(text) : null;
      if (!response.ok) throw new ApiError(response.status, data);
      return data;
    } finally {
      clearTimeout(timer);
    }
  }

  const sleep = (seconds) => new Promise((done) => setTimeout(done, seconds * 1000));

  function setStatus(text) { $("status").textContent = text; }

  // ---- logging in and out -------------------------------------------------------

  async function login(event) {
    event.preventDefault();
    const uid = $("login-uid").value.trim();
    let gameToken = $("login-token").value.trim();
    $("login-error").textContent = "";
    $("login-button").disabled = true;
    try {
      if (!gameToken) {
        try {
          gameToken = (await api("POST", "/ui/dev-token", { uid })).game_token;
        } catch (error) {
          if (error.status === 404 || error.status === 405) {
            throw new Error("this server mints no tokens: paste one from `im-server token " +
                            "UID` (or your game's login)");
          }
          throw error;
        }
      }
      const answer = await api("POST", "/v1/login",
                               { uid, game_token: gameToken, client_type: "web" });
      Object.assign(state, {
        token: answer.token, uid: answer.uid, ack: null,
        heartbeatInterval: answer.heartbeat_interval, maxWait: answer.max_wait,
      });
      state.generation += 1;
      $("login-token").value = "";
      showChat();
    } catch (error) {
      $("login-error").textContent = error.message;
    } finally {
      $("login-button").disabled = false;
    }
  }

  function showChat() {
    $("me-uid").textContent = state.uid;
    $("me").hidden = false;
    $("login-view").hidden = true;
    $("chat-view").hidden = false;
    state.contacts.clear();
    $("contacts").replaceChildren();
    closeConversation();
    const generation = state.generation;
    refreshContacts(generation);
    pollLoop(generation);
    presenceLoop(generation);
  }

  function showLogin(reason) {
    state.generation += 1;
    state.token = null;
    $("me").hidden = true;
    $("chat-view").hidden = true;
    $("login-view").hidden = false;
    $("login-error").textContent = reason || "";
  }

  async function logout() {
    try { await api("POST", "/v1/logout"); } catch (error) { /* gone already */ }
    showLogin("");
  }

  function sessionLost(error) {
    if (error.status === 401) {
      showLogin("Your session ended; log in again.");
      return true;
    }
    return false;
  }

  // ---- contacts -----------------------------------------------------------------

  function contactEntry(uid) {
    let entry = state.contacts.get(uid);
    if (entry) return entry;
    const li = document.createElement("li");
    const dot = document.createElement("span");
    dot.className = "dot";
    const name = document.createElement("span");
    name.className = "uid";
    name.textContent = uid;
    const unread = document.createElement("span");
    unread.className = "unread";
    li.append(dot, name, unread);
    li.dataset.uid = uid;
    li.addEventListener("click", () => openConversation(uid));
    entry = { online: false, unread: 0, li, dot, unreadBadge: unread };
    state.contacts.set(uid, entry);
    const list = $("contacts");
    const after = [...list.children].find((other) => other.dataset.uid > uid);
    list.insertBefore(li, after || null);
    return entry;
  }

  function showContact(uid, online) {
    const entry = contactEntry(uid);
    entry.online = online;
    entry.dot.classList.toggle("online", online);
    entry.dot.title = online ? "online" : "offline";
    entry.li.classList.toggle("online", online);
  }

  async function refreshContacts(generation) {
    try {
      const answer = await api("GET", "/v1/contacts");
      if (generation !== state.generation) return;
      for (const contact of answer.contacts) showContact(contact.uid, contact.online);
      $("contacts-error").textContent = "";
    } catch (error) {
      if (generation === state.generation && !sessionLost(error)) {
        $("contacts-error").textContent = error.message;
      }
    }
  }

  async function presenceLoop(generation) {
    while (generation === state.generation) {
      await sleep(Math.max(state.heartbeatInterval, 2));
      if (generation !== state.generation) return;
      await refreshContacts(generation);
    }
  }

  async function addContact(event) {
    event.preventDefault();
    const uid = $("add-contact-uid").value.trim();
    $("contacts-error").textContent = "";
    try {
      await api("PUT", `/v1/contacts/${encodeURIComponent(uid)}`);
      $("add-contact-uid").value = "";
      await refreshContacts(state.generation);
      openConversation(uid);
    } catch (error) {
      if (!sessionLost(error)) $("contacts-error").textContent = error.message;
    }
  }

  // ---- the conversation ---------------------------------------------------------

  function closeConversation() {
    state.peer = null;
    state.shown.clear();
    state.nextBefore = null;
    $("messages").replaceChildren();
    $("peer-title").textContent = "Pick a contact";
    $("send-body").disabled = true;
  }

  function messageItem(message) {
    const li = document.createElement("li");
    li.className = message.from === state.uid ? "mine" : "theirs";
    li.dataset.msgid = String(message.msgid);
    const body = document.createElement("span");
    body.className = "body";
    body.textContent = message.body;             // bodies are text, never markup
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = `${message.from} · ${new Date(message.sent_at).toLocaleTimeString()}`;
    li.append(body, time);
    return li;
  }

  function inConversation(message) {
    return state.peer !== null &&
      ((message.from === state.peer && message.to === state.uid) ||
       (message.from === state.uid && message.to === state.peer));
  }

  // Messages arrive newest first (history) or in any order (live): keep the list
  // ordered by msgid, which is the order the recipient reads in.
  function place(message) {
    if (state.shown.has(message.msgid)) return;
    state.shown.add(message.msgid);
    const list = $("messages");
    const item = messageItem(message);
    const later = [...list.children].find((li) => Number(li.dataset.msgid) > message.msgid);
    list.insertBefore(item, later || null);
  }

  function nearBottom(list) {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  }

  async function openConversation(uid) {
    closeConversation();
    state.peer = uid;
    const entry = contactEntry(uid);
    entry.unread = 0;
    entry.unreadBadge.textContent = "";
    for (const li of $("contacts").children) li.classList.toggle("selected", li === entry.li);
    $("peer-title").textContent = uid;
    $("send-body").disabled = false;
    $("send-body").focus();
    await loadHistory(uid, null);
    const list = $("messages");
    list.scrollTop = list.scrollHeight;
  }

  async function loadHistory(uid, before) {
    const query = new URLSearchParams({ peer: uid, limit: String(HISTORY_PAGE) });
    if (before !== null) query.set("before", String(before));
    try {
      const page = await api("GET", `/v1/messages/history?${query}`);
      if (state.peer !== uid) return;
      for (const message of page.messages) place(message);
      state.nextBefore = page.next_before;
      setStatus(page.next_before === null ? "" : "scroll up for older messages");
    } catch (error) {
      if (!sessionLost(error)) setStatus(error.message);
    }
  }

  async function loadOlder() {
    const list = $("messages");
    if (state.loadingOlder || state.nextBefore === null || list.scrollTop > 40) return;
    state.loadingOlder = true;
    const fromBottom = list.scrollHeight - list.scrollTop;
    try {
      await loadHistory(state.peer, state.nextBefore);
      list.scrollTop = list.scrollHeight - fromBottom;   // keep the reader's place
    } finally {
      state.loadingOlder = false;
    }
  }

  async function send(event) {
    event.preventDefault();
    const input = $("send-body");
    const body = input.value;
    if (!body.trim() || state.peer === null) return;
    const clientMsgId = `web-${crypto.randomUUID()}`;
    input.value = "";
    try {
      const message = await api("POST", "/v1/messages",
                                 { to: state.peer, body, client_msg_id: clientMsgId });
      if (inConversation(message)) place(message);
      const list = $("messages");
      list.scrollTop = list.scrollHeight;
      setStatus("");
    } catch (error) {
      if (!sessionLost(error)) {
        input.value = body;                      // nothing was stored: try again
        setStatus(`not sent: ${error.message}`);
      }
    }
  }

  // ---- the long-poll ------------------------------------------------------------

  function received(messages) {
    const list = $("messages");
    const stick = nearBottom(list);
    for (const message of messages) {
      state.ack = Math.max(state.ack ?? 0, message.msgid);
      const other = message.from === state.uid ? message.to : message.from;
      if (inConversation(message)) {
        place(message);
      } else {
        const entry = contactEntry(other);
        entry.unread += 1;
        entry.unreadBadge.textContent = String(entry.unread);
      }
    }
    if (stick) list.scrollTop = list.scrollHeight;
  }

  // The heartbeat is the pull: held up to max_wait until a message comes, and its
  // ack deletes from the inbox what the previous answers delivered.
  async function pollLoop(generation) {
    while (generation === state.generation) {
      try {
        const answer = await api("POST", "/v1/heartbeat",
                                 { ack: state.ack, wait: state.maxWait },
                                 { timeoutMs: (state.maxWait + 10) * 1000 });
        if (generation !== state.generation) return;
        received(answer.messages);
        setStatus("");
      } catch (error) {
        if (generation !== state.generation || sessionLost(error)) return;
        setStatus(`reconnecting: ${error.message}`);
        await sleep(state.heartbeatInterval);
      }
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("add-contact-form").addEventListener("submit", addContact);
    $("send-form").addEventListener("submit", send);
    $("messages").addEventListener("scroll", loadOlder);
  });
})();
