// Built from sdk/js/src by `npm run build && npm run static` in sdk/js: do not edit.
// The API's values, as this SDK hands them out (camelCase, times in ms), and the
// checks that turn an answer into them: an answer of the wrong shape is a
// ClientError here, not an `undefined` discovered three calls later.
import { ClientError } from "./errors.js";
function wrong(what) {
    throw new ClientError(`unexpected answer from the server: ${what}`);
}
export function object(value, what) {
    if (value === null || typeof value !== "object" || Array.isArray(value))
        wrong(what);
    return value;
}
export function list(value, what) {
    if (!Array.isArray(value))
        wrong(what);
    return value;
}
function int(value, what) {
    if (typeof value !== "number" || !Number.isInteger(value))
        wrong(`${what} is not an integer`);
    return value;
}
function str(value, what) {
    if (typeof value !== "string")
        wrong(`${what} is not a string`);
    return value;
}
function seconds(value, what) {
    if (typeof value !== "number" || !(value >= 0))
        wrong(`${what} is not a duration`);
    return Math.round(value * 1000);
}
export function intOrNull(value, what) {
    return value === null || value === undefined ? null : int(value, what);
}
export function parseMessage(value) {
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
export function parseLogin(value) {
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
export function parseInbox(value) {
    const a = object(value, "a heartbeat");
    const next = a["next_heartbeat_ms"];
    return {
        messages: list(a["messages"], "messages").map(parseMessage),
        more: a["more"] === true,
        nextHeartbeatMs: typeof next === "number" && next >= 0 ? next : null,
    };
}
export function parseHistoryPage(value) {
    const a = object(value, "a history page");
    return {
        messages: list(a["messages"], "messages").map(parseMessage),
        nextBefore: intOrNull(a["next_before"], "next_before"),
    };
}
export function parsePresence(value) {
    const p = object(value, "a presence");
    const clientType = p["client_type"];
    return {
        online: p["online"] === true,
        clientType: typeof clientType === "string" ? clientType : null,
        lastSeen: intOrNull(p["last_seen"], "last_seen"),
    };
}
