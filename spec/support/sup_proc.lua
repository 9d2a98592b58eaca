-- Bodies of "process" children for the supervisor specs: start them as
-- start = {"spec.support.sup_proc:fn", watcher, id, ...}. Each tells its
-- watcher {"sup_ev", id, "init", pid, args} when it starts, like
-- spec/support/sup_child.lua.
local mb = require "moonbeam"

local M = {}

local function note(watcher, id, what, detail)
  if watcher then
    mb.send(watcher, { "sup_ev", id, what, mb.self(), detail, n = 5 })
  end
end

local function pack(...) return { n = select("#", ...), ... } end

-- Loops until told: "stop" returns (normal), {"exit", r} exits with r,
-- "crash" raises.
function M.loop(watcher, id, ...)
  note(watcher, id, "init", pack(...))
  while true do
    local m = mb.receive()
    if m == "stop" then return end
    if m == "crash" then error("asked to crash") end
    if type(m) == "table" and m[1] == "exit" then mb.exit(m[2]) end
  end
end

-- Traps exits and keeps looping, whatever it is told: only "kill" ends it.
-- Tells the watcher {"sup_ev", id, "got_exit", pid, reason} for each EXIT.
-- With unlink_all, it first unlinks from everyone (so only a monitor sees it end).
function M.stubborn(watcher, id, unlink_all)
  mb.trap_exit(true)
  if unlink_all then
    for _, p in ipairs(mb.info(mb.self()).links or {}) do mb.unlink(p) end
  end
  note(watcher, id, "init")
  while true do
    local m = mb.receive()
    if type(m) == "table" and m[1] == "EXIT" then note(watcher, id, "got_exit", m[3]) end
  end
end

-- Traps exits; on an EXIT it sleeps linger ms, then exits with that reason.
function M.slow(watcher, id, linger)
  mb.trap_exit(true)
  note(watcher, id, "init")
  while true do
    local m = mb.receive()
    if type(m) == "table" and m[1] == "EXIT" then
      note(watcher, id, "got_exit", m[3])
      mb.sleep(linger)
      mb.exit(m[3])
    end
  end
end

-- Tells the watcher it started, then returns at once ("normal"): a
-- permanent child that does this is restarted again and again.
function M.blink(watcher)
  mb.send(watcher, "blink")
end

-- Exits at once with reason: a permanent child that does this makes its
-- supervisor give up.
function M.die_with(reason)
  mb.exit(reason)
end

return M
