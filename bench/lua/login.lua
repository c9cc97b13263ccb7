-- POST /v1/login with game tokens minted beforehand (HS256 JWTs the server verifies
-- offline). Every call opens a new session. Requests are built once, in init.
-- File: "<uid> <game token>" per line.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup = common.setup
common.prebuilt(function(row)
  local body = string.format('{"uid": "%s", "game_token": "%s", "client_type": "pc"}',
                             row[1], row[2])
  return wrk.format("POST", "/v1/login", common.headers(nil), body)
end)
