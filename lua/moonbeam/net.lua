--- moonbeam.net: TCP, UDP and unix sockets owned by processes (docs/reference.md,
-- "Sockets and external programs"). Every call is a request to the loop
-- its socket lives on (host/core/io.h), whose answer lands in the caller's
-- reply slot as a call's reply does: the process waits there, its scheduler
-- runs others (an answer made at once, inside the call, is there already).
local core = require "moonbeam.core"

local take, c_wait, c_now = core.net_take, core.wait, core.now

local M = {}

-- The answer to the request ref, waited for until timeout ms (nil: none):
-- its values (true when it has none), or nil and the reason. On timeout
-- the socket's loop is told; its one answer is then either the original
-- one (it was already on its way) or "timeout", and in that case the
-- request took nothing.
local function await(ref, timeout, s)
  local deadline = timeout and c_now() + timeout
  while true do
    local n, ok, a, b, c = take()
    if n > 0 then
      if not ok then return nil, a end
      if n == 1 then return true elseif n == 2 then return a elseif n == 3 then return a, b end
      return a, b, c
    end
    local left
    if deadline then
      left = deadline - c_now()
      if left <= 0 then   -- timed out: from here, wait for the one answer to come
        core.net_cancel(s, ref)
        deadline, left = nil, nil
      end
    end
    c_wait(left)
  end
end

-- moonbeam.util is loaded with the first timeout given, as the other
-- modules do: a connection's process that never times out does not carry it.
-- A bad one raises at the caller of fn, the function that calls this
-- (level 4: check_timeout, this, fn, its caller); (...): no tail call,
-- which would take this function's level away.
local function timeout_of(t, fn)
  if t == nil then return nil end
  return (require("moonbeam.util").check_timeout(t, fn, nil, "timeout", 4))
end


--- send(s, data) -> true, or nil, "closed" | err
function M.send(s, data) return await(core.net_send(s, data)) end

--- recv(s, [n], [timeout]) -> data, or nil, "closed" | "timeout" | err
function M.recv(s, n, timeout)
  local t = timeout_of(timeout, "net.recv")
  return await(core.net_recv(s, n), t, s)
end

--- close(s) -> true
function M.close(s) return await(core.net_close(s)) end

-- Internal, shared with moonbeam.port: wait for a request's answer.
M._await = await

-- The rest (listen, connect, accept, options, names, UDP, handing over)
-- is in moonbeam.net_open, loaded on the first touch of a name not here:
-- a connection's process that only sends and receives, the most numerous
-- kind, does not carry it (an idle connection's memory, bench/net.sh idle).
setmetatable(M, { __index = function(t, k)
  setmetatable(t, nil)
  require("moonbeam.net_open")(t, await, timeout_of)
  return rawget(t, k)
end })

return M
