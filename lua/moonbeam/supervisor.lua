--- moonbeam.supervisor: the client of the core's native supervisors.
-- Specs are checked here, where a clear error is easy to write; the
-- supervisor itself (host/otp/supervisor.c) runs with no Lua state. The API:
-- docs/reference.md ("supervisor"); the semantics: docs/semantics.md
-- ("Supervisors").
local mb = require "moonbeam"
local gen = require "moonbeam.gen"
local gen_server = require "moonbeam.gen_server"
local util = require "moonbeam.util"

local type, error, pairs, tostring = type, error, pairs, tostring

local M = {}

local STRATEGIES = { one_for_one = true, one_for_all = true, rest_for_one = true, simple_one_for_one = true }
local TYPES = { worker = true, process = true, supervisor = true }
local RESTARTS = { permanent = true, transient = true, temporary = true }

local function bad(field, detail) return error({ "bad_spec", field, detail }, 0) end

-- The codec's refusal of what sits at field ("<field><path>: <why>", from
-- core._sendable) as a bad_spec, or nil when v can be sent: a child's arg
-- or start, a whole tree nested too deep for a message.
local function unsendable(v, field)
  if v == nil then return nil end
  local ok, why = mb._sendable(v, field, true)
  if ok then return nil end
  local at, detail = why:match("^(.-): (.*)$")
  return { "bad_spec", at or field, detail or why }
end

local HUGE = math.huge
local is_count, is_name, timeout_ms, is_delay = util.is_count, util.is_name, util.timeout_ms, util.is_delay
local is_via = util.is_via

-- A count (intensity, max_children): an integer 0..2^31-1, or math.huge
-- for unlimited (passed on as it is: the core reads it so).
local function check_count(n, field)
  if n ~= HUGE and not is_count(n, 0) then bad(field, "must be an integer from 0 to 2^31-1, or math.huge") end
  return n
end

local function check_flags(f, where)
  local strategy = f.strategy
  if strategy == nil then strategy = "one_for_one" end
  if not STRATEGIES[strategy] then bad(where .. "strategy", "unknown strategy " .. tostring(strategy)) end
  local intensity = check_count(f.intensity == nil and 3 or f.intensity, where .. "intensity")
  local period = f.period == nil and 5000 or f.period
  if type(period) ~= "number" or not (period > 0) or period == HUGE then bad(where .. "period", "must be a number of ms > 0") end
  local maxc = check_count(f.max_children == nil and HUGE or f.max_children, where .. "max_children")
  return { strategy = strategy, intensity = intensity, period = period, max_children = maxc }
end

local check_children

-- The core's shutdown: ms, -1 for "infinity" (math.huge and timeouts no
-- timer can be set for are infinity too), -2 for "brutal_kill".
local function check_shutdown(s, typ, where)
  if s == nil then return typ == "supervisor" and -1 or 5000 end
  if s == "brutal_kill" then return -2 end
  local ms = timeout_ms(s)
  if ms == false then bad(where .. "shutdown", "must be ms >= 0, \"infinity\" or \"brutal_kill\"") end
  return ms or -1
end

local function check_backoff(b, where)
  if b == nil then return nil end
  if type(b) == "number" then b = { initial = b } end
  if type(b) ~= "table" or not is_delay(b.initial) then
    bad(where .. "backoff", "must be ms > 0 (finite, at most 2^53) or {initial = ms, max = ms, factor = n}")
  end
  local max, factor = b.max or b.initial, b.factor or 1
  if not is_delay(max) or max < b.initial then bad(where .. "backoff", "max must be ms >= initial (finite, at most 2^53)") end
  if type(factor) ~= "number" or not (factor >= 1 and factor < HUGE) then
    bad(where .. "backoff", "factor must be a finite number >= 1")
  end
  return { initial = b.initial, max = max, factor = factor }
end

local function check_child(c, where, dynamic)
  if type(c) ~= "table" then bad(where, "a child spec must be a table") end
  local id = c.id
  if id == nil and dynamic then id = "child" end
  if type(id) ~= "string" or id == "" or id:find("\0", 1, true) then
    bad(where .. "id", "must be a non-empty string without NUL bytes")
  end
  where = ("%s[%s]."):format(where:gsub("%.$", ""), id)
  local typ = c.type
  if typ == nil then typ = "worker" end
  if not TYPES[typ] then bad(where .. "type", "unknown type " .. tostring(typ)) end
  local restart = c.restart
  if restart == nil then restart = "permanent" end
  if not RESTARTS[restart] then bad(where .. "restart", "unknown restart type " .. tostring(restart)) end
  if c.name ~= nil and not is_name(c.name) then
    if not is_via(c.name) then bad(where .. "name", "must be a non-empty string without NUL bytes, or {\"via\", registry, key}") end
    if typ ~= "worker" then bad(where .. "name", "a via name is for a worker (it registers itself)") end
  end
  if c.name ~= nil and dynamic then
    bad(where .. "name", "a simple_one_for_one template has no name: its children are many")
  end
  local out = { id = id, type = typ, restart = restart, name = c.name,
                shutdown = check_shutdown(c.shutdown, typ, where), backoff = check_backoff(c.backoff, where) }
  if typ == "worker" then
    if not is_name(c.module) and type(c.module) ~= "table" then
      bad(where .. "module", "a worker needs a module (a name or a table of callbacks)")
    end
    out.module, out.arg = c.module, c.arg
  elseif typ == "process" then
    if type(c.start) ~= "table" or not is_name(c.start[1]) then
      bad(where .. "start", "a process needs start = {\"module:fn\", args...}")
    end
    out.start = c.start
    -- A registry child is named at spawn, as Registry's own start would:
    -- the next children may look it up before it has run (it answers
    -- once its tables are there: moonbeam.registry).
    local o = c.start[1] == "moonbeam.registry:start_link" and c.start[2]
    if out.name == nil and type(o) == "table" and is_name(o.name) then out.name = o.name end
  else
    local spec = check_flags(c, where)
    spec.children = check_children(c.children, spec.strategy, where .. "children")
    out.spec = spec
  end
  -- What the child starts with must cross into its process: refused here,
  -- by its field, rather than by the supervisor's call under this one.
  local refused = unsendable(c.arg, where .. "arg") or unsendable(c.start, where .. "start")
    or type(c.module) == "table" and unsendable(c.module, where .. "module")
  if refused then error(refused, 0) end
  return out
end

function check_children(children, strategy, where)
  if type(children) ~= "table" then bad(where, "children must be an array of child specs") end
  local dynamic = strategy == "simple_one_for_one"
  if dynamic and #children ~= 1 then bad(where, "simple_one_for_one takes exactly one child spec, the template") end
  local seen, out = {}, {}
  for i, c in ipairs(children) do
    local spec = check_child(c, ("%s[%d]."):format(where, i), dynamic)
    if seen[spec.id] then bad(where .. "[" .. i .. "].id", "duplicate id " .. spec.id) end
    seen[spec.id] = true
    out[i] = spec
  end
  return out
end

local function spec_of(children, flags)
  if flags ~= nil and type(flags) ~= "table" then bad("flags", "flags must be a table") end
  flags = flags or {}
  if flags.name ~= nil and not is_name(flags.name) then bad("name", "must be a non-empty string without NUL bytes") end
  local spec = check_flags(flags, "")
  spec.children = check_children(children, spec.strategy, "children")
  -- Each child sendable, the whole may still be nested too deep to send.
  local refused = unsendable(spec, "children")
  if refused then error({ "bad_spec", "children", refused[3] }, 0) end   -- the path is the core's form
  return spec
end

local function start(link, children, flags)
  -- nil, why; why prints as words (util's failed_start)
  local fn = link and "supervisor.start_link" or "supervisor.start"
  local function failed(why)
    return nil, util.failed_start(why, fn, children, flags)
  end
  local ok, spec = pcall(spec_of, children, flags)
  if not ok then
    if type(spec) == "table" then return failed(spec) end
    error(spec, 3)
  end
  local name = flags and flags.name
  if name then
    local other = mb.whereis(name)
    if other then return failed({ "already_started", other }) end
  end
  local pid, ref = mb.sup_start(spec, link, name or "supervisor", fn)
  if name then
    local registered = mb.register(name, pid)
    if not registered then
      if link then mb.unlink(pid) end
      mb.exit(pid, "kill")
      mb.demonitor(ref, true)
      return failed({ "already_started", mb.whereis(name) })
    end
  end
  local started, why = gen.sync_start(pid, ref, link, nil)
  if not started then return failed(why) end
  return started
end

--- start_link(children, [flags]) -> pid, or nil and
-- {"failed_to_start_child", id, reason} / {"bad_spec", field, detail}.
function M.start_link(children, flags) return start(true, children, flags) end
function M.start(children, flags) return start(false, children, flags) end

-- A supervisor argument: misuse is named after the supervisor's call, not
-- the gen_server call underneath.
-- (No position: the API's calls are tail calls, so a level would miss.)
local function check_sup(sup, fn)
  if type(sup) == "string" then
    if is_name(sup) then return end
    error(("supervisor.%s: sup must be a non-empty string without NUL bytes"):format(fn), 0)
  end
  if mb.is_pid(sup) then return end
  error(("supervisor.%s: sup must be a pid or a registered name, got %s"):format(fn, type(sup)), 0)
end

-- sup answered fn's request with what no supervisor answers.
local function not_a_supervisor(fn, sup, answered)
  error(("%s: %s is not a supervisor (it answered %s)"):format(fn, tostring(sup), tostring(answered)), 0)
end

-- What the user gave as req[2], for a refusal of it: "id", or start_child's "arg".
local ARG_NAMES = { start_child = "arg" }

local function call(sup, req)
  check_sup(sup, req[1])
  local fn = "supervisor." .. req[1]
  local sent, reply, err = pcall(gen_server.try_call, sup, req, "infinity")
  if not sent then
    -- req that cannot be sent: named after this call and its argument
    local why = tostring(reply):gsub("^.-gen_server%.try_call: req%[%d%]", fn .. ": " .. (ARG_NAMES[req[1]] or "id"), 1)
    error(why, 0)
  end
  if err then error(util.failure(err, fn, sup, req[2]), 0) end
  -- A supervisor answers each of these with true or a table (sup_requests.c)
  if reply ~= true and type(reply) ~= "table" then not_a_supervisor(fn, sup, reply) end
  return reply
end

local function result(r, fn, sup)
  if r == true then return true end
  if r.ok ~= nil then
    if r.ok == "ignore" then return nil, "ignore" end
    return r.ok
  end
  if r.err == nil then not_a_supervisor("supervisor." .. fn, sup, r) end
  return nil, r.err
end

--- start_child(sup, spec_or_arg) -> pid, or nil and why.
-- A table that looks like a spec goes checked, and also as it was given:
-- a simple_one_for_one supervisor takes it as the new child's argument, as
-- it takes any other; a static one answers a refused spec with its
-- bad_spec (host/otp/sup_requests.c).
function M.start_child(sup, x)
  if type(x) == "table" and x.id ~= nil and (x.module ~= nil or x.start ~= nil or x.children ~= nil) then
    local ok, spec = pcall(check_child, x, "spec.", false)
    if not ok and type(spec) ~= "table" then error(spec, 2) end
    if ok then return result(call(sup, { "start_child", spec, x }), "start_child", sup) end
    -- Refused for what cannot be sent: no supervisor could take it, as a
    -- spec or as an argument.
    if not mb._sendable(x, "arg", true) then return nil, spec end
    return result(call(sup, { "start_child", false, x, spec }), "start_child", sup)
  end
  return result(call(sup, { "start_child", x }), "start_child", sup)
end

function M.terminate_child(sup, id_or_pid)
  return result(call(sup, { "terminate_child", id_or_pid }), "terminate_child", sup)
end
function M.restart_child(sup, id) return result(call(sup, { "restart_child", id }), "restart_child", sup) end
function M.delete_child(sup, id) return result(call(sup, { "delete_child", id }), "delete_child", sup) end

--- which_children(sup) -> {{id=, pid=, type=, restart=}, ...}, newest first.
function M.which_children(sup) return call(sup, { "which_children" }) end

--- count_children(sup) -> {specs=, active=, supervisors=, workers=}.
function M.count_children(sup) return call(sup, { "count_children" }) end

--- stop(sup, [reason], [timeout]) -> true once it stopped its children and exited.
function M.stop(sup, reason, timeout)
  check_sup(sup, "stop")
  util.check_timeout(timeout, "supervisor.stop")
  return gen_server._stop(sup, reason, timeout, "supervisor.stop")   -- its errors named so
end

return M
