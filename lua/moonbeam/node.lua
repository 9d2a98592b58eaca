--- moonbeam.node: calls to a process registered on another node, for
-- moonbeam.gen (gen.call({name, node}, ...)). The request goes as Erlang's
-- gen does it ({'$gen_call', {self, ref}, req}); the reply, {ref, value},
-- lands in the caller's reply slot (host/dist/dist_control.c), as a local
-- server's does. No monitor watches the server yet: a server that is not
-- there, or a node that goes down, is a timeout.
local core = require "moonbeam.core"

local M = {}

--- call(name, node, label, req, timeout) -> true, reply or false, {"timeout"}
function M.call(name, node, label, req, timeout)
  local _, over = core.dist_call_named(name, node, label, req)
  if over then core.yield() end
  local deadline = timeout and core.now() + timeout
  while true do
    local kind, v = core.call_take()
    if kind == "reply" then
      core.call_end()
      return true, v
    end
    local left
    if deadline then
      left = deadline - core.now()
      if left <= 0 then
        core.call_end()
        return false, { "timeout" }
      end
    end
    core.wait(left)
  end
end

return M
