-- Shared by the scenario scripts (loaded with dofile into every wrk Lua state).
--
-- Script arguments (after `--` on the wrk command line):
--   1: the prepared file, one player per line, fields separated by spaces
--   2: wrk threads of this wrk process
--   3: this wrk process's index, 4: how many wrk processes run side by side
--   5...: scenario specific
-- Lines are dealt out to (process, thread) pairs, so no two threads, and no two wrk
-- processes (--workers), ever use the same player at the same time.
local M = {}
M.threads = {}
local next_id = 0

-- setup() runs in wrk's main Lua state once per thread, before init().
function M.setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(M.threads, thread)
end

local function fields(line)
  local out = {}
  for f in line:gmatch("%S+") do out[#out + 1] = f end
  return out
end

-- This thread's share of the file's lines, each split into fields.
function M.rows(args)
  local per_process = tonumber(args[2]) or 1
  local process = tonumber(args[3]) or 0
  local processes = tonumber(args[4]) or 1
  local part = process * per_process + (thread_id or 0)
  local parts = per_process * processes
  local rows, i = {}, 0
  for line in io.lines(args[1]) do
    if line ~= "" then
      if i % parts == part then rows[#rows + 1] = fields(line) end
      i = i + 1
    end
  end
  if #rows == 0 then error("no players for this thread in " .. args[1]) end
  return rows
end

-- Every line of the file (all threads' players), split into fields.
function M.all_rows(path)
  local rows = {}
  for line in io.lines(path) do
    if line ~= "" then rows[#rows + 1] = fields(line) end
  end
  return rows
end

-- A scenario whose requests are all built once, in init: build(row) makes the request
-- for one line of this thread's share, and request() serves them round-robin. Call it
-- at the script's top level: it defines the global init() and request() wrk looks for.
function M.prebuilt(build)
  local reqs, n, i = {}, 0, 0
  function init(args)
    for _, row in ipairs(M.rows(args)) do
      n = n + 1
      reqs[n] = build(row)
    end
  end
  function request()
    i = i % n + 1
    return reqs[i]
  end
end

function M.headers(token)
  local h = {["Content-Type"] = "application/json"}
  if token then h["Authorization"] = "Bearer " .. token end
  return h
end

return M
