--- moonbeam.blocking: mb.blocking, loaded with its first call (few
-- processes make one). The pool's threads and the hand-over are the
-- core's (host/core/blocking.h, bindings/blocking_api.c).
local core = require "moonbeam.core"

local type, error, pcall, getmetatable = type, error, pcall, getmetatable
local c_enter, c_leave = core._blocking_enter, core._blocking_leave

local M = {}

-- Back on the schedulers with fn's outcome (c_leave returns there).
local function unblock(ok, ...)
  c_leave()
  if ok then return ... end
  error((...), 0)
end

--- run(fn, ...): fn(...) on a thread of the blocking pool, in this
-- process's own state, while the schedulers run the others. Returns fn's
-- results or raises its error value. Inside fn the process can send,
-- spawn, link and receive(0), but not wait: receive and sleep raise. An
-- exit signal that would end the process ends it when fn returns. From the
-- host's own process (a script that required moonbeam), or inside another
-- blocking call, fn just runs. Errors point at the caller of mb.blocking,
-- which calls this as a tail call.
function M.run(fn, ...)
  if type(fn) ~= "function" then
    local mt = getmetatable(fn)
    if not (type(mt) == "table" and mt.__call) then
      error("blocking: fn must be a function", 2)
    end
  end
  if not c_enter() then return fn(...) end
  return unblock(pcall(fn, ...))
end

return M
