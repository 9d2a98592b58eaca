-- A scriptable process for the specs. Spawn it as "spec.support.echo"
-- (main) or "spec.support.echo:loop"; its optional argument is a relay pid
-- that receives {"relay", self, msg} for every message the loop does not
-- understand (EXIT and DOWN messages included), so a spec can watch what
-- this process sees.
--
-- Requests are {op, from, tag, args...}; the answer is
-- {"reply", tag, {n = count, results...}} (helpers.call unpacks it).
-- Fire-and-forget: "stop" returns (reason "normal"), {"exit", reason} calls
-- mb.exit(reason), {"raise", message} raises inside the receive loop.

local mb = require "moonbeam"

local M = {}

local function errtext(e)
  if type(e) == "table" then
    local parts = {}
    for _, v in ipairs(e) do parts[#parts + 1] = tostring(v) end
    return table.concat(parts, " ")
  end
  return tostring(e)
end

local function pack(...)
  return { n = select("#", ...), ... }
end

local held = {}

local ops = {}

function ops.ping() return "pong", mb.self() end
function ops.echo(v) return v end
function ops.link(pid)
  local ok, err = pcall(mb.link, pid)
  return ok, (not ok) and errtext(err) or nil
end
function ops.unlink(pid)
  local ok, err = pcall(mb.unlink, pid)
  return ok, (not ok) and errtext(err) or nil
end
function ops.monitor(target) return mb.monitor(target) end
function ops.demonitor(ref, flush) return mb.demonitor(ref, flush) end
function ops.trap(flag) return mb.trap_exit(flag) end
function ops.exit_signal(dest, reason) mb.exit(dest, reason); return true end
function ops.register(name) return mb.register(name, mb.self()) end
function ops.send(dest, msg) return mb.send(dest, msg) end
function ops.spawn_link(target, ...) return mb.spawn_link(target, ...) end
function ops.hold(bytes)
  held[#held + 1] = string.rep("x", bytes - 1) .. tostring(#held)
  return #held
end

function M.loop(relay)
  while true do
    local m = mb.receive()
    if m == "stop" then
      return
    elseif type(m) == "table" and m[1] == "exit" then
      mb.exit(m[2])
    elseif type(m) == "table" and m[1] == "raise" then
      error(m[2])
    elseif type(m) == "table" and type(m[1]) == "string" and ops[m[1]] and m[3] ~= nil then
      local from, tag = m[2], m[3]
      local results = pack(ops[m[1]](unpack(m, 4, m.n or #m)))
      mb.send(from, { "reply", tag, results })
    elseif relay then
      mb.send(relay, { "relay", mb.self(), m })
    end
  end
end

function M.main(relay)
  return M.loop(relay)
end

return M
