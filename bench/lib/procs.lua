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
-- adds numbers until the runtime's clock (mb.now) passes deadline_ms, read
-- every million iterations. "compiled" runs as a trace (LuaJIT never looks
-- at hooks there: the monitor preempts it by signal, and a kill abandons
-- it); "interpreted" turns the JIT off first (preempted by the count hook).
-- The deadline is a backstop. No FFI here: a process that opened it is
-- never abandoned (docs/semantics.md, "Kill"), so it could not be killed.
function M.spin(kind, deadline_ms, parent)
  local mb = require "moonbeam"
  if kind == "interpreted" then jit.off() end
  mb.send(parent, { "spinning", mb.self() })
  local now_ms = mb.now
  local x = 0
  for i = 1, 1e15 do
    x = x + i
    if i % 1000000 == 0 and now_ms() > deadline_ms then break end
  end
  return x
end

return M
