-- POST /v1/messages: each player sends a 40-character message to a random other
-- player of the same group, with a client_msg_id unique to this request.
-- File: "<session token> <uid>" per line. Extra argument 5: a nonce for this run.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup = common.setup
local players, n, i = {}, 0, 0
local uids, m = {}, 0
local nonce, process, counter = "r", "0", 0
local BODY = "gg! regroup at the north gate in 5 min k"  -- 40 characters
function init(args)
  nonce = args[5] or nonce
  process = args[3] or process
  for _, row in ipairs(common.rows(args)) do
    n = n + 1
    players[n] = {headers = common.headers(row[1]), uid = row[2]}
  end
  for _, row in ipairs(common.all_rows(args[1])) do
    m = m + 1
    uids[m] = row[2]
  end
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919 + tonumber(process) * 104729)
end
function request()
  i = i % n + 1
  local p = players[i]
  local to = uids[math.random(m)]
  while to == p.uid do to = uids[math.random(m)] end
  counter = counter + 1
  local body = string.format('{"to": "%s", "body": "%s", "client_msg_id": "%s-%s-%d-%d"}',
    to, BODY, nonce, process, thread_id or 0, counter)
  return wrk.format("POST", "/v1/messages", p.headers, body)
end
