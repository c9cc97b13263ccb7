// What the SDK throws. The server's errors are `{title, description, code}` with a
// stable `code` (docs/api.md, "Errors"); each code a caller must act on differently
// has its own class, so that `instanceof` is enough to decide.

/** Anything this SDK throws. */
export class ClientError extends Error {
  override name = "ClientError";
}

/** A call that needs a session was made before `login` (or after `logout`). */
export class NotLoggedIn extends ClientError {
  override name = "NotLoggedIn";
}

/** The server could not be reached, or did not answer in time, after every retry. */
export class ConnectionFailed extends ClientError {
  override name = "ConnectionFailed";
}

/** The server answered with an error: its HTTP `status` and stable `code`. */
export class ApiError extends ClientError {
  override name = "ApiError";
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly description: string;
  /** How long the server asked to wait before the same call (429, 503), in ms. */
  readonly retryAfterMs: number | null;
  /** The server's `X-Request-Id` for this answer: quote it when reporting a problem. */
  readonly requestId: string | null;

  constructor(status: number, code: string, description: string, extra: {
    title?: string; retryAfterMs?: number | null; requestId?: string | null;
  } = {}) {
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
  override name = "SessionExpired";
}

/**
 * 401 `session_replaced`: this player logged in elsewhere; this client stops.
 *
 * Logging in again here would only take the session back from the other login,
 * which would do the same, forever: every call is refused until `login` is called
 * explicitly (the player chose this device again).
 */
export class SessionReplaced extends ApiError {
  override name = "SessionReplaced";
}

/** 401 `invalid_credentials`: the game's login refused the game token. */
export class InvalidCredentials extends ApiError {
  override name = "InvalidCredentials";
}

/** 429 `rate_limited` after the retries; `retryAfterMs` says when to try again. */
export class RateLimited extends ApiError {
  override name = "RateLimited";
}

/** 503: the server's storage or the game login did not answer, after the retries. */
export class Unavailable extends ApiError {
  override name = "Unavailable";
}

/** 403 `blocked`: the recipient has blocked the sender; nothing was stored. */
export class Blocked extends ApiError {
  override name = "Blocked";
}

type ApiErrorClass = new (...args: ConstructorParameters<typeof ApiError>) => ApiError;

const BY_CODE: Record<string, ApiErrorClass> = {
  "401 session_expired": SessionExpired,
  "401 session_replaced": SessionReplaced,
  "401 invalid_credentials": InvalidCredentials,
  "403 blocked": Blocked,
};
const BY_STATUS: Record<number, ApiErrorClass> = { 429: RateLimited, 503: Unavailable };

/** `Retry-After` in ms: whole (or decimal) seconds; an HTTP date is not sent by im-server. */
export function retryAfterMs(header: string | null): number | null {
  if (header === null || header.trim() === "") return null;
  const seconds = Number(header);
  return Number.isFinite(seconds) ? Math.max(0, seconds * 1000) : null;
}

/** The error an answer with `status` (not 2xx) stands for. */
export function apiError(status: number, text: string, headers: Headers): ApiError {
  let code = "http_error";
  let title = "";
  let description = text.trim();
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object") {
      const body = parsed as Record<string, unknown>;
      if (typeof body["code"] === "string" && body["code"]) code = body["code"];
      if (typeof body["title"] === "string") title = body["title"];
      description = typeof body["description"] === "string" && body["description"]
        ? body["description"] : title;
    }
  } catch {
    // Not JSON: a proxy's or gunicorn's own page (414, 431...); keep the text.
  }
  const Kind = BY_CODE[`${status} ${code}`] ?? BY_STATUS[status] ?? ApiError;
  return new Kind(status, code, description || `HTTP ${status}`, {
    title,
    retryAfterMs: retryAfterMs(headers.get("Retry-After")),
    requestId: headers.get("X-Request-Id"),
  });
}
