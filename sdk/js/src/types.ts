// The API's values, as this SDK hands them out (camelCase, times in ms), and the
// checks that turn an answer into them: an answer of the wrong shape is a
// ClientError here, not an `undefined` discovered three calls later.

import { ClientError } from "./errors.js";

/** A stored message. `msgid` increases, for one recipient, in reading order. */
export interface Message {
  readonly msgid: number;
  readonly from: string;
  readonly to: string;
  readonly body: string;
  /** When the server stored it, ms since the epoch. */
  readonly sentAt: number;
  readonly clientMsgId: string | null;
}

/** What a login answered: the session token and the timings the loop respects. */
export interface LoginInfo {
  readonly uid: string;
  readonly token: string;
  readonly sessionTtlMs: number;
  readonly heartbeatIntervalMs: number;
  /** The longest a heartbeat is held; 0: the server does not long-poll. */
  readonly maxWaitMs: number;
}

/** A heartbeat's new messages, oldest first. */
export interface Inbox {
  readonly messages: readonly Message[];
  /** The inbox holds more than one answer carries: heartbeat again at once. */
  readonly more: boolean;
  /** When the server wants the next heartbeat, if it says (`next_heartbeat_ms`). */
  readonly nextHeartbeatMs: number | null;
}

/** One page of a conversation, newest first. */
export interface HistoryPage {
  readonly messages: readonly Message[];
  /** Pass as `before` for the next older page; null on the last page. */
  readonly nextBefore: number | null;
}

/** Whether a player has a live session, from what device, and its last call (ms). */
export interface Presence {
  readonly online: boolean;
  readonly clientType: string | null;
  readonly lastSeen: number | null;
}

export interface Contact {
  readonly uid: string;
  readonly online: boolean;
}

export type Json = Record<string, unknown>;

function wrong(what: string): never {
  throw new ClientError(`unexpected answer from the server: ${what}`);
}

export function object(value: unknown, what: string): Json {
  if (value === null || typeof value !== "object" || Array.isArray(value)) wrong(what);
  return value as Json;
}

export function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) wrong(what);
  return value;
}

function int(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value)) wrong(`${what} is not an integer`);
  return value;
}

function str(value: unknown, what: string): string {
  if (typeof value !== "string") wrong(`${what} is not a string`);
  return value;
}

function seconds(value: unknown, what: string): number {
  if (typeof value !== "number" || !(value >= 0)) wrong(`${what} is not a duration`);
  return Math.round(value * 1000);
}

export function intOrNull(value: unknown, what: string): number | null {
  return value === null || value === undefined ? null : int(value, what);
}

export function parseMessage(value: unknown): Message {
  const m = object(value, "a message");
  const cmid = m["client_msg_id"];
  return {
    msgid: int(m["msgid"], "msgid"),
    from: str(m["from"], "from"),
    to: str(m["to"], "to"),
    body: str(m["body"], "body"),
    sentAt: int(m["sent_at"], "sent_at"),
    clientMsgId: cmid === null || cmid === undefined ? null : str(cmid, "client_msg_id"),
  };
}

export function parseLogin(value: unknown): LoginInfo {
  const a = object(value, "a login");
  return {
    uid: str(a["uid"], "uid"),
    token: str(a["token"], "token"),
    sessionTtlMs: seconds(a["session_ttl"], "session_ttl"),
    heartbeatIntervalMs: seconds(a["heartbeat_interval"], "heartbeat_interval"),
    // Older servers do not long-poll: they tell no max_wait.
    maxWaitMs: a["max_wait"] === undefined ? 0 : seconds(a["max_wait"], "max_wait"),
  };
}

export function parseInbox(value: unknown): Inbox {
  const a = object(value, "a heartbeat");
  const next = a["next_heartbeat_ms"];
  return {
    messages: list(a["messages"], "messages").map(parseMessage),
    more: a["more"] === true,
    nextHeartbeatMs: typeof next === "number" && next >= 0 ? next : null,
  };
}

export function parseHistoryPage(value: unknown): HistoryPage {
  const a = object(value, "a history page");
  return {
    messages: list(a["messages"], "messages").map(parseMessage),
    nextBefore: intOrNull(a["next_before"], "next_before"),
  };
}

export function parsePresence(value: unknown): Presence {
  const p = object(value, "a presence");
  const clientType = p["client_type"];
  return {
    online: p["online"] === true,
    clientType: typeof clientType === "string" ? clientType : null,
    lastSeen: intOrNull(p["last_seen"], "last_seen"),
  };
}
