// Built from sdk/js/src by `npm run build && npm run static` in sdk/js: do not edit.
// What the SDK throws. The server's errors are `{title, description, code}` with a
// stable `code` (docs/api.md, "Errors"); each code a caller must act on differently
// has its own class, so that `instanceof` is enough to decide.
/** Anything this SDK throws. */
export class ClientError extends Error {
    name = "ClientError";
}
/** A call that needs a session was made before `login` (or after `logout`). */
export class NotLoggedIn extends ClientError {
    name = "NotLoggedIn";
}
/** The server could not be reached, or did not answer in time, after every retry. */
export class ConnectionFailed extends ClientError {
    name = "ConnectionFailed";
}
/** The server answered with an error: its HTTP `status` and stable `code`. */
export class ApiError extends ClientError {
    name = "ApiError";
    status;
    code;
    title;
    description;
    /** How long the server asked to wait before the same call (429, 503), in ms. */
    retryAfterMs;
    /** The server's `X-Request-Id` for this answer: quote it when reporting a problem. */
    requestId;
    constructor(status, code, description, extra = {}) {
        super(`${status} ${code}: ${description}`);
        this.status = status;
        this.code = code;
        this.title = extra.title ?? "";
        this.description = description;
        this.retryAfterMs = extra.retryAfterMs ?? null;
        this.requestId = extra.requestId ?? null;
    }
}
/** 401 `session_expired` and no way to log in again (no `credentials` callback). */
export class SessionExpired extends ApiError {
    name = "SessionExpired";
}
/**
 * 401 `session_replaced`: this player logged in elsewhere; this client stops.
 *
 * Logging in again here would only take the session back from the other login,
 * which would do the same, forever: every call is refused until `login` is called
 * explicitly (the player chose this device again).
 */
export class SessionReplaced extends ApiError {
    name = "SessionReplaced";
}
/** 401 `invalid_credentials`: the game's login refused the game token. */
export class InvalidCredentials extends ApiError {
    name = "InvalidCredentials";
}
/** 429 `rate_limited` after the retries; `retryAfterMs` says when to try again. */
export class RateLimited extends ApiError {
    name = "RateLimited";
}
/** 503: the server's storage or the game login did not answer, after the retries. */
export class Unavailable extends ApiError {
    name = "Unavailable";
}
/** 403 `blocked`: the recipient has blocked the sender; nothing was stored. */
export class Blocked extends ApiError {
    name = "Blocked";
}
const BY_CODE = {
    "401 session_expired": SessionExpired,
    "401 session_replaced": SessionReplaced,
    "401 invalid_credentials": InvalidCredentials,
    "403 blocked": Blocked,
};
const BY_STATUS = { 429: RateLimited, 503: Unavailable };
/** `Retry-After` in ms: whole (or decimal) seconds; an HTTP date is not sent by im-server. */
export function retryAfterMs(header) {
    if (header === null || header.trim() === "")
        return null;
    const seconds = Number(header);
    return Number.isFinite(seconds) ? Math.max(0, seconds * 1000) : null;
}
/** The error an answer with `status` (not 2xx) stands for. */
export function apiError(status, text, headers) {
    let code = "http_error";
    let title = "";
    let description = text.trim();
    try {
        const parsed = JSON.parse(text);
        if (parsed !== null && typeof parsed === "object") {
            const body = parsed;
            if (typeof body["code"] === "string" && body["code"])
                code = body["code"];
            if (typeof body["title"] === "string")
                title = body["title"];
            description = typeof body["description"] === "string" && body["description"]
                ? body["description"] : title;
        }
    }
    catch {
        // Not JSON: a proxy's or gunicorn's own page (414, 431...); keep the text.
    }
    const Kind = BY_CODE[`${status} ${code}`] ?? BY_STATUS[status] ?? ApiError;
    return new Kind(status, code, description || `HTTP ${status}`, {
        title,
        retryAfterMs: retryAfterMs(headers.get("Retry-After")),
        requestId: headers.get("X-Request-Id"),
    });
}
