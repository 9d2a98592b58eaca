--- moonbeam.shutdown: ending the whole host in order, as OTP's init:stop
-- does, and os.exit, which asks for it from any process. The mechanics
-- (one shutdown only, its watchdog, SIGTERM and SIGINT, the exit itself)
-- are host/core/shutdown.c's; the order is here. Documented in docs/semantics.md
-- ("Host shutdown and os.exit").
--
-- The order: the first process (moonbeam run's script) gets exit signal
-- "shutdown"; the shutdown then waits until every process that was linked
-- to it, directly or through others, has ended. So a supervisor it started
-- stops its children newest first with their shutdown timeouts, and a
-- gen_server that traps exits runs terminate, before the host exits.
-- Processes outside that tree end with the host, without signals (as
-- init:stop kills what no application owns).
local core = require "moonbeam.core"
local mb = require "moonbeam"

local type, ipairs, pcall = type, ipairs, pcall

local M = {}

--- os.exit([code], [close]) in every state of a host (real: the function
-- it replaced). The whole host ends in order with code as its status
-- (true 0, false 1, none 0); a shutdown already under way keeps its own.
-- It does not return:
-- - in a process, it stops trapping exits and waits for the shutdown to
--   reach it: its supervisor or a link ends it, in the tree's order, and a
--   process outside the tree waits until the host is gone. Once the first
--   exit signal has gone out, the caller ends at once with "shutdown".
-- - on the thread that started the runtime (a plain LuaJIT program that
--   required moonbeam), it waits until the processes are shut down, then
--   calls LuaJIT's own os.exit(status, close).
function M.exit(real, code, close)
  local _, ordered, host = core.shutdown_start(code)
  if host then return real(core.shutdown_wait(), close) end
  core.trap_exit(false)
  -- Ended as the tree's signal would end it, untrapped: a gen_server
  -- calling from a callback runs no terminate either way (an exit raised
  -- here would run it), whether its own request's first signal has gone
  -- out before this look or not.
  if ordered then core.exit(core.self(), "shutdown") end
  while true do
    -- core.wait blocks the process and ends it on an exit signal; it
    -- raises in a coroutine of the caller's own, which cannot block.
    if not pcall(core.wait) then return core.exit("shutdown") end
  end
end

local function is_down_of(watching)
  return function(m) return type(m) == "table" and m[1] == "DOWN" and watching[m[2]] end
end

--- The body of the process that runs a shutdown (started by host/core/shutdown.c).
function M.run()
  local me, here = mb.self(), mb.node()
  local first, host = core.shutdown_plan()
  -- The tree: every process linked to first, directly or not (not the
  -- host's own, which cannot be ended under its code).
  local seen, stack, watching, n = { [me] = true }, { first }, {}, 0
  local first_ref, first_links
  if first then seen[first] = true end
  if host and host ~= first then seen[host] = true end
  while #stack > 0 do
    local pid = stack[#stack]
    stack[#stack] = nil
    local info = core._info_any(pid)   -- one being killed too: it and its links are waited for
    if info then
      if pid ~= host then
        local ref = mb.monitor(pid)
        watching[ref] = true
        n = n + 1
        if pid == first then first_ref, first_links = ref, info.links end
      end
      for _, other in ipairs(info.links) do
        -- Another node's process is not this host's to stop (and mb.info
        -- cannot look at it): its link breaks when this node goes.
        if not seen[other] and mb.node(other) == here then
          seen[other] = true
          stack[#stack + 1] = other
        end
      end
    end
  end
  core.shutdown_order()
  if first and first == host then
    core.shutdown_host_links("shutdown")   -- as if the host's process had ended
  elseif first then
    mb.exit(first, "shutdown")
  end
  local down = is_down_of(watching)
  while n > 0 do
    local m = mb.receive(down)
    watching[m[2]] = nil
    n = n - 1
    -- The first process trapped the signal and ended "normal", which ends
    -- none of its links: they get the "shutdown" it would have passed on
    -- (a gen_server or a process it started linked, an os.exit caller,
    -- waited for the shutdown's timeout, and the host exited 1).
    if m[2] == first_ref and m[5] == "normal" then
      for _, pid in ipairs(first_links) do
        if seen[pid] and pid ~= me and pid ~= host then mb.exit(pid, "shutdown") end
      end
    end
  end
  core.shutdown_done()
  -- moonbeam run's host waits for this (or its first process's DOWN).
  if host then mb.send(host, { "$shutdown_done" }) end
end

return M
