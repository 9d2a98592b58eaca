--- moonbeam: Erlang/OTP-style processes for LuaJIT.
-- The API of docs/reference.md ("Processes"). Most functions are the C core's
-- own (moonbeam.core); what lives here is policy that reads better in Lua:
-- the receive loop with its deadline, and yielding when a slice is used up.
-- What a process that only sends, receives and spawns never uses is in
-- moonbeam.api_rest, put in this table by the core on the first look-up of
-- one of its names (bindings/core.c).

local core = require "moonbeam.core"

local type, error, require = type, error, require
local c_recv_wait, c_yield, c_now = core.recv_wait, core.yield, core.now
-- The core's spawn, exit, monitor, whereis, send_after and send_interval are
-- named _c_*: these Lua functions (and moonbeam.api_rest's) own the API's
-- names.
local c_spawn = core._c_spawn

--- _lazy(name) -> a function that returns require(name), required on its
-- first call (not API): what a module needs on some paths only is loaded
-- when one is taken, so a process that never takes one does not carry it.
local function lazy(name)
  local m
  return function()
    m = m or require(name)
    return m
  end
end
core._lazy = lazy

-- The timeout rules (moonbeam.util) are loaded with the first timeout
-- given: an idle process that never gives one does not carry them. Via
-- names ({"via", reg, key}) resolve through moonbeam.registry, loaded
-- with the first one given.
local util, registry = lazy "moonbeam.util", lazy "moonbeam.registry"

-- The module is the core's table, extended: one table per process, not two.
local M = core

-- A via destination's pid; raises, under fn's name, as an unknown name does.
local function via_dest(dest, fn)
  local pid = registry().whereis_via(dest, fn)
  if not pid then error(fn .. ": no process is registered as " .. registry().show(dest), 0) end
  return pid
end

--- _table_dest(dest, fn, msg): a table dest of fn's, what to send to: a via
-- name's pid; for send (bindings/message_api.c, mb.send), {name, node}
-- too, a registered process on a node: this node's name, or nil once sent
-- to another node. mb.exit's and the timers' via names too (api_rest).
function core._table_dest(dest, fn, msg)
  if fn == "send" and util().is_node_name(dest) then
    if dest[2] ~= core.node() then
      core.dist_send_named(dest[1], dest[2], msg)
      return nil
    end
    return dest[1]
  end
  return via_dest(dest, fn)
end

function M.spawn(target, ...) return c_spawn(target, nil, ...) end

-- A code change request (mb.reload) met by a receive: moonbeam.reload
-- applies it, loaded with the first one.
local function take_code(req)
  require("moonbeam.reload").take(req)
end
M._take_code = take_code

--- receive([timeout]) or receive(match, [timeout]): the first message (that
-- match accepts), or nil once timeout ms have passed.
function M.receive(a, b)
  if a == nil and b == nil then   -- receive(): the next message, however long it takes
    while true do
      local msg, over, code = c_recv_wait()   -- nothing: it waited; look again
      if over then c_yield() end
      if msg ~= nil then return msg end
      if code then take_code(code) end
    end
  end
  local match, timeout
  if type(a) == "function" then
    match, timeout = a, b
  elseif b ~= nil then   -- receive(match, timeout) whose match is not one
    if a ~= nil then error("receive: match must be a function, got " .. type(a), 2) end
    timeout = b
  else
    timeout = a
  end
  if timeout ~= nil then timeout = util().check_timeout(timeout, "receive") end
  local deadline = timeout and c_now() + timeout
  -- Each look waits when it finds nothing, and returns nothing after the
  -- wait: then a look again (after a timeout, the one more look that
  -- finds a message that came with it, before timed_out).
  while true do
    local msg, over, code, timed_out = c_recv_wait(match, deadline)
    if over then c_yield() end
    if code then
      take_code(code)
    elseif msg ~= nil or timed_out then
      return msg
    end
  end
end

-- The rest of the API, by name, is moonbeam.api_rest's: the core's
-- __index (bindings/core.c) puts it in this table on the first look-up of
-- one of its names, or of a name the core has none of.

return M
