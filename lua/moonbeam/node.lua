--- moonbeam.node: calls to a process registered on another node, for
-- moonbeam.gen (gen.call({name, node}, ...)). The request goes as Erlang's
-- gen does it ({'$gen_call', {self, ref}, req}); the reply, {ref, value},
-- lands in the caller's reply slot (host/dist/dist_control.c), as a local
-- server's does, and so does the DOWN of the server's monitor, made under
-- the call's ref (a server that is not there: noproc; a node that cannot
-- be reached or goes down: noconnection).
local core = require "moonbeam.core"

local M = {}

--- connect(node) -> true once connected to node ("name@host"), false when
-- it cannot be reached, refuses us, or this host is not a node: mb.connect.
function M.connect(node)
  local ref = core.dist_connect(node)
  if type(ref) == "boolean" then return ref end
  local kind, v = core.call_take()
  while kind ~= "reply" do
    core.wait()
    kind, v = core.call_take()
  end
  core.call_end()
  return v[1] == true
end

--- call(name, node, label, req, timeout) -> true, reply or false, err:
-- err is {"timeout"}, {"noproc"} or {"exit", reason} ("noconnection" when
-- the node cannot be reached or goes down), as moonbeam.gen's.
function M.call(name, node, label, req, timeout)
  local ref, over = core.dist_call_named(name, node, label, req)
  if over then core.yield() end
  local deadline = timeout and core.now() + timeout
  while true do
    local kind, v = core.call_take()
    if kind == "down" then
      core.call_end()
      if v == "noproc" then return false, { "noproc" } end
      return false, { "exit", v }
    end
    if kind == "reply" then
      core.call_end()
      core.demonitor(ref)
      return true, v
    end
    local left
    if deadline then
      left = deadline - core.now()
      if left <= 0 then
        core.call_end()
        core.demonitor(ref)
        return false, { "timeout" }
      end
    end
    core.wait(left)
  end
end

return M
