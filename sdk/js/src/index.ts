// @im-server/client: a client for im-server's HTTP API v1 (docs/api.md, docs/sdk.md).
// Runs in browsers and Node 18+; needs nothing but `fetch`.

export { Client, type LoopOptions } from "./client.js";
export {
  ApiSession,
  newUuid as newClientMsgId,
  type CallOptions,
  type ClientOptions,
  type Credentials,
  type RetryEvent,
} from "./session.js";
export {
  ApiError,
  Blocked,
  ClientError,
  ConnectionFailed,
  InvalidCredentials,
  NotLoggedIn,
  RateLimited,
  SessionExpired,
  SessionReplaced,
  Unavailable,
} from "./errors.js";
export type { Fetch, Sleep } from "./transport.js";
export type { Contact, HistoryPage, Inbox, LoginInfo, Message, Presence } from "./types.js";
