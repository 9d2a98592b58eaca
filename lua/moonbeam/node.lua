--- moonbeam.node: calls to a process registered on another node, for
-- moonbeam.gen (gen.call({name, node}, ...)), and stopping a server of
-- another node (gen_server.stop). The request goes as Erlang's
-- gen does it ({'$gen_call', {self, ref}, req}); the reply, {ref, value},
-- lands in the caller's reply slot (host/dist/dist_control.c), as a local
-- server's does, and so does the DOWN of the server's monitor, made under
-- the call's ref (a server that is not there: noproc; a node that cannot
-- be reached or goes down: noconnection).
local core = require "moonbeam.core"

local M = {}

-- The kinds of outcome core.call_take gives (bindings/call_api.c, KIND_*).
local REPLY, DOWN = 1, 2

--- connect(node) -> true once connected to node ("name@host"), false when
-- it cannot be reached, refuses us, or this host is not a node: mb.connect.
function M.connect(node)
  local ref = core.dist_connect(node)
  if type(ref) == "boolean" then return ref end
  local kind, v = core.call_take()
  while kind ~= REPLY do
    core.wait()
    kind, v = core.call_take()
  end
  core.call_end()
  return v[1] == true
end

--- reply(v) -> true, value or false, err: what a call's reply v from
-- another node gives its caller. The marker of a reply its server could
-- not send (moonbeam.gen's) is {"bad_reply", ...}, as a local call reports
-- it; a whole reply that is the atom nil (Elixir's nil, or a moonbeam
-- server's nil reply: bindings/dist_api.c) is nil.
function M.reply(v)
  if type(v) == "table" then
    local failed = v[1] == core.atom("error") and type(v[2]) == "table" and v[2][1] == core.atom("$gen_reply_failed")
    if failed then
      return false, { "bad_reply", "the server's reply cannot be sent: " .. tostring(v[2][2]) }
    end
    if v == core.atom("nil") then return true, nil end
  end
  return true, v
end

--- call(name, node, label, req, timeout) -> true, reply or false, err:
-- err is {"timeout"}, {"noproc"} or {"exit", reason} ("noconnection" when
-- the node cannot be reached or goes down), or the text of a req that
-- cannot be sent, as moonbeam.gen's.
function M.call(name, node, label, req, timeout)
  local ref, over = core.dist_call_named(name, node, label, req)
  if ref == nil then return false, over end
  if over then core.yield() end
  local deadline = timeout and core.now() + timeout
  while true do
    local kind, v = core.call_take()
    if kind == DOWN then
      core.call_end()
      if v == "noproc" then return false, { "noproc" } end
      return false, { "exit", v }
    end
    if kind == REPLY then
      core.call_end()
      core.demonitor(ref)
      return M.reply(v)
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

--- stop(server, reason, timeout) -> true, reason or false, err: stop a
-- server on another node (a remote pid or {name, node}) as OTP's
-- proc_lib:stop does: monitor it, ask it to terminate (sys:terminate's
-- {system, From, {terminate, Reason}}, a string reason as an atom where
-- it can be one), and
-- wait for its DOWN, timeout ms in all (nil: forever). err is {"noproc"}
-- or {"timeout"}.
function M.stop(server, reason, timeout)
  local mb = require "moonbeam"
  local deadline = timeout and core.now() + timeout
  local ref = mb.monitor(server)
  -- As an exit reason leaves: a string as an atom (one that can be none,
  -- past 255 characters or not UTF-8, as a binary), {"shutdown", detail}
  -- as {shutdown, Detail}, which OTP's supervisors take as a quiet end.
  local why = reason
  if type(reason) == "string" then
    local is_atom, atom = pcall(mb.atom, reason)
    if is_atom then why = atom end
  elseif type(reason) == "table" and reason[1] == "shutdown" and reason[2] ~= nil and reason[3] == nil then
    why = mb.tuple(mb.atom("shutdown"), reason[2])
  end
  local ok, err = require("moonbeam.gen").call(server, "system", mb.tuple(mb.atom("terminate"), why), timeout)
  -- {"exit", reason}: it ended before it answered; its DOWN says how.
  if not ok and (type(err) == "string" or err[1] ~= "exit") then
    mb.demonitor(ref, true)
    if type(err) == "string" then err = err:gsub("^req%[2%]", "reason", 1):gsub("^req", "reason", 1) end   -- the caller's reason
    return false, err
  end
  local down = mb.receive(function(m)
    return type(m) == "table" and m[1] == "DOWN" and m[2] == ref
  end, deadline and math.max(0, deadline - core.now()))
  if not down then
    mb.demonitor(ref, true)
    return false, { "timeout" }
  end
  if down[5] == "noproc" then return false, { "noproc" } end
  return true, down[5]
end

return M
