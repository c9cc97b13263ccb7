-- GET /v1/messages/history?peer=<partner>&limit=20: the newest page of a conversation
-- that holds more than 20 messages. Requests are built once, in init.
-- File: "<session token> <peer uid>" per line.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup = common.setup
common.prebuilt(function(row)
  return wrk.format("GET", "/v1/messages/history?peer=" .. row[2] .. "&limit=20",
                    common.headers(row[1]), nil)
end)
