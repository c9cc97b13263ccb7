"""The Lua scripts of the Redis session store (``redis_sessions.py`` says the key layout).

Each script is one round trip and keeps all its work inside one user's hash slot.
"""

from __future__ import annotations

import hashlib

__all__ = ["LOAD_SCRIPTS", "SCRIPTS", "SCRIPT_TEXTS"]

# Times and scores travel as decimal strings from Python and are written as such, so
# Lua's number formatting never touches them.

# KEYS: session, zset, tombstone. ARGV: digest, type, cmd, time, ttl_ms, exp,
# max_sessions, session key prefix ("ns:{uid}:s:"), tombstone key prefix ("ns:{uid}:r:"),
# login policy ("many", "one-per-client-type", "single").
# Replaces any session with the same token; trims the user's expired sessions; replaces
# the sessions the policy ends (reading each one's type: at most max_sessions of them),
# then the oldest ones beyond max_sessions - 1, so the new one makes max_sessions.
# A tombstone holds 1 (replaced by a login) or 2 (ended by the game's server).
# Returns how many sessions it replaced.
CREATE = """
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local replaced = 0
if ARGV[10] ~= 'many' then
  for _, digest in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if ARGV[10] == 'single' or redis.call('HGET', ARGV[8] .. digest, 'type') == ARGV[2] then
      redis.call('DEL', ARGV[8] .. digest)
      redis.call('SET', ARGV[9] .. digest, '1', 'PX', ARGV[5])
      redis.call('ZREM', KEYS[2], digest)
      replaced = replaced + 1
    end
  end
end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7]) + 1
if over > 0 then
  for _, digest in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('DEL', ARGV[8] .. digest)
    redis.call('SET', ARGV[9] .. digest, '1', 'PX', ARGV[5])
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
  replaced = replaced + over
end
redis.call('HSET', KEYS[1], 'type', ARGV[2], 'cmd', ARGV[3], 'time', ARGV[4], 'exp', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return replaced
"""

# KEYS: session, zset, tombstone. ARGV: digest, cmd, now_ms, ttl_ms, exp.
# Returns the client type; or, if the session is dead (changing nothing live), its
# tombstone (1: replaced, 2: ended) and nil when it has none. One TTL serves every
# session, so the session touched last expires last: its expiry is the zset's.
TOUCH = """
local now = tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'type', 'exp')
if not s[1] or tonumber(s[2]) <= now then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  local tomb = redis.call('GET', KEYS[3])
  if tomb then
    return tonumber(tomb)
  end
  return false
end
redis.call('HSET', KEYS[1], 'cmd', ARGV[2], 'time', ARGV[3], 'exp', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return s[1]
"""

# KEYS: session, zset. ARGV: digest.
DELETE = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""

# KEYS: zset. ARGV: now_ms, session key prefix ("ns:{uid}:s:").
# Returns {type, time} of the most recent live session, else nil. Read-only. The
# session keys it reads are not declared (their digests are only known inside) but
# share the zset's hash tag, hence its slot. The loop is bounded by max_sessions.
PRESENCE = """
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
local best_type, best_time, best_raw = false, nil, nil
for _, digest in ipairs(live) do
  local f = redis.call('HMGET', ARGV[2] .. digest, 'type', 'time')
  if f[1] then
    local t = tonumber(f[2])
    if not best_time or t > best_time then
      best_type, best_time, best_raw = f[1], t, f[2]
    end
  end
end
if best_type then
  return {best_type, best_raw}
end
return false
"""

# KEYS: zset. ARGV: now_ms, ttl_ms, session key prefix, tombstone key prefix.
# Ends every live session of the user, each remembered as ended (2); returns how many.
# The session keys share the zset's hash tag, hence its slot.
END_ALL = """
local ended = 0
for _, digest in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')) do
  redis.call('DEL', ARGV[3] .. digest)
  redis.call('SET', ARGV[4] .. digest, '2', 'PX', ARGV[2])
  ended = ended + 1
end
redis.call('DEL', KEYS[1])
return ended
"""

SCRIPTS = {name: (text, hashlib.sha1(text.encode()).hexdigest()) for name, text in {
    "create": CREATE, "touch": TOUCH, "delete": DELETE, "presence": PRESENCE,
    "end_all": END_ALL}.items()}

LOAD_SCRIPTS = [("SCRIPT", "LOAD", text) for text, _ in SCRIPTS.values()]
SCRIPT_TEXTS = {sha: text for text, sha in SCRIPTS.values()}
