// The session half of the client: login, the token, re-login on expiry, stopping
// on session_replaced, and `call`, the one way to the server (retries, backoff,
// Retry-After). `Client` (client.ts) adds the calls; a new endpoint (groups,
// channels...) is one more method over `call`.

import {
  ApiError, ClientError, ConnectionFailed, NotLoggedIn, RateLimited, SessionExpired,
  SessionReplaced,
} from "./errors.js";
import { type Fetch, type Sleep, backoff, exchange, sleep as realSleep } from "./transport.js";
import { type Json, type LoginInfo, list, object, parseLogin } from "./types.js";

/** A game token for `uid`, fresh: asked for at each login made without one. */
export type Credentials = (uid: string) => string | Promise<string>;

/** Told before each pause of a retry, and of the message loop after an error. */
export interface RetryEvent {
  readonly method: string;
  readonly path: string;
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: ClientError;
}

export interface ClientOptions {
  /** Asked for a fresh game token whenever the session has expired. Without it an
   *  expired session throws `SessionExpired`. */
  credentials?: Credentials;
  /** Milliseconds to wait for an answer (a long-poll waits its hold more); 10 s. */
  timeoutMs?: number;
  /** Times a call is tried again after a lost connection, a 503 or a 429. */
  retries?: number;
  /** The first pause between retries; it doubles at each one (jittered). */
  backoffMs?: number;
  /** The longest single pause; a `Retry-After` longer than this throws at once. */
  maxRetryDelayMs?: number;
  /** The longest pause of the message loop between two failed heartbeats. */
  maxLoopDelayMs?: number;
  /** Called once when this session is replaced by a login elsewhere. */
  onSessionReplaced?: (error: SessionReplaced) => void;
  /** Called before every pause of a retry (for a "reconnecting..." line, or metrics). */
  onRetry?: (event: RetryEvent) => void;
  /** `fetch` by default. */
  fetch?: Fetch;
  /** Makes a client_msg_id: a random UUID by default. */
  newClientMsgId?: () => string;
  /** The pause and the jitter, for tests: `setTimeout` and `Math.random` by default. */
  sleep?: Sleep;
  random?: () => number;
}

export interface CallOptions {
  body?: unknown;
  query?: URLSearchParams | Record<string, string | number | null | undefined>;
  signal?: AbortSignal | undefined;
  /** Send the session token (default true); only the login goes without. */
  auth?: boolean;
  /** Overrides the client's `retries` for this call. */
  retries?: number;
  /** Extra time to wait for the answer (a long-poll's hold). */
  holdMs?: number;
}

/** A random UUID, the default client_msg_id. */
export function newUuid(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  // randomUUID needs a secure context in browsers (https, or localhost).
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The session and the transport, shared by every call; use `Client`, which adds the
 * API's calls. Subclass it (or call `call`) for endpoints this SDK does not wrap yet.
 */
export class ApiSession {
  readonly baseUrl: string;
  protected readonly options: ClientOptions;
  protected readonly fetch: Fetch;
  protected readonly sleep: Sleep;
  protected readonly random: () => number;
  protected info: LoginInfo | null = null;
  private clientType = "web";
  private replaced: SessionReplaced | null = null;
  protected loggingOut = false;
  /** Bumped by each logout: a re-login begun before it must not revive the session. */
  private epoch = 0;
  private relogging: Promise<void> | null = null;
  /** The highest msgid handed to the caller: what the next heartbeat acknowledges. */
  protected delivered: number | null = null;
  protected ackSent: number | null = null;

  /**
   * @param baseUrl the server, e.g. `http://127.0.0.1:8080`; `""` in a page served
   *   by the server itself (same origin).
   */
  constructor(baseUrl: string, options: ClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.options = options;
    // Called unbound, a browser's fetch throws "Illegal invocation".
    this.fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this.sleep = options.sleep ?? realSleep;
    this.random = options.random ?? Math.random;
  }

  // -- the session ------------------------------------------------------------------

  /** The current login (token and timings); throws `NotLoggedIn` before one. */
  get session(): LoginInfo {
    if (this.info === null) throw new NotLoggedIn("call login() first");
    return this.info;
  }

  get loggedIn(): boolean {
    return this.info !== null && this.replaced === null;
  }

  /** The msgid the next heartbeat acknowledges: the highest handed to the caller. */
  get acked(): number | null {
    return this.delivered;
  }

  /** Log in as `uid`; without `gameToken` one is asked of `credentials`. */
  async login(uid: string, gameToken?: string, clientType = this.clientType): Promise<LoginInfo> {
    const info = await this.openSession(uid, gameToken, clientType);
    this.adopt(info, clientType);
    return info;
  }

  private async openSession(uid: string, gameToken: string | undefined,
                            clientType: string): Promise<LoginInfo> {
    if (gameToken === undefined) {
      if (!this.options.credentials) {
        throw new TypeError("login needs a gameToken or a credentials callback");
      }
      gameToken = await this.options.credentials(uid);
    }
    return parseLogin(await this.call("POST", "/v1/login", {
      auth: false, body: { uid, game_token: gameToken, client_type: clientType },
    }));
  }

  private adopt(info: LoginInfo, clientType: string): void {
    if (this.info?.uid !== info.uid) {
      // Another player's inbox: nothing of it was handed out yet.
      if (this.info !== null) this.delivered = null;
      this.ackSent = null;
    }
    this.info = info;
    this.clientType = clientType;
    this.replaced = null;
    this.loggingOut = false;
  }

  /**
   * End the session; the token is dead afterwards. Idempotent. What was handed out
   * but not yet acknowledged is acknowledged first, so that the player's next device
   * is not given it again.
   */
  async logout(): Promise<void> {
    if (this.info === null) return;
    // From here on nothing logs in again by itself: a held long-poll that this
    // logout ends with 401 must not bring the session back.
    this.loggingOut = true;
    this.epoch += 1;
    try {
      if (this.delivered !== null && this.delivered !== this.ackSent && !this.replaced) {
        await this.call("POST", "/v1/heartbeat", { body: { ack: this.delivered, limit: 1 } });
        this.ackSent = this.delivered;
      }
      if (!this.replaced) await this.call("POST", "/v1/logout");
    } catch (error) {
      if (!(error instanceof SessionExpired || error instanceof SessionReplaced)) throw error;
    } finally {
      this.info = null;
    }
  }

  /** The items of a paged list (`after` / `next_after`), page after page. */
  protected async every(path: string, key: string): Promise<Json[]> {
    const items: Json[] = [];
    let after: string | null = null;
    do {
      const answer = object(await this.call("GET", path, { query: { limit: 500, after } }), key);
      items.push(...list(answer[key], key).map((item) => object(item, key)));
      const next = answer["next_after"];
      after = typeof next === "string" && next ? next : null;
    } while (after !== null);
    return items;
  }


  // -- the transport ----------------------------------------------------------------

  /**
   * One API call, with the session's token: retried on what is safe to retry (a lost
   * connection, 503, 429 within `maxRetryDelayMs`), logged in again once on
   * `session_expired`. Public so that endpoints this SDK does not wrap yet can be
   * called with the same guarantees; resolves to the parsed JSON answer (null: none).
   */
  async call(method: string, path: string, options: CallOptions = {}): Promise<unknown> {
    const auth = options.auth ?? true;
    const retries = options.retries ?? this.options.retries ?? 4;
    const maxDelay = this.options.maxRetryDelayMs ?? 10_000;
    let url = this.baseUrl + path;
    const query = options.query instanceof URLSearchParams ? options.query
      : new URLSearchParams(Object.entries(options.query ?? {})
        .filter((entry): entry is [string, string | number] => entry[1] != null)
        .map(([k, v]) => [k, String(v)]));
    const search = query.toString();
    if (search) url += `?${search}`;
    let relogin = auth && this.options.credentials !== undefined;
    for (let attempt = 0; ; attempt++) {
      const token = auth ? this.token() : null;
      let error: ClientError;
      try {
        const answer = await exchange(this.fetch, method, url, {
          body: options.body, signal: options.signal,
          headers: token === null ? {} : { Authorization: `Bearer ${token}` },
          timeoutMs: (this.options.timeoutMs ?? 10_000) + (options.holdMs ?? 0),
        });
        if (answer.ok) return answer.data;
        error = answer.error;
      } catch (lost) {
        if (!(lost instanceof ConnectionFailed)) throw lost;  // the caller aborted
        // Lost before an answer: applied or not, every call here is safe to run
        // twice (a send by its client_msg_id, a heartbeat acks only what was handed out).
        error = lost;
      }
      if (error instanceof SessionExpired && relogin && token !== null) {
        relogin = false;  // once per call: a second expiry is a real problem
        if (await this.relogin(token)) {
          attempt -= 1;
          continue;
        }
      }
      if (error instanceof SessionReplaced) throw this.stopReplaced(error);
      const after = error instanceof ApiError ? error.retryAfterMs : null;
      const retried = error instanceof ConnectionFailed ||
        (error instanceof ApiError && (error.status === 503 || error instanceof RateLimited));
      if (!retried || attempt >= retries || (after !== null && after > maxDelay)) throw error;
      const delayMs = backoff(attempt, this.options.backoffMs ?? 200, maxDelay, after,
                              this.random);
      this.options.onRetry?.({ method, path, attempt, delayMs, error });
      await this.sleep(delayMs, options.signal);
    }
  }

  private token(): string {
    if (this.replaced !== null) throw this.replaced;
    return this.session.token;
  }

  /** Log in again, unless another call already did since `stale` failed; whether to retry. */
  private async relogin(stale: string): Promise<boolean> {
    if (this.info === null || this.loggingOut) return false;
    if (this.info.token !== stale) return true;
    if (this.relogging === null) {
      const { uid } = this.info;
      const epoch = this.epoch;
      const clientType = this.clientType;
      this.relogging = this.openSession(uid, undefined, clientType).then((info) => {
        if (epoch === this.epoch) {
          this.adopt(info, clientType);
        } else {
          // Logged out meanwhile: end the session this re-login opened, too.
          void exchange(this.fetch, "POST", `${this.baseUrl}/v1/logout`, {
            headers: { Authorization: `Bearer ${info.token}` },
            timeoutMs: this.options.timeoutMs ?? 10_000,
          }).catch(() => undefined);
        }
      }).finally(() => { this.relogging = null; });
    }
    await this.relogging;
    return this.info !== null && !this.loggingOut;
  }

  private stopReplaced(error: SessionReplaced): SessionReplaced {
    const first = this.replaced === null;
    this.replaced = new SessionReplaced(error.status, error.code,
      "this player logged in elsewhere, which ended this session; this client stopped and " +
      `will not log in again by itself (${error.description})`,
      { title: error.title, retryAfterMs: error.retryAfterMs, requestId: error.requestId });
    if (first) this.options.onSessionReplaced?.(this.replaced);
    return this.replaced;
  }
}
