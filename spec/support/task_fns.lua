-- Task targets for spec/task_spec.lua, given as "spec.support.task_fns:fn"
-- strings (or "spec.support.task_fns", which runs main). They run in the
-- task's own Lua state.

local mb = require "moonbeam"

local M = {}

function M.main(x) return { "main", x } end

function M.double(x) return x * 2 end

function M.crash(message) error(message) end

-- Raises message once told "go": a crash a monitor set up first sees.
function M.crash_on_go(message)
  mb.receive(function(m) return m == "go" end)
  error(message)
end

function M.exit_with(reason) mb.exit(reason) end

function M.nothing() end

function M.sleep_then(ms, v)
  mb.sleep(ms)
  return v
end

-- Returns v once told "go": a task that runs exactly as long as the spec
-- needs it to.
function M.on_go(v)
  mb.receive(function(m) return m == "go" end)
  return v
end

-- Tells `to` {"started", self}, then returns v once told "go".
function M.started_then_go(to, v)
  mb.send(to, { "started", mb.self() })
  return M.on_go(v)
end

-- Returns its arguments, with their count (nil arguments included).
function M.args(...)
  return { n = select("#", ...), ... }
end

-- Sends {"ran", v} to `to`, then returns v.
function M.notify(to, v)
  mb.send(to, { "ran", v })
  return v
end

-- One async_stream element, a table:
--   to      a pid told {"worker", self, v} when the worker starts
--   counter a pid told {"in"} on start and {"out"} before the worker ends
--   census  a pid told {"census", n} on start: n task workers alive then
--   ms      how long to sleep
--   crash   raise this message (after sleeping)
--   exit    mb.exit(this) (after sleeping)
--   v       the result
function M.work(arg)
  if arg.to then mb.send(arg.to, { "worker", mb.self(), arg.v }) end
  if arg.counter then mb.send(arg.counter, { "in" }) end
  if arg.census then mb.send(arg.census, { "census", M.task_workers() }) end
  if arg.ms then mb.sleep(arg.ms) end
  if arg.counter then mb.send(arg.counter, { "out" }) end
  if arg.crash then error(arg.crash) end
  if arg.exit then mb.exit(arg.exit) end
  return arg.v
end

-- How many task worker processes are alive now.
function M.task_workers()
  local n = 0
  for _, pid in ipairs(mb.processes()) do
    local info = mb.info(pid)
    if info and (info.module == "moonbeam.task:run" or info.module == "moonbeam.task:run_watched") then n = n + 1 end
  end
  return n
end

-- A process that counts the workers inside M.work at once; answers
-- {"peak", from} with {"peak", highest, current}.
function M.counter()
  local cur, peak = 0, 0
  while true do
    local m = mb.receive()
    if type(m) == "table" then
      if m[1] == "in" then
        cur = cur + 1
        if cur > peak then peak = cur end
      elseif m[1] == "out" then
        cur = cur - 1
      elseif m[1] == "peak" then
        mb.send(m[2], { "peak", peak, cur })
      elseif m[1] == "stop" then
        return
      end
    end
  end
end

return M
