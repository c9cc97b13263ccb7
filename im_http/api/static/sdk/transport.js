// Built from sdk/js/src by `npm run build && npm run static` in sdk/js: do not edit.
// One HTTP exchange over `fetch`, bounded in time, and the pauses between retries.
// Nothing here knows about sessions: the client decides what to retry.
import { ApiError, ConnectionFailed, apiError } from "./errors.js";
export const sleep = (ms, signal) => new Promise((resolve, reject) => {
    if (signal?.aborted) {
        reject(signal.reason);
        return;
    }
    const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
    };
    const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
});
/**
 * One request. A lost connection or a timeout throws `ConnectionFailed` (the request
 * may or may not have been applied); an answer, error or not, is returned.
 */
export async function exchange(fetch, method, url, options) {
    const { signal } = options;
    signal?.throwIfAborted();
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
        timedOut = true;
        abort.abort();
    }, options.timeoutMs);
    const forward = () => abort.abort(signal?.reason);
    signal?.addEventListener("abort", forward, { once: true });
    const headers = { Accept: "application/json", ...options.headers };
    const init = { method, headers, signal: abort.signal, redirect: "error" };
    if (options.body !== undefined) {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(options.body);
    }
    try {
        const response = await fetch(url, init);
        const text = await response.text();
        if (response.status < 200 || response.status >= 300) {
            return { ok: false, error: apiError(response.status, text, response.headers) };
        }
        if (!text)
            return { ok: true, data: null };
        try {
            return { ok: true, data: JSON.parse(text) };
        }
        catch {
            throw new ConnectionFailed(`${method} ${url}: the answer (${response.status}) is not JSON`);
        }
    }
    catch (error) {
        if (error instanceof ConnectionFailed)
            throw error;
        if (signal?.aborted && !timedOut)
            throw signal.reason;
        const why = timedOut ? `no answer within ${options.timeoutMs} ms`
            : error instanceof Error ? (error.cause instanceof Error ? error.cause.message
                : error.message) : String(error);
        throw new ConnectionFailed(`${method} ${url}: ${why}`, { cause: error });
    }
    finally {
        clearTimeout(timer);
        signal?.removeEventListener("abort", forward);
    }
}
/**
 * The pause before retry number `attempt` (0 first): exponential from `baseMs`,
 * jittered so that clients that failed together do not retry together, never
 * shorter than the server's `Retry-After`, never longer than `capMs`.
 */
export function backoff(attempt, baseMs, capMs, retryAfter, random) {
    const delay = baseMs * 2 ** Math.min(attempt, 20) * (0.5 + random());
    return Math.min(Math.max(delay, retryAfter ?? 0), capMs);
}
