// The im-server demo page, built on the TypeScript SDK (sdk/js, served as ./sdk/):
// the SDK logs in and back in, sends with safe retries, runs the long-poll with its
// acks and de-duplication; the page only draws. Every text from the server is
// written with textContent, never parsed as markup.

import { Client, SessionReplaced, newClientMsgId } from "./sdk/index.js";

const $ = (id) => document.getElementById(id);
const HISTORY_PAGE = 20;

const state = {
  client: null,          // the SDK's Client of the player logged in
  stop: null,            // an AbortController: ends the loops of that login
  contacts: new Map(),   // uid -> {online, unread, li, dot, unreadBadge}
  peer: null,            // the open conversation
  shown: new Set(),      // msgids shown in the open conversation
  pages: null,           // the open conversation's history, an async iterator of pages
  morePages: false,
  loadingOlder: false,
  unsent: null,          // {body, clientMsgId} of a send that failed: reused if sent again
};

const sleep = (ms, signal) => new Promise((done) => {
  const timer = setTimeout(done, ms);
  signal.addEventListener("abort", () => { clearTimeout(timer); done(); }, { once: true });
});

function setStatus(text) { $("status").textContent = text; }

// ---- logging in and out -------------------------------------------------------

// The SDK asks for a game token at each login, the first and every re-login after
// the session expired: a pasted one is used again; else the page asks the
// development server to mint one (POST /ui/dev-token).
function credentials(pasted, client) {
  return async (uid) => {
    if (pasted) return pasted;
    try {
      const answer = await client().call("POST", "/ui/dev-token",
                                             { auth: false, body: { uid }, retries: 1 });
      return answer.game_token;
    } catch (error) {
      if (error.status === 404 || error.status === 405) {
        throw new Error("this server mints no tokens: paste one from `im-server token " +
                        "UID` (or your game's login)");
      }
      throw error;
    }
  };
}

async function login(event) {
  event.preventDefault();
  const uid = $("login-uid").value.trim();
  const pasted = $("login-token").value.trim();
  $("login-error").textContent = "";
  $("login-button").disabled = true;
  const client = new Client("", {   // "": the server that serves this page
    credentials: credentials(pasted, () => client),
    onSessionReplaced: () => showLogin(
      "You logged in somewhere else, which ended this session. Log in again to chat here."),
    onRetry: (retry) => setStatus(`retrying: ${retry.error.message}`),
  });
  try {
    state.client = client;
    await client.login(uid, undefined, "web");
    $("login-token").value = "";
    showChat();
  } catch (error) {
    state.client = null;
    $("login-error").textContent = error.message;
  } finally {
    $("login-button").disabled = false;
  }
}

function showChat() {
  $("me-uid").textContent = state.client.session.uid;
  $("me").hidden = false;
  $("login-view").hidden = true;
  $("chat-view").hidden = false;
  state.contacts.clear();
  $("contacts").replaceChildren();
  closeConversation();
  state.stop = new AbortController();
  const { signal } = state.stop;
  refreshContacts();
  pollLoop(state.client, signal);
  presenceLoop(signal);
}

function showLogin(reason) {
  state.stop?.abort();
  state.stop = null;
  state.client = null;
  $("me").hidden = true;
  $("chat-view").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = reason || "";
}

async function logout() {
  const client = state.client;
  state.stop?.abort();
  try { await client?.logout(); } catch (error) { /* gone already */ }
  showLogin("");
}

// An error the SDK could not mend: the session is over.
function sessionLost(error) {
  if (error instanceof SessionReplaced) return true;  // onSessionReplaced said so
  if (error.status === 401 || error.name === "NotLoggedIn") {
    if (state.client) showLogin("Your session ended; log in again.");
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

async function refreshContacts() {
  const client = state.client;
  if (!client) return;
  try {
    const contacts = await client.contacts();
    if (client !== state.client) return;
    for (const contact of contacts) showContact(contact.uid, contact.online);
    $("contacts-error").textContent = "";
  } catch (error) {
    if (client === state.client && !sessionLost(error)) {
      $("contacts-error").textContent = error.message;
    }
  }
}

async function presenceLoop(signal) {
  const interval = Math.max(state.client.session.heartbeatIntervalMs, 2000);
  while (!signal.aborted) {
    await sleep(interval, signal);
    if (!signal.aborted) await refreshContacts();
  }
}

async function addContact(event) {
  event.preventDefault();
  const uid = $("add-contact-uid").value.trim();
  $("contacts-error").textContent = "";
  try {
    await state.client.addContact(uid);
    $("add-contact-uid").value = "";
    await refreshContacts();
    openConversation(uid);
  } catch (error) {
    if (!sessionLost(error)) $("contacts-error").textContent = error.message;
  }
}

// ---- the conversation ---------------------------------------------------------

function closeConversation() {
  state.peer = null;
  state.shown.clear();
  state.pages = null;
  state.morePages = false;
  $("messages").replaceChildren();
  $("peer-title").textContent = "Pick a contact";
  $("send-body").disabled = true;
}

function messageItem(message) {
  const li = document.createElement("li");
  li.className = message.from === state.client.session.uid ? "mine" : "theirs";
  li.dataset.msgid = String(message.msgid);
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = message.body;             // bodies are text, never markup
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = `${message.from} · ${new Date(message.sentAt).toLocaleTimeString()}`;
  li.append(body, time);
  return li;
}

function inConversation(message) {
  const me = state.client.session.uid;
  return state.peer !== null &&
    ((message.from === state.peer && message.to === me) ||
     (message.from === me && message.to === state.peer));
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
  state.pages = state.client.historyPages(uid, { pageSize: HISTORY_PAGE });
  state.morePages = true;
  await loadPage(uid);
  const list = $("messages");
  list.scrollTop = list.scrollHeight;
}

// The next older page of the open conversation (the SDK follows next_before).
async function loadPage(uid) {
  const pages = state.pages;
  try {
    const { value: page, done } = await pages.next();
    if (state.peer !== uid || state.pages !== pages) return;
    if (!done) for (const message of page.messages) place(message);
    state.morePages = !done && page.nextBefore !== null;
    setStatus(state.morePages ? "scroll up for older messages" : "");
  } catch (error) {
    if (!sessionLost(error)) setStatus(error.message);
  }
}

async function loadOlder() {
  const list = $("messages");
  if (state.loadingOlder || !state.morePages || list.scrollTop > 40) return;
  state.loadingOlder = true;
  const fromBottom = list.scrollHeight - list.scrollTop;
  try {
    await loadPage(state.peer);
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
  // The same text sent again after a failure keeps its client_msg_id: if the first
  // try was stored after all, the server answers with it instead of storing twice.
  const again = state.unsent !== null && state.unsent.body === body;
  const clientMsgId = again ? state.unsent.clientMsgId : `web-${newClientMsgId()}`;
  state.unsent = { body, clientMsgId };
  input.value = "";
  try {
    const message = await state.client.send(state.peer, body, { clientMsgId });
    state.unsent = null;
    if (inConversation(message)) place(message);
    const list = $("messages");
    list.scrollTop = list.scrollHeight;
    setStatus("");
  } catch (error) {
    if (!sessionLost(error)) {
      input.value = body;
      setStatus(`not sent: ${error.message}`);
    }
  }
}

// ---- the long-poll ------------------------------------------------------------

function received(message) {
  const list = $("messages");
  const stick = nearBottom(list);
  const me = state.client.session.uid;
  if (inConversation(message)) {
    place(message);
  } else {
    const entry = contactEntry(message.from === me ? message.to : message.from);
    entry.unread += 1;
    entry.unreadBadge.textContent = String(entry.unread);
  }
  if (stick) list.scrollTop = list.scrollHeight;
}

// The SDK's loop: each heartbeat is held until a message comes, acknowledges what
// the last one delivered, and is retried with a backoff while the server is away.
async function pollLoop(client, signal) {
  try {
    for await (const message of client.messages({
      signal, onError: (retry) => setStatus(`reconnecting: ${retry.error.message}`),
    })) {
      if (client !== state.client) return;
      received(message);
      setStatus("");
    }
  } catch (error) {
    if (client === state.client) sessionLost(error) || setStatus(error.message);
  }
}

$("login-form").addEventListener("submit", login);
$("logout").addEventListener("click", logout);
$("add-contact-form").addEventListener("submit", addContact);
$("send-form").addEventListener("submit", send);
$("messages").addEventListener("scroll", loadOlder);
