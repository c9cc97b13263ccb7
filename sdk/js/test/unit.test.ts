// The SDK's own logic with a fake `fetch` and a fake `sleep`: no server, no waiting.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ApiError, Blocked, Client, ConnectionFailed, InvalidCredentials, RateLimited, SessionExpired,
  SessionReplaced, Unavailable,
} from "@im-server/client";

type Handler = (method: string, path: string, body: Record<string, unknown> | null,
                token: string | null) => [number, unknown, Record<string, string>?] | "lost";

/** A fake server: `handler` answers each request; every request is recorded. */
function fake(handler: Handler) {
  const seen: { method: string; path: string; body: Record<string, unknown> | null }[] = [];
  const pauses: number[] = [];
  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    const path = url.replace("http://im.test", "");
    const body = typeof init.body === "string" ? JSON.parse(init.body) as Record<string, unknown> : null;
    const auth = (init.headers as Record<string, string>)["Authorization"] ?? null;
    seen.push({ method: init.method ?? "GET", path, body });
    const answer = handler(init.method ?? "GET", path, body, auth && auth.replace("Bearer ", ""));
    if (answer === "lost") throw new TypeError("fetch failed");
    const [status, data, headers] = answer;
    return new Response(data === undefined ? null : JSON.stringify(data), { status, headers: headers ?? {} });
  };
  const client = (options: ConstructorParameters<typeof Client>[1] = {}): Client =>
    new Client("http://im.test/", {
      fetch, sleep: async (ms) => { pauses.push(ms); }, random: () => 0.5, ...options,
    });
  return { seen, pauses, client };
}

const login = (token: string) => [200, {
  uid: "alice", token, session_ttl: 10, heartbeat_interval: 2, max_wait: 8,
}] as [number, unknown];
const message = (msgid: number, body = `m${msgid}`) => ({
  msgid, from: "bob", to: "alice", body, sent_at: 1_700_000_000_000, client_msg_id: null,
});
const error = (status: number, code: string, headers?: Record<string, string>) =>
  [status, { title: "t", description: `said ${code}`, code }, headers] as [number, unknown, Record<string, string>?];

test("each error code is its own class, with the Retry-After in ms and the request id", async () => {
  const cases: [number, string, new (...a: never[]) => ApiError][] = [
    [401, "session_expired", SessionExpired], [401, "session_replaced", SessionReplaced],
    [401, "invalid_credentials", InvalidCredentials], [403, "blocked", Blocked],
    [429, "rate_limited", RateLimited], [503, "auth_unavailable", Unavailable],
    [409, "client_msg_id_reused", ApiError],
  ];
  for (const [status, code, kind] of cases) {
    const server = fake(() => error(status, code, { "Retry-After": "30", "X-Request-Id": "r-1" }));
    const error_ = await server.client({ retries: 0 }).login("alice", "g").catch((e: unknown) => e);
    assert.ok(error_ instanceof kind, `${status} ${code}: ${String(error_)}`);
    assert.equal((error_ as ApiError).code, code);
    assert.equal((error_ as ApiError).retryAfterMs, 30_000);
    assert.equal((error_ as ApiError).requestId, "r-1");
  }
});

test("a send is retried with one client_msg_id, backing off, never shorter than Retry-After", async () => {
  let tries = 0;
  const server = fake((_m, path) => {
    if (path === "/v1/login") return login("t1");
    tries += 1;
    if (tries === 1) return "lost";
    if (tries === 2) return error(503, "storage_unavailable", { "Retry-After": "1" });
    if (tries === 3) return error(429, "rate_limited", { "Retry-After": "2" });
    return [200, { ...message(7), from: "alice", to: "bob", client_msg_id: "x" }];
  });
  const alice = server.client({ backoffMs: 100 });
  await alice.login("alice", "g");
  assert.equal((await alice.send("bob", "hi")).msgid, 7);
  const ids = server.seen.filter((s) => s.path === "/v1/messages").map((s) => s.body?.["client_msg_id"]);
  assert.equal(ids.length, 4);
  assert.equal(new Set(ids).size, 1);
  assert.deepEqual(server.pauses, [100, 1000, 2000]);  // 100*2^0; max(200, 1 s); max(400, 2 s)
});

test("the retries end: a lost server throws ConnectionFailed after `retries` more tries", async () => {
  const server = fake((_m, path) => (path === "/v1/login" ? login("t") : "lost"));
  const alice = server.client({ retries: 2 });
  await alice.login("alice", "g");
  await assert.rejects(alice.send("bob", "x"), ConnectionFailed);
  assert.equal(server.seen.filter((s) => s.path === "/v1/messages").length, 3);
});

test("calls that find the session expired together log in again once", async () => {
  let logins = 0;
  const server = fake((_m, path, _b, token) => {
    if (path === "/v1/login") return login(`t${++logins}`);
    if (token === "t1") return error(401, "session_expired");
    return [200, { presence: {} }];
  });
  const credentials: string[] = [];
  const alice = server.client({ credentials: (uid) => { credentials.push(uid); return "game"; } });
  await alice.login("alice");
  await Promise.all([alice.presence(["a"]), alice.presence(["b"]), alice.contacts().catch(() => null)]);
  assert.equal(logins, 2);
  assert.deepEqual(credentials, ["alice", "alice"]);
  assert.equal(alice.session.token, "t2");
});

test("without credentials an expired session throws SessionExpired", async () => {
  const server = fake((_m, path) => (path === "/v1/login" ? login("t") : error(401, "session_expired")));
  const alice = server.client();
  await alice.login("alice", "g");
  await assert.rejects(alice.presence(["a"]), SessionExpired);
});

test("heartbeats ack the highest msgid handed out and drop what was handed out before", async () => {
  const acks: unknown[] = [];
  const inboxes = [[message(3), message(5)], [message(3), message(5), message(6)], []];
  const server = fake((_m, path, body) => {
    if (path === "/v1/login") return login("t");
    acks.push(body?.["ack"]);
    return [200, { messages: inboxes.shift() ?? [], more: false }];
  });
  const alice = server.client();
  await alice.login("alice", "g");
  assert.deepEqual((await alice.heartbeat()).messages.map((m) => m.msgid), [3, 5]);
  assert.deepEqual((await alice.heartbeat()).messages.map((m) => m.msgid), [6]);
  assert.deepEqual((await alice.heartbeat()).messages, []);
  assert.deepEqual(acks, [null, 5, 6]);
  assert.equal(alice.acked, 6);
});

test("a message the caller did not take from the loop is not acked", async () => {
  const acks: unknown[] = [];
  const server = fake((_m, path, body) => {
    if (path === "/v1/login") return login("t");
    if (path === "/v1/logout") return [204, undefined];
    acks.push(body?.["ack"]);
    return [200, { messages: [message(1), message(2), message(3)], more: false }];
  });
  const alice = server.client();
  await alice.login("alice", "g");
  for await (const m of alice.messages()) if (m.msgid === 2) break;
  assert.equal(alice.acked, 2);
  await alice.logout();  // acknowledges what was handed out, first
  assert.deepEqual(acks, [null, 2]);
  assert.deepEqual(server.seen.map((s) => s.path).slice(-2), ["/v1/heartbeat", "/v1/logout"]);
});

test("a refused game token ends the loop; a 500 is waited out", async () => {
  let heartbeats = 0;
  const server = fake((_m, path) => {
    if (path === "/v1/login") return heartbeats ? error(401, "invalid_credentials") : login("t");
    heartbeats += 1;
    return heartbeats === 1 ? error(500, "internal_error") : error(401, "session_expired");
  });
  const alice = server.client({ credentials: () => "revoked" });
  await alice.login("alice", "g");
  const errors: unknown[] = [];
  await assert.rejects((async () => {
    for await (const _ of alice.messages({ onError: (e) => errors.push(e.error) })) { /* none */ }
  })(), InvalidCredentials);
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as ApiError).status, 500);
});

test("a re-login still under way when the player logs out does not bring the session back", async () => {
  let logins = 0;
  const server = fake((_m, path, _b, token) => {
    if (path === "/v1/login") return login(`t${++logins}`);
    if (path === "/v1/logout") return [204, undefined];
    if (token === "t1") return error(401, "session_expired");
    return [200, { contacts: [], next_after: null }];
  });
  let release: (token: string) => void = () => undefined;
  const asked: string[] = [];
  const alice = server.client({
    credentials: (uid) => {
      asked.push(uid);
      return asked.length === 1 ? "first" : new Promise<string>((done) => { release = done; });
    },
  });
  await alice.login("alice");
  const contacts = alice.contacts().catch((e: unknown) => e);  // expires: a re-login begins
  while (asked.length < 2) await new Promise((done) => setImmediate(done));
  await alice.logout();  // while the game is still asked for a token
  release("second");
  assert.ok((await contacts) instanceof SessionExpired);
  assert.equal(alice.loggedIn, false);
  await new Promise((done) => setImmediate(done));
  // The session the late re-login opened (t2) was ended at once.
  const ends = server.seen.filter((s) => s.path === "/v1/logout");
  assert.equal(ends.length, 2);
  assert.equal(logins, 2);
});
