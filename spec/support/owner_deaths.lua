-- Owners of a listener killed one after another, watched by a process on
-- the schedulers (spec/net_spec.lua, spec/net_sched_spec.lua): what the
-- watcher finds right after each DOWN, in its own turn, as a supervisor
-- restarting a server would. A dead owner's listener must be closed by then.
local mb = require "moonbeam"

local M = {}

-- An owner: listens on addr ({port =} or {path =}), tells me "ready" (or
-- "owner: " and the error) and waits.
function M.listener(me, addr)
  local mb, net = require "moonbeam", require "moonbeam.net"
  local l, err = net.listen(addr.port, addr.path and { path = addr.path } or nil)
  if not l then return mb.send(me, "owner: " .. err) end
  mb.send(me, "ready")
  mb.receive()
end

-- A check: a connect to addr.port is refused, and the port can be
-- listened on. What is wrong, or nil.
function M.refused_and_free(addr)
  local net = require "moonbeam.net"
  local c, err = net.connect("127.0.0.1", addr.port, nil, 1000)
  if c then net.close(c); return "connected" end
  if err ~= "econnrefused" then return err end
  local l, err2 = net.listen(addr.port)
  if not l then return err2 end
  net.close(l)
end

-- n owners, each spawned running owner(watcher, addr) and killed once it
-- says "ready", then check(addr) run: the list of what was wrong.
function M.after_downs(n, addr, owner, check)
  mb.spawn(function(me, n, addr, owner, check)
    local mb = require "moonbeam"
    local fails = {}
    for _ = 1, n do
      local pid = mb.spawn(owner, mb.self(), addr)
      local m = mb.receive(function(m) return type(m) == "string" end, 5000)
      if m ~= "ready" then
        fails[#fails + 1] = m or "the owner did not listen"
        break
      end
      local ref = mb.monitor(pid)
      mb.exit(pid, "kill")
      mb.receive(function(m) return m[1] == "DOWN" and m[2] == ref end, 5000)
      fails[#fails + 1] = check(addr)
    end
    mb.send(me, { "fails", fails })
  end, mb.self(), n, addr, owner, check)
  return mb.receive(function(m) return type(m) == "table" and m[1] == "fails" end, 20000)[2]
end

return M
