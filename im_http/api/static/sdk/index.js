// Built from sdk/js/src by `npm run build && npm run static` in sdk/js: do not edit.
// @im-server/client: a client for im-server's HTTP API v1 (docs/api.md, docs/sdk.md).
// Runs in browsers and Node 18+; needs nothing but `fetch`.
export { Client } from "./client.js";
export { ApiSession, newUuid as newClientMsgId, } from "./session.js";
export { ApiError, Blocked, ClientError, ConnectionFailed, InvalidCredentials, NotLoggedIn, RateLimited, SessionExpired, SessionReplaced, Unavailable, } from "./errors.js";
