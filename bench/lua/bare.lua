-- The stack's own limit: POST a small JSON body to the bare Falcon app (bench/bare_app.py).
-- Same headers as the scenarios (a bearer token of the same shape), nothing else to do.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")
setup = common.setup
local req
function init(args)
  local token = "YmVuY2gtMDAwMA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
  req = wrk.format("POST", "/bare", common.headers(token), '{"ping": 1, "limit": 10}')
end
function request() return req end
