--- moonbeam.net: TCP, UDP and unix sockets owned by processes (docs/reference.md,
-- "Sockets and external programs"). Every call is a request to the loop
-- its socket lives on (host/core/io.h), whose answer lands in the caller's
-- reply slot as a call's reply does: the process waits there, its scheduler
-- runs others (an answer made at once, inside the call, is there already).
local core = require "moonbeam.core"

local type = type
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
local function timeout_of(t, fn)
  if t == nil then return nil end
  return require("moonbeam.util").check_timeout(t, fn, nil, "timeout", 4)
end

--- listen(port, [opts]) -> listener, or nil, err
function M.listen(port, opts) return await(core.net_listen(port, opts)) end

--- connect(host, port, [opts], [timeout]) -> socket, or nil, err
function M.connect(host, port, opts, timeout)
  local t = timeout_of(timeout, "net.connect")
  return await(core.net_connect(host, port, opts), t, nil)
end

--- accept(l, [timeout]) -> socket, or nil, "timeout" | "closed" | err
function M.accept(l, timeout)
  local t = timeout_of(timeout, "net.accept")
  return await(core.net_accept(l), t, l)
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

--- shutdown(s, "write") -> true, or nil, "closed"
function M.shutdown(s, how) return await(core.net_shutdown(s, how)) end

--- setopts(s, opts) -> true, or nil, "not_owner" | "closed"
function M.setopts(s, opts) return await(core.net_setopts(s, opts)) end

--- peername(s) -> host, port; sockname(s) -> host, port (a unix socket: its path)
function M.peername(s) return await(core.net_name(s, true)) end
function M.sockname(s) return await(core.net_name(s, false)) end

--- udp_open(port, [opts]) -> socket, or nil, err
function M.udp_open(port, opts) return await(core.net_udp_open(port, opts)) end

--- sendto(s, host, port, data) -> true, or nil, "closed" | err
function M.sendto(s, host, port, data) return await(core.net_sendto(s, host, port, data)) end

--- recvfrom(s, [timeout]) -> data, host, port, or nil, "closed" | "timeout" | err
function M.recvfrom(s, timeout)
  local t = timeout_of(timeout, "net.recvfrom")
  return await(core.net_recvfrom(s), t, s)
end

local ACTIVE_TAGS = { tcp = true, tcp_closed = true, tcp_error = true, tcp_passive = true,
                      udp = true, udp_passive = true }

-- Internal, shared with moonbeam.port: wait for a request's answer; and
-- hand s over to pid, forwarding the caller's queued messages tagged in tags.
M._await = await
function M._hand_over(s, pid, tags, fn)
  if not core.is_pid(pid) then error(fn .. ": a pid expected, got " .. type(pid), 3) end
  local active, once = await(core.net_setopts(s, { active = false }, true))
  if not active then return nil, once end
  local mb = require "moonbeam"
  while true do
    local m = mb.receive(function(m)
      return type(m) == "table" and m[2] == s and tags[m[1]] == true
    end, 0)
    if m == nil then break end
    mb.send(pid, m)
  end
  return await(core.net_handover(s, pid, active, once))
end

--- controlling_process(s, pid) -> true, or nil, "not_owner" | "closed".
-- As gen_tcp: the socket goes passive, the active messages about it
-- already in the caller's mailbox are sent on to pid in order, then pid
-- owns it and its active mode is what it was.
function M.controlling_process(s, pid)
  return M._hand_over(s, pid, ACTIVE_TAGS, "net.controlling_process")
end

return M
