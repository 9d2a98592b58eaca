-- bench/lib/procs.lua — process bodies spawned by module name
-- ("bench.lib.procs:idle"), to time spawn by module beside spawn by function,
-- and the spinners of bench/fairness.lua.
local M = {}

-- Tells the parent it runs, then blocks until any message arrives.
function M.idle(parent)
  local mb = require "moonbeam"
  mb.send(parent, "ready")
  mb.receive()
end

-- A process that never yields: tells the parent {"spinning", pid}, then
-- adds numbers until the monotonic clock passes deadline_ms. "compiled"
-- runs as a trace (LuaJIT never looks at hooks there, so it cannot be
-- preempted or killed, only handed off: hence the deadline, read through
-- the FFI, which the trace compiles, every million iterations);
-- "interpreted" turns the JIT off first (preempted by the count hook; it
-- can be killed, and the deadline is a backstop).
function M.spin(kind, deadline_ms, parent)
  local mb = require "moonbeam"
  local u = require "bench.lib.util"
  if kind == "interpreted" then jit.off() end
  mb.send(parent, { "spinning", mb.self() })
  local now_ms = u.now_ms
  local x = 0
  for i = 1, 1e15 do
    x = x + i
    if i % 1000000 == 0 and now_ms() > deadline_ms then break end
  end
  return x
end

return M
