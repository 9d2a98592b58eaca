--- moonbeam: Erlang/OTP-style processes for LuaJIT.
-- The API of docs/reference.md ("Processes"). Most functions are the C core's
-- own (moonbeam.core); what lives here is policy that reads better in Lua:
-- the receive loop with its deadline, and yielding when a slice is used up.
local core = require "moonbeam.core"

local type, error, require = type, error, require
local c_send, c_recv_wait, c_wait, c_yield, c_now = core.send, core.recv_wait, core.wait, core.yield, core.now
local c_wait_until = core.wait_until
local c_spawn = core.spawn

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

local c_whereis, c_monitor = core.whereis, core.monitor

--- whereis(name) -> pid or nil; name may be a via name or {name, node}:
-- this node's name is looked up here, another node's comes back as it is
-- (as Elixir's GenServer.whereis: only that node knows).
function M.whereis(name)
  if type(name) == "table" then
    if util().is_node_name(name) then
      if name[2] ~= core.node() then return name end
      return c_whereis(name[1])
    end
    return registry().whereis_via(name, "whereis")
  end
  return c_whereis(name)
end

--- monitor(pid_or_name) -> ref; a via name is resolved once, now (an
-- unknown one gets its DOWN "noproc", with the name, at once).
function M.monitor(x)
  if util().is_node_name(x) then
    if x[2] ~= core.node() then return core.dist_monitor_named(x[1], x[2]) end   -- {name, node}
    return c_monitor(x[1])
  end
  if type(x) == "table" then return c_monitor(registry().whereis_via(x, "monitor") or x) end
  return c_monitor(x)
end

-- A via destination's pid; raises as an unknown name does.
local function via_dest(dest)
  local pid = registry().whereis_via(dest, "send")
  if not pid then error("send: no process is registered as " .. registry().show(dest), 0) end
  return pid
end

-- {name, node} where a timer or an exit signal takes a name (moonbeam.util).
local function here(dest, fn) return util().local_name(dest, fn, core.node()) end

local c_exit = core.exit
--- exit(reason), or exit(dest, reason): dest a pid, a name or {name, node}.
function M.exit(...)
  if select("#", ...) < 2 then return c_exit(...) end
  local dest, reason = ...
  if type(dest) == "table" then dest = here(dest, "exit") end
  return c_exit(dest, reason)
end

local c_send_after, c_send_interval = core.send_after, core.send_interval
function M.send_after(ms, dest, msg)
  if type(dest) == "table" then dest = here(dest, "send_after") end
  local ref, over = c_send_after(ms, dest, msg)
  if over then c_yield() end
  return ref
end

--- send_interval(ms, dest, msg) -> timer ref: msg every ms until
-- cancel_timer(ref), or until the caller or a pid dest is gone.
function M.send_interval(ms, dest, msg)
  if type(dest) == "table" then dest = here(dest, "send_interval") end
  local ref, over = c_send_interval(ms, dest, msg)
  if over then c_yield() end
  return ref
end

local LINK, MONITOR = { link = true }, { monitor = true }

function M.spawn(target, ...) return c_spawn(target, nil, ...) end
function M.spawn_link(target, ...) return c_spawn(target, LINK, ...) end
function M.spawn_monitor(target, ...) return c_spawn(target, MONITOR, ...) end
function M.spawn_opt(target, opts, ...)
  if type(opts) ~= "table" then error("spawn_opt: options table expected as argument #2", 2) end
  util().check_spawn_opts(opts)   -- an unknown key raises: a typo would mean "no such option"
  return c_spawn(target, opts, ...)
end

--- send(dest, msg) -> true, or false, "full" when the receiver's full
-- mailbox refused msg (max_queue; host/core/mailbox_bounds.h).
function M.send(dest, msg)
  if type(dest) == "table" then
    -- {name, node}: a registered process on a node (this one, or another).
    if util().is_node_name(dest) then
      if dest[2] ~= core.node() then
        core.dist_send_named(dest[1], dest[2], msg)
        return true
      end
      dest = dest[1]
    else
      dest = via_dest(dest)
    end
  end
  local over, full = c_send(dest, msg)
  if over then c_yield() end
  if full then return false, "full" end
  return true
end

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

--- reload(module, [opts]) -> the number of processes that took the new
-- code, or nil, err (moonbeam.reload).
function M.reload(module, opts)
  return require("moonbeam.reload").reload(module, opts)
end

--- sleep(ms): ms >= 0, or "infinity" (math.huge): then it never returns,
-- and waits without a timer.
function M.sleep(ms)
  if ms == nil then error("sleep: ms must be a number >= 0 or \"infinity\"", 2) end
  ms = util().check_timeout(ms, "sleep", nil, "ms")
  if ms == nil then
    while true do c_wait() end
  end
  local deadline = c_now() + ms
  while c_wait_until(deadline) do end   -- false: the deadline has passed
end

--- connect(node) -> true once connected to node ("name@host"), false when
-- it cannot be reached, refuses us, or this host is not a node
-- (moonbeam.node, loaded with the first). mb.node() and mb.nodes() are the
-- core's.
function M.connect(node) return require("moonbeam.node").connect(node) end

--- blocking(fn, ...): fn(...) on a thread of the blocking pool
-- (moonbeam.blocking, loaded with the first call).
function M.blocking(fn, ...) return require("moonbeam.blocking").run(fn, ...) end

return M
