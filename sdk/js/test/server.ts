// A real `im-server serve` for the tests, started and stopped by them (by its pid),
// and FaultyProxy, a small HTTP proxy that makes the faults a healthy server never
// makes on its own (an answer lost after the commit, a lost ack, a 429 on a heartbeat).

import { type ChildProcess, spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import { type AddressInfo, createServer as createTcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The `im-server` command: IM_SERVER_BIN, else the repository's venv. */
export const IM_SERVER = process.env["IM_SERVER_BIN"] ??
  fileURLToPath(new URL("../../../.venv/bin/im-server", import.meta.url));

export async function freePort(): Promise<number> {
  const probe = createTcpServer();
  await new Promise<void>((done) => probe.listen(0, "127.0.0.1", done));
  const { port } = probe.address() as AddressInfo;
  await new Promise((done) => probe.close(done));
  return port;
}

const b64url = (data: string | Buffer): string => Buffer.from(data).toString("base64url");

/** `im-server serve` in a temporary directory on a free loopback port. */
export class ImServer {
  readonly directory = mkdtempSync(join(tmpdir(), "im-sdk-js-"));
  readonly secret = randomBytes(32).toString("hex");
  readonly env: Record<string, string>;
  port = 0;
  url = "";
  private process: ChildProcess | null = null;

  /** `settings` are IM_* variables. Messages go to the embedded default, ./im.sqlite3
   *  in the directory (migrated by `serve` itself), which outlives a restart. */
  constructor(settings: Record<string, string> = {}) {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith("IM_") && value !== undefined) env[key] = value;
    }
    this.env = {
      ...env, XDG_DATA_HOME: join(this.directory, "xdg"), IM_GAME_AUTH_JWT_SECRET: this.secret,
      IM_SESSION_STORE_URL: "memory://", IM_ACCESS_LOG: "0", ...settings,
    };
  }

  /** A game token for `uid`, signed as the game would (HS256, `sub`, `iat`, `exp`). */
  gameToken(uid: string, ttlS = 3600): string {
    const now = Math.floor(Date.now() / 1000);
    const signed = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.` +
      b64url(JSON.stringify({ sub: uid, iat: now, exp: now + ttlS }));
    return `${signed}.${createHmac("sha256", this.secret).update(signed).digest("base64url")}`;
  }

  get log(): string {
    try {
      return readFileSync(join(this.directory, "serve.log"), "utf8");
    } catch {
      return "";
    }
  }

  /** Start (or start again, on the same port and database) and wait for /healthz. */
  async start(): Promise<this> {
    if (this.port === 0) {
      this.port = await freePort();
      this.url = `http://127.0.0.1:${this.port}`;
    }
    const log = openSync(join(this.directory, "serve.log"), "a");
    const child = spawn(IM_SERVER, ["serve", "--host", "127.0.0.1", "--port", String(this.port)],
                        { cwd: this.directory, env: this.env, stdio: ["ignore", log, log] });
    closeSync(log);
    this.process = child;
    let exited = false;
    child.once("exit", () => { exited = true; });
    child.once("error", () => { exited = true; });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited) throw new Error(`im-server serve exited:\n${this.log.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error("im-server serve did not come up in 30 s");
      try {
        if ((await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok) {
          return this;
        }
      } catch {
        // not listening yet
      }
      await new Promise((done) => setTimeout(done, 50));
    }
  }

  /** SIGTERM, then SIGKILL after 10 s; resolves once the process is gone. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((done) => child.once("exit", done));
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await gone;
    clearTimeout(killer);
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.directory, { recursive: true, force: true });
  }
}

export interface Seen {
  method: string;
  path: string;
  body: Record<string, unknown> | null;
  at: number;
}

/**
 * Forwards to `upstream`, recording each request, except where told to fail:
 * `faults` holds `[path, action]` pairs, each used up by the first request to its
 * path. Actions: "503" / "429" answer without forwarding; "503-after" forwards,
 * then answers 503 instead of the server's answer; "drop-after" forwards, then cuts
 * the connection. `rewriteRequest` / `rewriteAnswer` change bodies on the way.
 */
export class FaultyProxy {
  readonly faults: [string, string][] = [];
  readonly seen: Seen[] = [];
  rewriteRequest: ((path: string, body: Record<string, unknown>) => unknown) | null = null;
  rewriteAnswer: ((path: string, body: Record<string, unknown>) => unknown) | null = null;
  url = "";
  private readonly server = createServer((req, res) => { void this.handle(req, res); });

  constructor(readonly upstream: string) {}

  async start(): Promise<this> {
    await new Promise<void>((done) => this.server.listen(0, "127.0.0.1", done));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  requests(path: string): Seen[] {
    return this.seen.filter((s) => s.path === path);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((done) => this.server.close(done));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString();
    const path = (req.url ?? "").split("?")[0] ?? "";
    let body = raw ? JSON.parse(raw) as Record<string, unknown> : null;
    if (body !== null && this.rewriteRequest) {
      body = this.rewriteRequest(path, body) as Record<string, unknown>;
    }
    this.seen.push({ method: req.method ?? "", path, body, at: Date.now() });
    const index = this.faults.findIndex(([p]) => p === path);
    const action = index >= 0 ? this.faults.splice(index, 1)[0]?.[1] : "";
    const answer = (status: number, code: string, retryAfter: string): void => {
      res.writeHead(status, { "Content-Type": "application/json", "Retry-After": retryAfter });
      res.end(JSON.stringify({ title: "fault", description: "made by the proxy", code }));
    };
    if (action === "503") return answer(503, "storage_unavailable", "0");
    if (action === "429") return answer(429, "rate_limited", "1");
    const headers: Record<string, string> = {};
    if (req.headers.authorization) headers["Authorization"] = req.headers.authorization;
    if (body !== null) headers["Content-Type"] = "application/json";
    const init: RequestInit = { method: req.method ?? "GET", headers };
    if (body !== null) init.body = JSON.stringify(body);
    let upstream: Response;
    try {
      upstream = await fetch(this.upstream + (req.url ?? ""), init);
    } catch {
      res.socket?.destroy();  // the server is away: the client sees a lost connection
      return;
    }
    let text = await upstream.text();
    if (action === "503-after") return answer(503, "storage_unavailable", "0");
    if (action === "drop-after") {
      res.socket?.destroy();
      return;
    }
    if (this.rewriteAnswer && upstream.ok && text) {
      text = JSON.stringify(this.rewriteAnswer(path, JSON.parse(text) as Record<string, unknown>));
    }
    const out: Record<string, string> = { "Content-Type": "application/json" };
    const retryAfter = upstream.headers.get("Retry-After");
    if (retryAfter) out["Retry-After"] = retryAfter;
    res.writeHead(upstream.status, out);
    res.end(text);
  }
}

/** Resolves when `check` holds, polling; rejects after `ms`. */
export async function until(check: () => boolean, ms = 10_000, what = "a condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 20));
  }
}
