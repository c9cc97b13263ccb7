// 429 handling against a real server's send limit, a 429 on the loop's heartbeat,
// and the loop following `next_heartbeat_ms`.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Client, type Message, RateLimited, type RetryEvent } from "@im-server/client";

import { FaultyProxy, ImServer, until } from "./server.js";

// 3 sends at once, then one a second; heartbeats every second.
const server = new ImServer({ IM_RATE_SENDS: "3/3s", IM_HEARTBEAT_INTERVAL: "1" });
let proxy: FaultyProxy;

before(async () => {
  await server.start();
  proxy = await new FaultyProxy(server.url).start();
});
after(async () => {
  await proxy.close();
  await server.dispose();
});

function client(uid: string, options: ConstructorParameters<typeof Client>[1] = {}): Client {
  return new Client(server.url, { credentials: () => server.gameToken(uid), ...options });
}

test("sends past the rate limit wait out Retry-After and are each stored once", async () => {
  const retries: RetryEvent[] = [];
  const alice = client("rl-alice", { onRetry: (e) => retries.push(e) });
  const bob = client("rl-bob");
  await bob.login("rl-bob");
  await alice.login("rl-alice");
  const sent: Message[] = [];
  for (let n = 1; n <= 5; n++) sent.push(await alice.send("rl-bob", `burst ${n}`));
  const limited = retries.filter((e) => e.error instanceof RateLimited);
  assert.ok(limited.length >= 2, `429s retried: ${limited.length}`);
  for (const e of limited) {
    const wanted = (e.error as RateLimited).retryAfterMs ?? 0;
    assert.ok(wanted >= 1000 && e.delayMs >= wanted, `waited ${e.delayMs} ms for ${wanted}`);
  }
  const history: string[] = [];
  for await (const m of bob.history("rl-alice")) history.push(m.body);
  assert.deepEqual(history.reverse(), sent.map((m) => m.body));
});

test("a Retry-After beyond maxRetryDelayMs throws RateLimited at once, storing nothing", async () => {
  const retries: RetryEvent[] = [];
  const alice = client("rl-carol", { maxRetryDelayMs: 100, onRetry: (e) => retries.push(e) });
  const bob = client("rl-dave");
  await bob.login("rl-dave");
  await alice.login("rl-carol");
  let refused: unknown = null;
  for (let n = 1; n <= 6 && refused === null; n++) {
    await alice.send("rl-dave", `try ${n}`).catch((e: unknown) => { refused = e; });
  }
  assert.ok(refused instanceof RateLimited, String(refused));
  assert.ok((refused.retryAfterMs ?? 0) >= 1000);
  assert.equal(retries.length, 0, "no pause was taken");
  let stored = 0;
  for await (const _ of bob.history("rl-carol")) stored += 1;
  assert.equal(stored, 3, "the three sends the bucket held, and not the refused one");
});

test("the message loop backs off on a heartbeat's 429 for its Retry-After, then delivers", async () => {
  const bob = new Client(proxy.url, { credentials: () => server.gameToken("rl-erin") });
  const alice = client("rl-frank");
  await bob.login("rl-erin");
  await alice.login("rl-frank");
  const sent = await alice.send("rl-erin", "through the 429s");
  proxy.faults.push(["/v1/heartbeat", "429"], ["/v1/heartbeat", "429"]);
  const errors: RetryEvent[] = [];
  const abort = new AbortController();
  const got: Message[] = [];
  const started = Date.now();
  const done = (async () => {
    for await (const m of bob.messages({ signal: abort.signal, onError: (e) => errors.push(e) })) got.push(m);
  })();
  await until(() => got.length === 1, 10_000, "the message");
  abort.abort();
  await done;
  assert.equal(got[0]?.msgid, sent.msgid);
  assert.equal(errors.length, 2);
  assert.ok(errors.every((e) => e.error instanceof RateLimited && e.delayMs >= 1000));
  assert.ok(Date.now() - started >= 2000, "both Retry-After waits were kept");
});

test("the loop heartbeats when next_heartbeat_ms says, else at the heartbeat interval", async () => {
  const bob = new Client(proxy.url, { credentials: () => server.gameToken("rl-gina") });
  await bob.login("rl-gina");
  let told: number | null = 250;
  proxy.rewriteAnswer = (path, body) => (path === "/v1/heartbeat" && told !== null
    ? { ...body, next_heartbeat_ms: told } : body);
  const abort = new AbortController();
  const count = proxy.requests("/v1/heartbeat").length;
  const done = (async () => {
    // waitMs 0: plain polling, so the pace is the loop's own.
    for await (const _ of bob.messages({ signal: abort.signal, waitMs: 0 })) { /* none */ }
  })();
  try {
    await until(() => proxy.requests("/v1/heartbeat").length >= count + 5, 5_000, "5 heartbeats");
    told = null;
    await until(() => proxy.requests("/v1/heartbeat").length >= count + 7, 5_000, "2 more");
  } finally {
    proxy.rewriteAnswer = null;
    abort.abort();
    await done;
  }
  const at = proxy.requests("/v1/heartbeat").slice(count, count + 7).map((s) => s.at);
  const gaps = at.slice(1).map((t, i) => t - (at[i] ?? t));
  for (const gap of gaps.slice(0, 4)) assert.ok(gap >= 240 && gap < 900, `told 250 ms: ${gaps}`);
  assert.ok((gaps.at(-1) ?? 0) >= 900, `then the 1 s interval: ${gaps}`);
});
