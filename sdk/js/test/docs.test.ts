// The TypeScript example of docs/sdk.md runs as written, against a real server.

import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { after, before, test } from "node:test";

import { Client } from "@im-server/client";

import { ImServer } from "./server.js";

const server = new ImServer();
const DOCS = new URL("../../../docs/sdk.md", import.meta.url);

before(async () => { await server.start(); });
after(async () => { await server.dispose(); });

test("the docs' TypeScript example runs as written", async () => {
  const snippet = /```ts\n([\s\S]*?)```/.exec(readFileSync(DOCS, "utf8"))?.[1] ?? "";
  assert.ok(snippet?.includes("new Client("), "docs/sdk.md has a TypeScript example");
  const alice = new Client(server.url, { credentials: (uid) => server.gameToken(uid) });
  await alice.login("alice");
  const stop = new AbortController();
  const shown: string[] = [];
  // What the example takes from the game: its token service, its UI, a stop signal.
  Object.assign(globalThis, {
    game: { chatToken: (uid: string) => server.gameToken(uid) },
    ui: { show: (line: string) => { shown.push(line); stop.abort(); }, notice: () => undefined },
    signal: stop.signal,
  });
  // Beside the tests, so that its import of "@im-server/client" finds this package.
  const file = new URL(`./docs-example-${process.pid}.mjs`, import.meta.url);
  writeFileSync(file, snippet.replace("https://chat.example.com", server.url));
  try {
    const example = import(file.href);
    let got: string[] = [];
    for (let tries = 0; got.length === 0 && tries < 5; tries++) {
      got = (await alice.heartbeat({ waitMs: 2000 })).messages.map((m) => `${m.from}: ${m.body}`);
    }
    assert.deepEqual(got, ["bob: gg, rematch?"]);
    await alice.send("bob", "sure, one more");
    await example;  // its loop ends when ui.show has stopped it
    assert.deepEqual(shown, ["alice: sure, one more"]);
  } finally {
    rmSync(file, { force: true });
  }
});
