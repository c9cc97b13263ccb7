-- POST /v1/heartbeat {"ack": <last msgid seen>, "limit": 10} for players whose inbox
-- holds many waiting messages: every call deletes the 10 it acknowledges and returns
-- the next 10. The response names its recipient ("to"), so response() learns each
-- player's last msgid without matching responses to requests.
-- File: "<session token> <uid> <ack to start from, 0 = none>" per line.
-- done() prints "IMBENCH full=<responses with 10 messages> short=<fewer than 10>".
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup = common.setup
local players, n, i = {}, 0, 0
local last = {}
full, short = 0, 0
function init(args)
  for _, row in ipairs(common.rows(args)) do
    n = n + 1
    players[n] = {headers = common.headers(row[1]), uid = row[2]}
    last[row[2]] = tonumber(row[3]) or 0
  end
end
function request()
  i = i % n + 1
  local p = players[i]
  local ack = last[p.uid]
  local body
  if ack and ack > 0 then
    body = string.format('{"ack": %.0f, "limit": 10}', ack)
  else
    body = '{"limit": 10}'
  end
  return wrk.format("POST", "/v1/heartbeat", p.headers, body)
end
function response(status, headers, body)
  if status ~= 200 then return end
  local to = body:match('"to":%s*"([^"]+)"')
  local count, newest = 0, nil
  for id in body:gmatch('"msgid":%s*(%d+)') do
    count = count + 1
    newest = id
  end
  if to and newest then last[to] = tonumber(newest) end
  if count >= 10 then full = full + 1 else short = short + 1 end
end
function done(summary, latency, requests)
  local f, s = 0, 0
  for _, t in ipairs(common.threads) do
    f = f + (t:get("full") or 0)
    s = s + (t:get("short") or 0)
  end
  io.write(string.format("IMBENCH full=%d short=%d\n", f, s))
end
