--- moonbeam.registry: Elixir's Registry over shared tables (API.md,
-- "Registry"). A registry is a process that owns its partitions (shared
-- tables: a "set" per partition for unique keys, a "duplicate_bag" for
-- duplicate ones) and a directory table named "moonbeam.registry/<name>"
-- that says where they are. Callers read and write the partitions
-- directly (bindings/registry_api.c), never through the process; each
-- entry is {pid, value}, bound to the process that registered it, which
-- the core removes at that process's death, before its EXIT and DOWN
-- leave (host/core/tabbind.h). Via names ({"via", reg, key}) resolve here.
local mb = require "moonbeam"
local tab = require "moonbeam.table"
local gen = require "moonbeam.gen"
local util = require "moonbeam.util"

local type, error, tostring = type, error, tostring
local self, is_pid = mb.self, mb.is_pid
local reg_register, reg_unregister, reg_lookup = mb.reg_register, mb.reg_unregister, mb.reg_lookup
local reg_update, reg_keys, reg_count, reg_via_kind = mb.reg_update, mb.reg_keys, mb.reg_count, mb.reg_via_kind

local M = {}

local DIR = "moonbeam.registry/"
local READY = "$registry_ready"
local SYS = "$gen_sys"
local UNKNOWN = "unknown_registry"
local ENTRY = "moonbeam.registry:start_link"
local MAX_PARTS = 1024

-- ---- finding a registry -------------------------------------------------

-- Layouts {pid=, unique=, parts={handles}} by name and by pid, in this
-- state; a stale one (its tables deleted) is found out by the call that
-- uses it and looked up again. At most MAX_CACHED: a process that meets
-- registry after short-lived registry keeps no layout of each for ever
-- (one looked up again costs two table reads).
local MAX_CACHED = 64
local cache, ncached = {}, 0

local function remember(reg, l)
  if ncached >= MAX_CACHED then cache, ncached = {}, 0 end
  cache[reg] = l
  ncached = ncached + 1
end

local function forget(reg)
  if cache[reg] then cache[reg], ncached = nil, ncached - 1 end
end

-- A registry process (a supervisor child: named at spawn) that has not
-- made its tables yet answers its first request once it has. Not awaited
-- where the caller cannot wait, a Lua function a C function called (a via
-- name mb.send resolves): there it is not there yet. The host thread's own
-- process (no coroutine) waits without yielding.
local isyieldable, running = coroutine.isyieldable, coroutine.running
local function await_ready(name)
  if not isyieldable() and running() then return end
  local pid = mb.whereis(name)
  local info = pid and mb.info(pid)
  if not (info and type(info.module) == "string" and info.module:find("^moonbeam%.registry:")) then return end
  gen.call(pid, READY, true, nil)
  return tab.whereis(DIR .. name)
end

local function name_of(reg, fn)
  if util.is_name(reg) then return reg end
  if is_pid(reg) then
    local info = mb.info(reg)
    return info and info.registered_name
  end
  error(("%s: reg must be a registry's name or pid, got %s"):format(fn, util.name_fault(reg)), 0)
end

-- The layout in a registry's directory, or nil: a directory deleted since
-- it was found (the registry stopping), or a table of the program's that
-- has the name and cannot be read, is no registry's.
local function read_layout(dir)
  if not dir then return nil end
  local ok, l = pcall(tab.lookup, dir, "layout")
  return ok and type(l) == "table" and l or nil
end

local function layout_of(reg, fn)
  local l = cache[reg]
  if l then return l end
  local name = name_of(reg, fn)
  if not name then return nil end
  l = read_layout(tab.whereis(DIR .. name))
  -- A registry between making its directory and writing its layout there
  -- (setup) is one that is not ready yet, as one with no directory.
  if not l then l = read_layout(await_ready(name)) end
  if not l or (is_pid(reg) and l.pid ~= reg) then return nil end
  remember(reg, l)
  return l
end

-- op(parts, x, y, fn) on reg's partitions: a stale layout is looked up
-- once more. fn, the call the user made ("registry.dispatch", "send"),
-- names op's errors: a bad key given to dispatch is dispatch's. The
-- layout op ran on comes third: it, not the cache, says whether the
-- registry is unique (a registry may be restarted as the other kind).
local function run_on(reg, fn, op, x, y)
  local l = layout_of(reg, fn)
  if not l then return nil, UNKNOWN end
  local a, b = op(l.parts, x, y, fn)
  if a ~= false then return a, b, l end
  forget(reg)
  l = layout_of(reg, fn)
  if not l then return nil, UNKNOWN end
  a, b = op(l.parts, x, y, fn)
  if a == false then return nil, UNKNOWN end
  return a, b, l
end

local function run(reg, fn, op, x, y)
  local a, b = run_on(reg, fn, op, x, y)
  if b == nil then return a end   -- one value: no trailing nil (select("#", ...))
  return a, b
end

-- ---- the registry process ----------------------------------------------

-- The options start_link reads: any other key is a typo that would
-- silently mean "not given".
local OPTIONS = { name = true, keys = true, partitions = true }

local function check_opts(opts)
  if type(opts) ~= "table" then error("registry.start_link: opts must be a table", 0) end
  for k in next, opts do
    if not OPTIONS[k] then error(("registry.start_link: unknown option '%s'"):format(tostring(k)), 0) end
  end
  local name, keys, n = opts.name, opts.keys, opts.partitions
  if n == nil then n = 1 end
  if type(name) ~= "string" or name == "" or name:find("\0", 1, true) then
    error("registry.start_link: name must be a non-empty string without NUL bytes", 0)
  end
  if keys ~= "unique" and keys ~= "duplicate" then
    error("registry.start_link: keys must be \"unique\" or \"duplicate\", got " .. tostring(keys), 0)
  end
  if type(n) ~= "number" or n < 1 or n > MAX_PARTS or n % 1 ~= 0 then
    error(("registry.start_link: partitions must be an integer from 1 to %d"):format(MAX_PARTS), 0)
  end
  return name, keys == "unique", n
end

-- In the registry's process: its name, its partitions, its directory.
-- true, or nil and {"already_started", pid}, or {"table_name_in_use",
-- name} when a table of the program's holds the directory's name.
local function setup(name, unique, n)
  local me = self()
  local holder = mb.whereis(name)
  if holder ~= me then
    local mine = not holder and mb.info(me).registered_name
    if mine then   -- a "process" child whose spec names it otherwise
      error(("registry.start_link: this process is registered as '%s', and a registry takes the name %s"):
        format(mine, "its name option gives ('" .. name .. "'): leave the child spec's name out"), 0)
    end
    if holder or not mb.register(name, me) then return nil, { "already_started", mb.whereis(name) } end
  end
  local parts = {}
  for i = 1, n do parts[i] = tab.new({ type = unique and "set" or "duplicate_bag", access = "public" }) end
  local made, dir = pcall(tab.new, DIR .. name)
  if not made then
    if tab.whereis(DIR .. name) then
      mb.unregister(name)   -- free before start_link returns
      return nil, { "table_name_in_use", DIR .. name }
    end
    error(dir, 0)
  end
  tab.insert(dir, "layout", { pid = me, unique = unique, parts = parts })
  return true
end

-- What a registry answers to gen_server's system requests (moonbeam.sys):
-- its state is its layout; it cannot be suspended, traced or given
-- another state (as a supervisor, which refuses them at once).
local function system_answer(what, layout, name)
  if what == "get_state" then return layout end
  if what == "get_status" then
    return { pid = self(), module = "moonbeam.registry", status = "running", state = layout,
             message_queue_len = mb.queue_len(), name = name }
  end
  return { err = "a registry answers get_state, get_status and stop" }
end

-- The registry's life: it answers readiness probes, and ends on
-- gen_server.stop (Elixir's Registry is stopped as any server is: without
-- this, a stop would wait for ever); everything else is for the callers,
-- in the tables.
local function serve(name)
  local layout = read_layout(tab.whereis(DIR .. name))
  while true do
    local m = mb.receive()
    if type(m) == "table" then
      if m[1] == READY and type(m[2]) == "table" then gen.reply(m[2], true) end
      local req = m[1] == SYS and type(m[2]) == "table" and m[3]
      if type(req) == "table" then
        if req[1] == "stop" then return mb.exit(req[2]) end
        gen.reply(m[2], system_answer(req[1], layout, name))
      end
    end
  end
end

--- serve_started(opts): the body start_link spawns (the start handshake of
-- moonbeam.gen, so start_link returns once the tables are there).
function M.serve_started(opts)
  local starter, ref = gen.wait_start()
  local ok, why = setup(check_opts(opts))
  if not ok then
    gen.init_ack(starter, ref, "stop", why)
    return mb.exit("normal")
  end
  gen.init_ack(starter, ref, "ok")
  return serve(opts.name)
end

--- start_link(opts) -> pid, or nil and {"already_started", pid}. As a
-- process's body (a supervisor's "process" child) it runs the registry
-- there and does not return.
function M.start_link(opts)
  local name, unique, n = check_opts(opts)
  if package.loaded["moonbeam.entry"] == M.start_link then
    package.loaded["moonbeam.entry"] = nil   -- once: a later call starts another
    local ok, why = setup(name, unique, n)
    if not ok then return mb.exit(why) end
    return serve(name)
  end
  -- nil, why; why prints as words (util's failed_start)
  local function failed(why) return nil, util.failed_start(why, "registry.start_link", opts) end
  local other = mb.whereis(name)
  if other then return failed({ "already_started", other }) end
  local spawned, pid, ref = pcall(mb.spawn_opt, "moonbeam.registry:serve_started", { link = true, monitor = true }, opts)
  if not spawned then error((tostring(pid):gsub("^spawn_opt:", "registry.start_link:", 1)), 2) end
  local started, why = gen.sync_start(pid, ref, true, nil)
  if not started then return failed(why) end
  return started
end

-- ---- the calls ----------------------------------------------------------

local function check_fn(f, fn)
  if type(f) ~= "function" then error(("%s: fn must be a function, got %s"):format(fn, type(f)), 0) end
end

--- register(reg, key, [value]) -> true, or nil and {"already_registered", pid}.
function M.register(reg, key, value)
  local ok, holder = run(reg, "registry.register", reg_register, key, value)
  if ok then return true end   -- one value, as documented
  if is_pid(holder) then return nil, { "already_registered", holder } end
  return ok, holder
end

function M.unregister(reg, key) return run(reg, "registry.unregister", reg_unregister, key) end
function M.lookup(reg, key) return run(reg, "registry.lookup", reg_lookup, key) end
function M.count(reg) return run(reg, "registry.count", reg_count) end

function M.keys(reg, pid)
  if not is_pid(pid) then error("registry.keys: pid must be a pid, got " .. type(pid), 0) end
  return run(reg, "registry.keys", reg_keys, pid)
end

--- dispatch(reg, key, fn, ...) -> true: fn({pid, value}, ...) for each entry, here.
function M.dispatch(reg, key, fn, ...)
  check_fn(fn, "registry.dispatch")
  local entries, why = run(reg, "registry.dispatch", reg_lookup, key)
  if not entries then return nil, why end
  for i = 1, #entries do fn(entries[i], ...) end
  return true
end

--- update_value(reg, key, fn) -> fn(old), now the value of the caller's
-- own entry; nil, "not_registered" when it holds none.
function M.update_value(reg, key, fn)
  check_fn(fn, "registry.update_value")
  local entries, why, l = run_on(reg, "registry.update_value", reg_lookup, key)
  if not entries then return nil, why end
  if not l.unique then error("registry.update_value: not for a duplicate registry", 0) end
  local own = entries[1]
  if not own or own[1] ~= self() then return nil, "not_registered" end
  local new = fn(own[2])
  local ok
  ok, why = run(reg, "registry.update_value", reg_update, key, new)
  if not ok then return nil, why or "not_registered" end
  return new
end

-- ---- via names ----------------------------------------------------------

--- is_via(x): whether x is {"via", reg, key}.
M.is_via = util.is_via

--- check_via(name, fn) -> the registry's layout, or nil when it is not
-- running; raises "<fn>: ..." for what is not a via name of a unique
-- registry, or has a key no table takes (gen_server's client checks its
-- server and name with it).
local function check_via(name, fn)
  if not M.is_via(name) then
    error(fn .. ": a name must be a non-empty string, {name, node} or {\"via\", registry, key}", 0)
  end
  local reg = name[2]
  local l = layout_of(reg, fn)
  -- A NaN or function key is fn's bad argument; the kind is the tables'.
  local kind = reg_via_kind(l and l.parts, name[3], fn)
  if l and not kind then   -- a stopped registry's layout, in the cache
    forget(reg)
    l = layout_of(reg, fn)
    kind = l and reg_via_kind(l.parts, name[3], fn)
  end
  if kind == "duplicate" then error(fn .. ": via names need a unique registry", 0) end
  return kind and l
end
M.check_via = check_via

--- whereis_via(name, fn) -> the pid {"via", reg, key} names, or nil.
function M.whereis_via(name, fn)
  if not check_via(name, fn) then return nil end
  local entries = run(name[2], fn, reg_lookup, name[3])
  local e = entries and entries[1]
  return e and e[1]
end

--- register_via(name, fn) -> true, or nil and {"already_started", pid} /
-- "unknown_registry": the caller takes the name (gen_server's enter).
function M.register_via(name, fn)
  if not check_via(name, fn) then return nil, UNKNOWN end
  local ok, holder = run(name[2], fn, reg_register, name[3])
  if ok == nil and is_pid(holder) then return nil, { "already_started", holder } end
  return ok, holder
end

--- unregister_via(name, fn) -> true when the caller held the name and
-- gave it up, else false (mb.unregister of a via name).
function M.unregister_via(name, fn)
  if not check_via(name, fn) or M.whereis_via(name, fn) ~= self() then return false end
  return run(name[2], fn, reg_unregister, name[3]) == true
end

--- take_for_spawn({name, starter, ref}) -> whether the calling process
-- took the via name (the first thing a process spawn_opt started with one
-- does: boot.lua); starter's spawn_opt awaits the answer under ref.
function M.take_for_spawn(take)
  local ok, why = M.register_via(take[1], "spawn_opt")
  mb.reply(take[2], take[3], ok and { "ok" } or { "error", why })
  return ok
end

--- show(name): how a via name reads in messages: an array key written out
-- on one line, as the console prints it.
function M.show(name)
  local key = name[3]
  if type(key) == "table" then
    key = require("moonbeam.pretty").format(key, { width = math.huge, depth = 4, items = 16, string = 64 })
  end
  return ("{via, %s, %s}"):format(tostring(name[2]), tostring(key))
end

return M
