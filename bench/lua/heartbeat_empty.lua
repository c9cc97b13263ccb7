-- POST /v1/heartbeat with body {} for players whose inbox is empty; round-robin over
-- this thread's players. Requests are built once, in init.
-- File: "<session token>" per line.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup = common.setup
local reqs, n, i = {}, 0, 0
function init(args)
  for _, row in ipairs(common.rows(args)) do
    n = n + 1
    reqs[n] = wrk.format("POST", "/v1/heartbeat", common.headers(row[1]), "{}")
  end
end
function request()
  i = i % n + 1
  return reqs[i]
end
