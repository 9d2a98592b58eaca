--- moonbeam.api_rest: the part of the process API (docs/reference.md,
-- "Processes") that a process which only sends, receives and spawns never
-- uses: names and monitors given as tables, exits and timers with a
-- destination, the spawn variants, register and unregister, sleep, reload,
-- connect and blocking.
-- moonbeam (init.lua) puts these functions in its table on the first
-- look-up of one of their names, so that an idle process does not carry
-- them (~5.8 KB of a ~36 KB state). Not a module to require yourself.
local core = require "moonbeam.core"

local type, error, require, select, next, rawget = type, error, require, select, next, rawget
local c_yield, c_wait, c_wait_until, c_now = core.yield, core.wait, core.wait_until, core.now
local c_cannot_wait = core._cannot_wait
-- The C functions these wrap: init.lua keeps them under these names.
local c_whereis, c_monitor, c_exit = core._c_whereis, core._c_monitor, core._c_exit
local c_send_after, c_send_interval, c_spawn = core._c_send_after, core._c_send_interval, core._c_spawn
local c_register, c_unregister = core._c_register, core._c_unregister

local lazy = core._lazy
local util, registry = lazy "moonbeam.util", lazy "moonbeam.registry"

local M = {}


--- whereis(name) -> pid or nil; name may be a via name or {name, node}:
-- this node's name is looked up here, another node's comes back as it is
-- (as Elixir's GenServer.whereis: only that node knows).
function M.whereis(name)
  if type(name) == "table" then
    if util().is_node_name(name) then
      if name[2] ~= core.node() then
        core.dist_check_node(name[2], "whereis")   -- a pair that names no node is a mistake
        return name
      end
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
    -- This node's: the pid the name has now, or a DOWN noproc naming the
    -- pair given, as another node's pair gives.
    return c_monitor(c_whereis(x[1]) or x)
  end
  if type(x) == "table" then return c_monitor(registry().whereis_via(x, "monitor") or x) end
  return c_monitor(x)
end

--- register(name, pid) -> true, or nil and why ("already_registered",
-- "noproc", "already_has_name"; "unknown_registry" for a via name). A via
-- name is taken by the caller itself, as Elixir's Registry registers only
-- the calling process: pid must be mb.self().
function M.register(name, pid)
  -- A table that is no via name is refused by the core, as any bad name.
  if type(name) ~= "table" or rawget(name, 1) ~= "via" then return c_register(name, pid) end
  if pid ~= core.self() then
    error("register: a via name is taken by the calling process itself (pid must be mb.self())", 0)
  end
  local ok, why = registry().register_via(name, "register")
  if ok then return true end
  if type(why) == "table" then return nil, "already_registered" end
  return nil, why
end

--- unregister(name) -> whether name was registered (and is no longer); a
-- via name only by the process that holds it.
function M.unregister(name)
  if type(name) ~= "table" then return c_unregister(name) end
  return registry().unregister_via(name, "unregister")
end

--- exit(reason), or exit(dest, reason): dest a pid, a name, {name, node}
-- of this node (moonbeam.util's local_name), or a via name (a name is
-- accepted, so a via name is: API.md's "Via names").
function M.exit(...)
  if select("#", ...) < 2 then return c_exit(...) end
  local dest, reason = ...
  if util().is_via(dest) then
    dest = core._table_dest(dest, "exit")
  elseif type(dest) == "table" then
    dest = util().local_name(dest, "exit", core.node())
  end
  return c_exit(dest, reason)
end

-- A timer to dest: a pid, a name resolved when it fires, {name, node}
-- (another node's name is looked up there, as a send's), or a via name,
-- resolved when the timer is set; yields when the slice is used up.
local function timer(set, fn, ms, dest, msg)
  local node
  if type(dest) == "table" and util().is_via(dest) then
    dest = core._table_dest(dest, fn)   -- looked up now: the registry is Lua's, the timer fires in C
  elseif type(dest) == "table" and util().is_node_name(dest) then
    if dest[2] ~= core.node() then node = dest[2] end
    dest = dest[1]
  end
  local ref, over = set(ms, dest, msg, node)
  if over then c_yield() end
  return ref
end

--- send_after(ms, dest, msg) -> timer ref: msg once, after ms.
function M.send_after(ms, dest, msg) return timer(c_send_after, "send_after", ms, dest, msg) end

--- send_interval(ms, dest, msg) -> timer ref: msg every ms until
-- cancel_timer(ref), or until the caller or a pid dest is gone.
function M.send_interval(ms, dest, msg) return timer(c_send_interval, "send_interval", ms, dest, msg) end

-- "link" and "monitor": the core's spawn takes these words for these two
-- (bindings/process_api.c), and names its errors after them.
function M.spawn_link(target, ...) return c_spawn(target, "link", ...) end
function M.spawn_monitor(target, ...) return c_spawn(target, "monitor", ...) end
-- spawn_opt with a via name: the new process takes the name itself, first
-- (boot.lua), and acks; awaited here as gen_server.start awaits init, from
-- before it runs (_start_ref). A name in use raises as a registered name's
-- does, and the process ends unseen.
local function spawn_via(target, opts, ...)
  local name = opts.name
  local reg = registry()
  if not reg.check_via(name, "spawn_opt") then
    error("spawn_opt: no registry runs for the name " .. reg.show(name), 2)
  end
  local ref, sopts = core.make_ref(), {}
  for k, v in next, opts do sopts[k] = v end
  sopts.name, sopts.monitor, sopts._start_ref, sopts._take_name = nil, nil, ref, { name, core.self(), ref }
  local pid = c_spawn(target, sopts, ...)
  local started, why = require("moonbeam.gen").await_start(pid, ref, opts.link, nil, opts.monitor)
  if not started then
    if why == "unknown_registry" then error("spawn_opt: no registry runs for the name " .. reg.show(name), 2) end
    error("spawn_opt: the name " .. reg.show(name) .. " is already registered", 2)
  end
  if opts.monitor then return pid, ref end   -- the start's monitor, kept: made before it ran
  return pid
end

function M.spawn_opt(target, opts, ...)
  if type(opts) ~= "table" then error("spawn_opt: options table expected as argument #2", 2) end
  util().check_spawn_opts(opts)   -- an unknown key raises: a typo would mean "no such option"
  if type(opts.name) == "table" and util().is_via(opts.name) then return spawn_via(target, opts, ...) end
  return c_spawn(target, opts, ...)
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
  if ms ~= 0 then
    local why = c_cannot_wait("sleep")
    if why then error("sleep: " .. why, 2) end
  end
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

--- install(t): these functions in t (moonbeam's table), each where t has
-- none of that name yet: one a program, or gen_server's enter, set there
-- first stays.
function M.install(t)
  for name, f in next, M do
    if name ~= "install" and rawget(t, name) == nil then t[name] = f end
  end
end

return M
