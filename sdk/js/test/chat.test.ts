// The SDK against a real `im-server serve`: two players talking, history, people,
// safe retries, re-login, session_replaced. One server for the file.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { Blocked, Client, type Message, SessionReplaced } from "@im-server/client";

import { FaultyProxy, ImServer, until } from "./server.js";

const server = new ImServer({ IM_MAX_SESSIONS_PER_UID: "1", IM_RATE_SENDS: "off" });
let players = 0;

/** A fresh uid (so tests do not share inboxes) and a client whose credentials mint for it. */
function player(name: string, url = server.url, logins: string[] = []): [string, Client] {
  players += 1;
  const uid = `${name}${players}`;
  return [uid, new Client(url, {
    credentials: (who) => {
      logins.push(who);
      return server.gameToken(who);
    },
    backoffMs: 20,
  })];
}

/** Runs `client.messages()` in the background, collecting, until `stop()`. */
function collect(client: Client): { got: Message[]; stop: () => Promise<void>; done: Promise<void> } {
  const got: Message[] = [];
  const abort = new AbortController();
  const done = (async () => {
    for await (const message of client.messages({ signal: abort.signal })) got.push(message);
  })();
  return { got, stop: async () => { abort.abort(); await done; }, done };
}

before(async () => { await server.start(); });
after(async () => { await server.dispose(); });

describe("two players", () => {
  test("every message arrives once, in order, and is acknowledged", async () => {
    const [aliceUid, alice] = player("alice");
    const [bobUid, bob] = player("bob");
    await bob.login(bobUid, undefined, "ios");
    await alice.login(aliceUid);
    const loop = collect(bob);
    const sent: Message[] = [];
    for (let n = 1; n <= 30; n++) sent.push(await alice.send(bobUid, `gg ${n} 🎮`));
    await until(() => loop.got.length >= 30, 10_000, "30 messages");
    // The loop's next heartbeat carries the ack of the 30th.
    await until(() => bob.acked === sent.at(-1)?.msgid, 5_000, "the ack");
    await new Promise((done) => setTimeout(done, 200));
    await loop.stop();
    assert.deepEqual(loop.got.map((m) => m.body), sent.map((m) => m.body));
    assert.deepEqual(loop.got.map((m) => m.msgid), sent.map((m) => m.msgid));
    assert.equal(loop.got[0]?.from, aliceUid);
    assert.equal(new Set(sent.map((m) => m.clientMsgId)).size, 30, "one client_msg_id per send");
    // Acked: bob's next device finds his inbox empty.
    const [, other] = player("x");
    await other.login(bobUid, server.gameToken(bobUid), "pc");
    assert.deepEqual((await other.heartbeat()).messages, []);
  });

  test("history comes newest first, page by page, to the oldest", async () => {
    const [aUid, a] = player("a");
    const [bUid, b] = player("b");
    await b.login(bUid);
    await a.login(aUid);
    const ids = [];
    for (let n = 0; n < 12; n++) ids.push((await (n % 2 ? b.send(aUid, `b${n}`) : a.send(bUid, `a${n}`))).msgid);
    const pages = [];
    for await (const page of a.historyPages(bUid, { pageSize: 5 })) pages.push(page.messages.map((m) => m.msgid));
    assert.deepEqual(pages.map((p) => p.length), [5, 5, 2]);
    assert.deepEqual(pages.flat(), [...ids].reverse());
    const after = [];
    for await (const m of b.history(aUid, { after: ids[8] ?? 0 })) after.push(m.msgid);
    assert.deepEqual(after, ids.slice(9).reverse());
  });

  test("presence, contacts and blocks", async () => {
    const [aUid, a] = player("a");
    const [bUid, b] = player("b");
    await b.login(bUid, undefined, "ios");
    await a.login(aUid);
    const seen = await a.presence([bUid, "nobody-here"]);
    assert.equal(seen.get(bUid)?.online, true);
    assert.equal(seen.get(bUid)?.clientType, "ios");
    assert.equal(seen.get("nobody-here")?.online, false);
    await a.addContact(bUid);
    assert.deepEqual(await a.contacts(), [{ uid: bUid, online: true }]);
    await b.block(aUid);
    assert.deepEqual(await b.blocks(), [aUid]);
    await assert.rejects(a.send(bUid, "hello?"), (e) => e instanceof Blocked && e.code === "blocked");
    await b.unblock(aUid);
    await a.send(bUid, "hello again");
    await a.removeContact(bUid);
    assert.deepEqual(await a.contacts(), []);
    await b.logout();
    assert.equal((await a.presence([bUid])).get(bUid)?.online, false);
  });
});

test("every call the SDK makes is an operation of the server's OpenAPI document", async () => {
  const proxy = await new FaultyProxy(server.url).start();
  try {
    const [aUid, a] = player("a", proxy.url);
    const [bUid, b] = player("b");
    await b.login(bUid);
    await a.login(aUid);
    await a.send(bUid, "hi");
    await a.heartbeat({ waitMs: 100, limit: 10 });
    for await (const _ of a.history(bUid, { before: 1e12, after: 0 })) { /* read */ }
    await a.presence([bUid]);
    await a.addContact(bUid);
    await a.contacts();
    await a.removeContact(bUid);
    await a.block(bUid);
    await a.blocks();
    await a.unblock(bUid);
    await a.logout();
    const paths = object((await (await fetch(`${server.url}/openapi.json`)).json())["paths"]);
    const operations = Object.entries(paths).flatMap(([template, item]) => Object.keys(object(item))
      .map((method) => [method.toUpperCase(), new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`)] as const));
    const made = new Set(proxy.seen.map((s) => `${s.method} ${s.path}`));
    assert.equal(made.size, 12);
    for (const call of made) {
      const [method, path] = call.split(" ") as [string, string];
      assert.ok(operations.some(([m, p]) => m === method && p.test(path)), `${call} is not in /openapi.json`);
    }
  } finally {
    await proxy.close();
  }
});

function object(value: unknown): Record<string, unknown> {
  assert.ok(value !== null && typeof value === "object");
  return value as Record<string, unknown>;
}

describe("faults", () => {
  test("a send whose answer was lost is retried with its client_msg_id and stored once", async () => {
    const proxy = await new FaultyProxy(server.url).start();
    try {
      const [aUid, a] = player("a", proxy.url);
      const [bUid, b] = player("b");
      await b.login(bUid);
      await a.login(aUid);
      proxy.faults.push(["/v1/messages", "503-after"], ["/v1/messages", "drop-after"]);
      const message = await a.send(bUid, "stored once");
      const tries = proxy.requests("/v1/messages").map((s) => s.body?.["client_msg_id"]);
      assert.equal(tries.length, 3);
      assert.equal(new Set(tries).size, 1, "every try carries the same client_msg_id");
      assert.equal(message.clientMsgId, tries[0]);
      const history = [];
      for await (const m of b.history(aUid)) history.push(m);
      assert.deepEqual(history.map((m) => m.msgid), [message.msgid]);
    } finally {
      await proxy.close();
    }
  });

  test("a message delivered again after a lost ack is handed out once", async () => {
    const proxy = await new FaultyProxy(server.url).start();
    try {
      const [aUid, a] = player("a");
      const [bUid, b] = player("b", proxy.url);
      await b.login(bUid);
      await a.login(aUid);
      const first = await a.send(bUid, "one");
      assert.deepEqual((await b.heartbeat()).messages.map((m) => m.msgid), [first.msgid]);
      // The next ack never reaches the server: it answers "one" again, with "two".
      proxy.rewriteRequest = (path, body) => (path === "/v1/heartbeat" ? { ...body, ack: null } : body);
      const second = await a.send(bUid, "two");
      const again = await b.heartbeat();
      assert.equal(proxy.requests("/v1/heartbeat").at(-1)?.body?.["ack"], null);
      assert.deepEqual(again.messages.map((m) => m.body), ["two"]);
      proxy.rewriteRequest = null;
      assert.deepEqual((await b.heartbeat()).messages, []);
      assert.equal(proxy.requests("/v1/heartbeat").at(-1)?.body?.["ack"], second.msgid);
    } finally {
      await proxy.close();
    }
  });

  test("an expired session logs in again through the credentials callback", async () => {
    const logins: string[] = [];
    const [aUid, a] = player("a", server.url, logins);
    const [bUid, b] = player("b");
    await b.login(bUid);
    await a.login(aUid);
    const stale = a.session.token;
    // The session ends under the client (as a TTL would): its next call gets 401.
    assert.equal((await fetch(`${server.url}/v1/logout`, {
      method: "POST", headers: { Authorization: `Bearer ${stale}` } })).status, 204);
    const sent = await a.send(bUid, "after a re-login");
    assert.deepEqual(logins, [aUid, aUid]);
    assert.notEqual(a.session.token, stale);
    assert.equal(sent.from, aUid);
  });

  test("a logout ends the held loop without logging in again, and acks what it handed out", async () => {
    const logins: string[] = [];
    const [aUid, a] = player("a");
    const [bUid, b] = player("b", server.url, logins);
    await b.login(bUid);
    await a.login(aUid);
    const loop = collect(b);
    const sent = await a.send(bUid, "before the logout");
    await until(() => loop.got.length === 1, 5_000, "the message");
    await new Promise((done) => setTimeout(done, 100));  // the next heartbeat is held
    await b.logout();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise((_, fail) => { timer = setTimeout(() => fail(new Error("still looping")), 3000); });
    await Promise.race([loop.done, late]).finally(() => clearTimeout(timer));  // ended by itself
    assert.deepEqual(logins, [bUid], "no re-login after the logout");
    assert.equal((await a.presence([bUid])).get(bUid)?.online, false);
    const [, other] = player("x");
    await other.login(bUid, server.gameToken(bUid));
    assert.deepEqual((await other.heartbeat()).messages, [], `msgid ${sent.msgid} was acked`);
  });

  test("session_replaced stops the client and its loop, and is surfaced once", async () => {
    const replaced: SessionReplaced[] = [];
    const [uid] = player("p");
    const first = new Client(server.url, {
      credentials: () => server.gameToken(uid), onSessionReplaced: (e) => replaced.push(e),
    });
    const logins: string[] = [];
    const second = new Client(server.url, {
      credentials: () => { logins.push(uid); return server.gameToken(uid); },
    });
    await first.login(uid);
    const ended = (async () => {
      // (A replacement does not end a held heartbeat: it answers 401 when its hold ends.)
      for await (const _ of first.messages({ waitMs: 500 })) { /* nothing comes */ }
    })();
    await new Promise((done) => setTimeout(done, 100));  // the loop's heartbeat is held
    await second.login(uid);  // IM_MAX_SESSIONS_PER_UID=1: this ends the first session
    await assert.rejects(ended, SessionReplaced);
    assert.equal(replaced.length, 1);
    assert.equal(first.loggedIn, false);
    // No call goes out any more, and no re-login fights the other device.
    await assert.rejects(first.send(uid, "x"), SessionReplaced);
    assert.equal(replaced.length, 1);
    assert.equal((await second.heartbeat()).messages.length, 0);
    assert.deepEqual(logins, [uid]);
  });
});
