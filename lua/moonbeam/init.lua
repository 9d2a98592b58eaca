--- moonbeam: Erlang/OTP-style processes for LuaJIT.
-- The API of docs/reference.md ("Processes"). Most functions are the C core's
-- own (moonbeam.core: send and receive are); what lives here is policy that
-- reads better in Lua: table destinations, code changes a receive meets.
-- What a process that only sends, receives and spawns never uses is in
-- moonbeam.api_rest, put in this table by the core on the first look-up of
-- one of its names (bindings/core.c).

local core = require "moonbeam.core"

local error, require = error, require
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

-- Table destinations are told apart by moonbeam.util's rules, and via
-- names ({"via", reg, key}) resolve through moonbeam.registry: each loaded
-- with the first one given, so a process that sends to pids only does not
-- carry them.
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

-- A code change request (mb.reload) met by a receive
-- (bindings/receive_api.c): moonbeam.reload applies it, loaded with the
-- first one.
function M._take_code(req)
  require("moonbeam.reload").take(req)
end

-- The rest of the API, by name, is moonbeam.api_rest's: the core's
-- __index (bindings/core.c) puts it in this table on the first look-up of
-- one of its names, or of a name the core has none of.

return M
