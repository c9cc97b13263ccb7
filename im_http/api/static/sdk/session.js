// Built from sdk/js/src by `npm run build && npm run static` in sdk/js: do not edit.
// The session half of the client: login, the token, re-login on expiry, stopping
// on session_replaced, and `call`, the one way to the server (retries, backoff,
// Retry-After). `Client` (client.ts) adds the calls; a new endpoint (groups,
// channels...) is one more method over `call`.
import { ApiError, ClientError, ConnectionFailed, NotLoggedIn, RateLimited, SessionExpired, SessionReplaced, } from "./errors.js";
import { backoff, exchange, sleep as realSleep } from "./transport.js";
import { list, object, parseLogin } from "./types.js";
/** A random UUID, the default client_msg_id. */
export function newUuid() {
    const c = globalThis.crypto;
    // randomUUID needs a secure context in browsers (https, or localhost).
    if (c && typeof c.randomUUID === "function")
        return c.randomUUID();
    const bytes = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function")
        c.getRandomValues(bytes);
    else
        for (let i = 0; i < 16; i++)
            bytes[i] = Math.floor(Math.random() * 256);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
/**
 * The session and the transport, shared by every call; use `Client`, which adds the
 * API's calls. Subclass it (or call `call`) for endpoints this SDK does not wrap yet.
 */
export class ApiSession {
    baseUrl;
    options;
    fetch;
    sleep;
    random;
    info = null;
    clientType = "web";
    replaced = null;
    loggingOut = false;
    /** Bumped by each logout: a re-login begun before it must not revive the session. */
    epoch = 0;
    relogging = null;
    /** The highest msgid handed to the caller: what the next heartbeat acknowledges. */
    delivered = null;
    ackSent = null;
    /**
     * @param baseUrl the server, e.g. `http://127.0.0.1:8080`; `""` in a page served
     *   by the server itself (same origin).
     */
    constructor(baseUrl, options = {}) {
        this.baseUrl = baseUrl.replace(/\/+$/, "");
        this.options = options;
        // Called unbound, a browser's fetch throws "Illegal invocation".
        this.fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
        this.sleep = options.sleep ?? realSleep;
        this.random = options.random ?? Math.random;
    }
    // -- the session ------------------------------------------------------------------
    /** The current login (token and timings); throws `NotLoggedIn` before one. */
    get session() {
        if (this.info === null)
            throw new NotLoggedIn("call login() first");
        return this.info;
    }
    get loggedIn() {
        return this.info !== null && this.replaced === null;
    }
    /** The msgid the next heartbeat acknowledges: the highest handed to the caller. */
    get acked() {
        return this.delivered;
    }
    /** Log in as `uid`; without `gameToken` one is asked of `credentials`. */
    async login(uid, gameToken, clientType = this.clientType) {
        const info = await this.openSession(uid, gameToken, clientType);
        this.adopt(info, clientType);
        return info;
    }
    async openSession(uid, gameToken, clientType) {
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
    adopt(info, clientType) {
        if (this.info?.uid !== info.uid) {
            // Another player's inbox: nothing of it was handed out yet.
            if (this.info !== null)
                this.delivered = null;
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
    async logout() {
        if (this.info === null)
            return;
        // From here on nothing logs in again by itself: a held long-poll that this
        // logout ends with 401 must not bring the session back.
        this.loggingOut = true;
        this.epoch += 1;
        try {
            if (this.delivered !== null && this.delivered !== this.ackSent && !this.replaced) {
                await this.call("POST", "/v1/heartbeat", { body: { ack: this.delivered, limit: 1 } });
                this.ackSent = this.delivered;
            }
            if (!this.replaced)
                await this.call("POST", "/v1/logout");
        }
        catch (error) {
            if (!(error instanceof SessionExpired || error instanceof SessionReplaced))
                throw error;
        }
        finally {
            this.info = null;
        }
    }
    /** The items of a paged list (`after` / `next_after`), page after page. */
    async every(path, key) {
        const items = [];
        let after = null;
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
    async call(method, path, options = {}) {
        const auth = options.auth ?? true;
        const retries = options.retries ?? this.options.retries ?? 4;
        const maxDelay = this.options.maxRetryDelayMs ?? 10_000;
        let url = this.baseUrl + path;
        const query = options.query instanceof URLSearchParams ? options.query
            : new URLSearchParams(Object.entries(options.query ?? {})
                .filter((entry) => entry[1] != null)
                .map(([k, v]) => [k, String(v)]));
        const search = query.toString();
        if (search)
            url += `?${search}`;
        let relogin = auth && this.options.credentials !== undefined;
        for (let attempt = 0;; attempt++) {
            const token = auth ? this.token() : null;
            let error;
            try {
                const answer = await exchange(this.fetch, method, url, {
                    body: options.body, signal: options.signal,
                    headers: token === null ? {} : { Authorization: `Bearer ${token}` },
                    timeoutMs: (this.options.timeoutMs ?? 10_000) + (options.holdMs ?? 0),
                });
                if (answer.ok)
                    return answer.data;
                error = answer.error;
            }
            catch (lost) {
                if (!(lost instanceof ConnectionFailed))
                    throw lost; // the caller aborted
                // Lost before an answer: applied or not, every call here is safe to run
                // twice (a send by its client_msg_id, a heartbeat acks only what was handed out).
                error = lost;
            }
            if (error instanceof SessionExpired && relogin && token !== null) {
                relogin = false; // once per call: a second expiry is a real problem
                if (await this.relogin(token)) {
                    attempt -= 1;
                    continue;
                }
            }
            if (error instanceof SessionReplaced)
                throw this.stopReplaced(error);
            const after = error instanceof ApiError ? error.retryAfterMs : null;
            const retried = error instanceof ConnectionFailed ||
                (error instanceof ApiError && (error.status === 503 || error instanceof RateLimited));
            if (!retried || attempt >= retries || (after !== null && after > maxDelay))
                throw error;
            const delayMs = backoff(attempt, this.options.backoffMs ?? 200, maxDelay, after, this.random);
            this.options.onRetry?.({ method, path, attempt, delayMs, error });
            await this.sleep(delayMs, options.signal);
        }
    }
    token() {
        if (this.replaced !== null)
            throw this.replaced;
        return this.session.token;
    }
    /** Log in again, unless another call already did since `stale` failed; whether to retry. */
    async relogin(stale) {
        if (this.info === null || this.loggingOut)
            return false;
        if (this.info.token !== stale)
            return true;
        if (this.relogging === null) {
            const { uid } = this.info;
            const epoch = this.epoch;
            const clientType = this.clientType;
            this.relogging = this.openSession(uid, undefined, clientType).then((info) => {
                if (epoch === this.epoch) {
                    this.adopt(info, clientType);
                }
                else {
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
    stopReplaced(error) {
        const first = this.replaced === null;
        this.replaced = new SessionReplaced(error.status, error.code, "this player logged in elsewhere, which ended this session; this client stopped and " +
            `will not log in again by itself (${error.description})`, { title: error.title, retryAfterMs: error.retryAfterMs, requestId: error.requestId });
        if (first)
            this.options.onSessionReplaced?.(this.replaced);
        return this.replaced;
    }
}
