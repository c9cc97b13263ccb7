-- POST /v1/heartbeat with body {} for players whose inbox is empty; round-robin over
-- this thread's players. Requests are built once, in init.
-- File: "<session token>" per line.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup = common.setup
common.prebuilt(function(row)
  return wrk.format("POST", "/v1/heartbeat", common.headers(row[1]), "{}")
end)
