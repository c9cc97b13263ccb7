// Built from sdk/js/src by `npm run build && npm run static` in sdk/js: do not edit.
// A session with one im-server for one player, and the client's duties from
// docs/api.md ("The client's loop") done so that callers cannot get them wrong:
//
// - `send` makes the client_msg_id itself and retries with the same one after a
//   lost connection, a 503 or a 429, so that a retried message is stored once;
// - `heartbeat` and `messages` acknowledge exactly the highest msgid they handed to
//   the caller, never more, and drop a message delivered again because an ack was
//   lost (msgids increase, for one recipient, in reading order);
// - on 401 session_expired the client logs in again with a fresh game token from the
//   `credentials` callback; on session_replaced it stops, since another login of the
//   same player took over and fighting it would loop forever.
//
// The same semantics as the Python SDK (im_http/client/sdk.py).
import { ApiError, ConnectionFailed } from "./errors.js";
import { ApiSession, newUuid, } from "./session.js";
import { backoff } from "./transport.js";
import { object, parseHistoryPage, parseInbox, parseMessage, parsePresence, } from "./types.js";
/** Errors the message loop waits out: the server is restarting, overloaded or away. */
function passing(error) {
    return error instanceof ConnectionFailed ||
        (error instanceof ApiError && (error.status === 429 || error.status >= 500));
}
const segment = (uid) => encodeURIComponent(uid);
export class Client extends ApiSession {
    /**
     * @param baseUrl the server, e.g. `http://127.0.0.1:8080`; `""` in a page served
     *   by the server itself (same origin).
     */
    constructor(baseUrl, options = {}) {
        super(baseUrl, options);
    }
    // -- messages ---------------------------------------------------------------------
    /**
     * Send `body` to `to`; resolves to the stored message. Retried with the same
     * client_msg_id (made here unless given), so a message whose answer was lost is
     * stored once: the server answers a retry with the message it stored first.
     */
    async send(to, body, options = {}) {
        const clientMsgId = options.clientMsgId ?? (this.options.newClientMsgId ?? newUuid)();
        return parseMessage(await this.call("POST", "/v1/messages", {
            body: { to, body, client_msg_id: clientMsgId }, signal: options.signal,
        }));
    }
    /**
     * One heartbeat: acknowledges what was handed out before, resolves to what is new.
     * Every message it returns counts as handed to the caller, so the next heartbeat
     * acknowledges it. `waitMs` holds the call until a message arrives (at most the
     * login's `maxWaitMs`).
     */
    async heartbeat(options = {}) {
        const inbox = await this.pull(options.waitMs ?? 0, options);
        const last = inbox.messages.at(-1);
        if (last)
            this.delivered = last.msgid;
        return inbox;
    }
    /**
     * The messages as they arrive, long-polling, until `signal` is aborted or the
     * client logs out; a message counts as handed over once yielded (leaving the loop
     * early leaves the rest of a batch unacknowledged, to be delivered again).
     *
     * The loop outlives a restarting or overloaded server: a lost connection, a 5xx
     * or a 429 is told to `onError` and tried again after a backoff (never shorter
     * than `Retry-After`). It throws what waiting cannot mend: `SessionReplaced`, an
     * expired session with no credentials, a refused game token.
     */
    async *messages(options = {}) {
        const { signal } = options;
        let failures = 0;
        while (!signal?.aborted && this.info !== null) {
            const session = this.info;
            const started = Date.now();
            let inbox;
            try {
                inbox = await this.pull(options.waitMs ?? session.maxWaitMs, { signal, retries: 0 });
            }
            catch (error) {
                // Stopped, or logged out (a logout answers the held heartbeat with 401).
                if (signal?.aborted || this.info === null || this.loggingOut)
                    return;
                if (!passing(error))
                    throw error;
                const delayMs = backoff(failures, this.options.backoffMs ?? 200, this.options.maxLoopDelayMs ?? 30_000, error instanceof ApiError ? error.retryAfterMs : null, this.random);
                const event = { method: "POST", path: "/v1/heartbeat", attempt: failures, delayMs, error };
                options.onError?.(event);
                failures += 1;
                try {
                    await this.sleep(delayMs, signal);
                }
                catch {
                    return;
                }
                continue;
            }
            failures = 0;
            for (const message of inbox.messages) {
                // Again here: a heartbeat made meanwhile may have handed it out already.
                if (this.delivered !== null && message.msgid <= this.delivered)
                    continue;
                this.delivered = message.msgid;
                yield message;
            }
            if (inbox.more)
                continue;
            const pause = this.pauseAfter(inbox, Date.now() - started);
            if (pause > 0) {
                try {
                    await this.sleep(pause, signal);
                }
                catch {
                    return;
                }
            }
        }
    }
    /** How long the loop waits before the next heartbeat. */
    pauseAfter(inbox, tookMs) {
        const session = this.info;
        if (session === null)
            return 0;
        if (inbox.nextHeartbeatMs !== null) {
            // The server's word, kept short enough for the session to stay alive.
            const cap = Math.max(session.heartbeatIntervalMs, session.sessionTtlMs - session.heartbeatIntervalMs);
            return Math.min(inbox.nextHeartbeatMs, cap);
        }
        // A server that does not hold heartbeats answers at once: pace the loop at the
        // heartbeat interval instead of spinning.
        return inbox.messages.length ? 0 : session.heartbeatIntervalMs - tookMs;
    }
    async pull(waitMs, options) {
        const session = this.session;
        const ack = this.delivered;
        const body = { ack };
        const hold = session.maxWaitMs ? Math.min(waitMs, session.maxWaitMs) : waitMs;
        if (hold > 0)
            body["wait"] = hold / 1000;
        if (options.limit !== undefined)
            body["limit"] = options.limit;
        const call = { body, signal: options.signal, holdMs: hold };
        if (options.retries !== undefined)
            call.retries = options.retries;
        const inbox = parseInbox(await this.call("POST", "/v1/heartbeat", call));
        this.ackSent = ack;
        // A message whose ack was lost comes again; msgids grow in reading order.
        const seen = this.delivered;
        return seen === null ? inbox
            : { ...inbox, messages: inbox.messages.filter((m) => m.msgid > seen) };
    }
    /** The conversation with `peer` page by page, newest first, following `nextBefore`
     *  until the oldest message (or `after`). */
    async *historyPages(peer, options = {}) {
        let before = options.before ?? null;
        while (true) {
            const query = { peer, limit: options.pageSize ?? 50, before, after: options.after };
            const page = parseHistoryPage(await this.call("GET", "/v1/messages/history", { query, signal: options.signal }));
            yield page;
            if (page.nextBefore === null)
                return;
            before = page.nextBefore;
        }
    }
    /** Every message with `peer`, newest first, fetched a page at a time. */
    async *history(peer, options = {}) {
        for await (const page of this.historyPages(peer, options))
            yield* page.messages;
    }
    // -- people -----------------------------------------------------------------------
    async presence(uids) {
        const query = new URLSearchParams(uids.map((uid) => ["uid", uid]));
        const answer = object(object(await this.call("GET", "/v1/presence", { query }), "presence")["presence"], "presence");
        return new Map(Object.entries(answer).map(([uid, p]) => [uid, parsePresence(p)]));
    }
    /** Every contact, with whether it is online, following the server's pages. */
    async contacts() {
        const items = await this.every("/v1/contacts", "contacts");
        return items.map((c) => ({ uid: String(c["uid"]), online: c["online"] === true }));
    }
    async addContact(uid) {
        await this.call("PUT", `/v1/contacts/${segment(uid)}`);
    }
    async removeContact(uid) {
        await this.call("DELETE", `/v1/contacts/${segment(uid)}`);
    }
    /** The players this one has blocked, every page. */
    async blocks() {
        return (await this.every("/v1/blocks", "blocks")).map((b) => String(b["uid"]));
    }
    /** Refuse messages from `uid` (their sends get 403 `blocked`). */
    async block(uid) {
        await this.call("PUT", `/v1/blocks/${segment(uid)}`);
    }
    async unblock(uid) {
        await this.call("DELETE", `/v1/blocks/${segment(uid)}`);
    }
}
