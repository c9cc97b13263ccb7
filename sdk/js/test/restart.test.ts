// A real server stopped and started again under two clients, on the same port and
// SQLite file (sessions are in memory, so they do not survive: the clients log in
// again by themselves): nothing is lost, nothing handed out twice.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Client, ConnectionFailed, type Message, type RetryEvent } from "@im-server/client";

import { ImServer, until } from "./server.js";

const server = new ImServer({ IM_RATE_SENDS: "off" });

before(async () => { await server.start(); });
after(async () => { await server.dispose(); });

function loop(client: Client, errors: RetryEvent[] = []): { got: Message[]; stop: () => Promise<void> } {
  const got: Message[] = [];
  const abort = new AbortController();
  const done = (async () => {
    for await (const m of client.messages({ signal: abort.signal, onError: (e) => errors.push(e) })) {
      got.push(m);
    }
  })();
  return { got, stop: async () => { abort.abort(); await done; } };
}

test("the message loop rides through a server restart: nothing lost or duplicated", async () => {
  const bobLogins: number[] = [];
  const alice = new Client(server.url, {
    credentials: (uid) => server.gameToken(uid), retries: 40, backoffMs: 50, maxRetryDelayMs: 500,
  });
  const bob = new Client(server.url, {
    credentials: (uid) => { bobLogins.push(Date.now()); return server.gameToken(uid); },
    backoffMs: 50, maxLoopDelayMs: 500,
  });
  await bob.login("bob", undefined, "pc");
  await alice.login("alice");
  const body = (n: number): string => `message ${n}`;

  // 1-5 arrive live.
  const first = loop(bob);
  for (let n = 1; n <= 5; n++) await alice.send("bob", body(n));
  await until(() => first.got.length === 5, 10_000, "messages 1-5");
  await first.stop();
  // 6-8 are pulled but not acknowledged when the server goes down.
  for (let n = 6; n <= 8; n++) await alice.send("bob", body(n));
  const pulled = (await bob.heartbeat()).messages;
  assert.deepEqual(pulled.map((m) => m.body), [body(6), body(7), body(8)]);

  await server.stop();
  const errors: RetryEvent[] = [];
  const second = loop(bob, errors);
  const whileDown = alice.send("bob", body(9));  // retried until the server is back
  await until(() => errors.length >= 2, 10_000, "the loop to notice the outage");
  await server.start();
  await whileDown;
  for (let n = 10; n <= 12; n++) await alice.send("bob", body(n));
  await until(() => second.got.length >= 4, 15_000, "messages 9-12");
  await new Promise((done) => setTimeout(done, 300));  // a duplicate would come now
  await second.stop();

  const all = [...first.got, ...pulled, ...second.got];
  assert.deepEqual(all.map((m) => m.body), Array.from({ length: 12 }, (_, i) => body(i + 1)));
  assert.equal(new Set(all.map((m) => m.msgid)).size, 12);
  assert.ok(errors.every((e) => e.error instanceof ConnectionFailed), "only lost connections");
  assert.ok(bobLogins.length >= 2, "bob logged in again after the restart");
  const history: Message[] = [];
  for await (const m of alice.history("bob")) history.push(m);
  assert.equal(history.length, 12, "each message stored once, the one sent while down too");
  // Everything was acknowledged: a new device of bob's finds the inbox empty.
  const phone = new Client(server.url);
  await phone.login("bob", server.gameToken("bob"), "ios");
  assert.deepEqual((await phone.heartbeat()).messages, []);
});
