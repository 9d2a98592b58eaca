--- moonbeam.gen_client: the client half of moonbeam.gen_server (start,
-- call, cast, stop, the sys tools), in the caller's process. Not required
-- directly: moonbeam.gen_server loads it the first time one of these
-- functions is looked up there, so a server process that is only called
-- does not carry it. The exchange itself is moonbeam.gen's.
local mb = require "moonbeam"
local gen = require "moonbeam.gen"
local front = require "moonbeam.gen_server"   -- its DEFAULT_TIMEOUT, which users may set

local type, error, pcall, rawget, next, find = type, error, pcall, rawget, next, string.find
local send, self, whereis, is_pid, c_send_tagged, c_yield =
  mb.send, mb.self, mb.whereis, mb.is_pid, mb.send_tagged, mb.yield

local M = {}

local CALL, CAST, SYS = "$gen_call", "$gen_cast", "$gen_sys"

-- ---- checks -----------------------------------------------------------

-- The checks (moonbeam.util) are loaded on first use: a cast to a pid
-- makes none.
local util = require("moonbeam")._lazy "moonbeam.util"

-- The last server found to be a pid, which it stays: a client that calls
-- one server again and again does not ask the core each time (a call into
-- the core from compiled code is a trip through the interpreter). At
-- first a value no server is.
local known_pid = {}

-- Raises at level (3 unless told: the caller of fn, when fn calls this).
-- A name is checked as register checks it: whereis would raise under its
-- own name.
local function check_server(server, fn, level)
  if server == known_pid then return end
  local name = server
  if util().is_node_name(server) then   -- {name, node}: its name too, and the node
    mb.dist_check_node(server[2], fn)
    name = server[1]
  end
  if type(name) == "string" then
    if name == "" or find(name, "\0", 1, true) then
      error(fn .. ": name must be a non-empty string without NUL bytes", level or 3)
    end
    return
  end
  if is_pid(server) then
    known_pid = server
    return
  end
  -- A via name of a duplicate registry is refused here, under fn's name.
  if util().is_via(server) then return require("moonbeam.registry").check_via(server, fn) end
  error(fn .. ": server must be a pid, a registered name, {name, node} or a via name, got " .. type(server), level or 3)
end

-- Whether a and b are the same value, tables by content and NaN as NaN
-- (the reason a stop asked for came back, copied).
local function deep_equal(a, b)
  if a == b or (a ~= a and b ~= b) then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in next, a do if not deep_equal(v, rawget(b, k)) then return false end end
  for k in next, b do if rawget(a, k) == nil then return false end end
  return true
end

-- What call and try_call share: their checks (which raise at their
-- caller: level 4 from here), then the exchange (moonbeam.gen).
local function call_server(server, req, timeout, fn)
  check_server(server, fn, 4)
  local ms = util().check_timeout(timeout, fn, front.DEFAULT_TIMEOUT, nil, 4)
  return gen.call(server, CALL, req, ms)
end

-- A failed exchange's err as fn raises it: a string (a request that
-- cannot be sent, the caller's bug) named after fn, else an error table.
local function failure(v, fn, ...)
  if type(v) == "string" then return fn .. ": " .. v end
  return util().failure(v, fn, ...)
end

--- call(server, request, [timeout]) -> reply; raises {"timeout"},
-- {"noproc"}, {"exit", reason}, {"calling_self"}, {"deadlock", chain} or
-- {"overloaded"} (the server's full mailbox refused the request).
function M.call(server, req, timeout)
  local ok, v = call_server(server, req, timeout, "gen_server.call")
  if not ok then error(failure(v, "gen_server.call", server, req, timeout), 2) end
  return v
end

--- try_call: the same, but returns nil, err instead of raising (a
-- request that cannot be sent still raises).
function M.try_call(server, req, timeout)
  local ok, v = call_server(server, req, timeout, "gen_server.try_call")
  if ok then return v end
  if type(v) == "string" then error("gen_server.try_call: " .. v, 2) end
  return nil, util().failure(v, "gen_server.try_call", server, req, timeout)
end

--- cast(server, msg) -> true, always (a dead pid, an unknown name or a
-- full mailbox drops it, as OTP's cast is fire-and-forget).
function M.cast(server, msg)
  -- The common case, a pid: sent at once ({CAST, msg}; over: yield, the
  -- slice is used up). nil: server is no pid.
  local over = c_send_tagged(server, CAST, msg)
  if over ~= nil then
    if over then c_yield() end
    return true
  end
  check_server(server, "gen_server.cast")
  if util().is_node_name(server) then
    if server[2] ~= mb.node() then
      -- Erlang has no nil; an unsendable msg is named from the cast's msg,
      -- not from the envelope.
      if msg == nil then error("gen_server.cast: msg: cannot go to another node: it is nil", 2) end
      local ok, err = pcall(send, server, mb.tuple(mb.atom(CAST), msg))
      if not ok then
        local why, n = tostring(err):gsub("^send: msg%[2%]", "gen_server.cast: msg", 1)
        if n == 0 then why = why:gsub("^send: msg", "gen_server.cast: msg", 1) end
        error(why, 2)
      end
      return true
    end
    server = server[1]
  end
  local pid = whereis(server)
  if not pid then
    -- Dropped, as a cast to a dead pid is; an unsendable msg raises all the
    -- same (nil is none: a live server's handle_cast gets it).
    if msg ~= nil then
      local ok, why = mb._sendable(msg, "gen_server.cast: msg", true)
      if not ok then error(why, 2) end
    end
  elseif c_send_tagged(pid, CAST, msg) then
    c_yield()
  end
  return true
end

-- ---- sys-like tools ---------------------------------------------------

-- The tools whose answer is never a table with an err field: such an
-- answer is a refusal (a supervisor answers only get_state and get_status,
-- host/otp/sup_requests.c), raised rather than returned as if it were done.
local REFUSABLE = { suspend = true, resume = true, trace = true, replace_state = true }

-- Its checks raise at level 4: the caller of get_state and the others.
local function sys(server, fn, req, timeout)
  check_server(server, "gen_server." .. fn, 4)
  local ms = util().check_timeout(timeout, "gen_server." .. fn, front.DEFAULT_TIMEOUT, nil, 4)
  local ok, v = gen.call(server, SYS, req, ms)
  if not ok then error(failure(v, "gen_server." .. fn, server, timeout), 3) end
  if REFUSABLE[fn] and type(v) == "table" and v.err ~= nil then
    error(("gen_server.%s: not supported by %s (%s)"):format(fn, tostring(server), tostring(v.err)), 3)
  end
  return v
end

-- (sys(...)): no tail call, so that sys's errors point at our caller.
function M.get_state(server, timeout) return (sys(server, "get_state", { "get_state" }, timeout)) end
function M.suspend(server, timeout) return (sys(server, "suspend", { "suspend" }, timeout)) end
function M.resume(server, timeout) return (sys(server, "resume", { "resume" }, timeout)) end
function M.get_status(server, timeout) return (sys(server, "get_status", { "get_status" }, timeout)) end

function M.trace(server, on, timeout)
  return (sys(server, "trace", { "trace", not not on }, timeout))
end

--- replace_state(server, fn) -> fn(state), which becomes the state; if fn
-- raises, raises {"callback_failed", err} and the state is unchanged.
function M.replace_state(server, fn, timeout)
  if type(fn) ~= "function" then error("gen_server.replace_state: fn must be a function", 2) end
  util().check_portable(fn, "gen_server.replace_state", "fn", "the server's Lua state")
  local r = sys(server, "replace_state", { "replace_state", fn }, timeout)
  if r[1] ~= "ok" then
    error(util().failure({ "callback_failed", r[2] }, "gen_server.replace_state", server, fn), 2)
  end
  return r[2]
end

-- stop, its errors named fn (the call the user made) and pointing at the
-- caller of the function that tail-calls it (M.stop, agent.stop).
local function stop(server, reason, timeout, fn)
  check_server(server, fn)
  local given = reason
  if reason == nil then reason = "normal" end
  local ms = util().check_timeout(timeout, fn, nil)
  local function fail(err) error(failure(err, fn, server, given, timeout), 3) end
  local pid = server
  if util().is_node_name(server) and server[2] == mb.node() then server = server[1] end
  local ok, v
  if util().is_node_name(server) or is_pid(server) and mb.node(server) ~= mb.node() then
    ok, v = require("moonbeam.node").stop(server, reason, ms)   -- a server on another node
  else
    if not is_pid(server) then pid = whereis(server) end
    if not pid then
      -- An unsendable reason raises as it would to a live server.
      local sendable, why = mb._sendable(reason, fn .. ": reason", true)
      if not sendable then error(why, 0) end   -- as the core raises it for a live one
      fail({ "noproc" })
    end
    if pid == self() then fail({ "calling_self" }) end
    ok, v = gen.stop(pid, SYS, { "stop", reason }, ms)
    -- As OTP's stop: a DOWN with the reason asked for is the stop done,
    -- noproc included (it cannot tell a server that ended so from none).
    if not ok and reason == "noproc" and type(v) == "table" and v[1] == "noproc" then ok, v = true, reason end
  end
  if not ok then fail(v) end
  if not deep_equal(v, reason) then fail({ "exit", v }) end
  return true
end

--- stop(server, [reason], [timeout]) -> true once it exited with reason.
function M.stop(server, reason, timeout) return stop(server, reason, timeout, "gen_server.stop") end

--- _stop(server, reason, timeout, fn): stop named fn (agent.stop); not API.
M._stop = stop

-- ---- start ------------------------------------------------------------

local function check_module(module, fn)
  if type(module) == "table" or util().is_name(module) then return end
  error(fn .. ": module must be a module name or a table of callbacks, got " .. util().name_fault(module), 3)
end

local SPAWN_OPTS = { memory_limit = true, trap_exit = true, max_queue = true, on_full = true }

local function check_opts(opts, fn)
  if opts ~= nil and type(opts) ~= "table" then error(fn .. ": opts must be a table", 3) end
  local name = opts and opts.name
  if name ~= nil and not util().is_name(name) and not util().is_via(name) then
    local via = type(name) == "table" and ", or {\"via\", registry, key}" or ""
    error(fn .. ": name must be a non-empty string without NUL bytes" .. via, 3)
  end
  if util().is_via(name) then require("moonbeam.registry").check_via(name, fn) end
end

-- Its checks raise at level 3: start(module...) is a tail call, so that is
-- the caller of gen_server.start.
local function start(link, module, arg, opts, fn, arg_name)
  check_module(module, fn)
  check_opts(opts, fn)
  local given = opts
  opts = opts or {}
  local name = opts.name
  local timeout = util().check_timeout(opts.timeout, fn, nil)
  -- Refused before the server is spawned, not after: it would be left
  -- running (and registered, and linked) with no one awaiting its init.
  local cannot = mb._cannot_wait("start")
  if cannot then error(fn .. ": " .. cannot, 0) end
  -- nil, why; why prints as words (util's failed_start)
  local function failed(why) return nil, util().failed_start(why, fn, module, arg, given) end
  if name then
    local other = whereis(name)
    if other then return failed({ "already_started", other }) end
  end
  -- A via name is taken by the new process itself, before init (enter).
  -- The new process is monitored under a ref made here and given to it
  -- with its arguments; its init's ack to that ref is awaited from before
  -- it runs, so it acks without being told first (the only wake-up is
  -- ours, at its ack).
  local me, ref = self(), mb.make_ref()
  local sopts = { link = link, _start_ref = ref, name = type(name) == "string" and name or nil }
  for k in next, SPAWN_OPTS do sopts[k] = opts[k] end
  local ok, pid = pcall(mb.spawn_opt, "moonbeam.gen_server:enter", sopts,
                        module, arg, link and me or nil, name, me, ref)
  if not ok then
    local other = name and whereis(name)
    if other then return failed({ "already_started", other }) end
    -- A spawn option the core refused, or module or arg unsendable: named
    -- after the call the user made, module and arg (spawn_opt's arguments
    -- #3 and #4) as its arguments #1 and #2, or arg as arg_name.
    local msg = tostring(pid)
    local what = msg:match("^spawn_opt: (.*)")
    if what then
      what = what:gsub("^argument #([34])", function(n)
        return n == "4" and arg_name or "argument #" .. (n - 2)
      end, 1)
    end
    error(what and fn .. ": " .. what or msg, 2)   -- the caller of gen_server.start (a tail call: start is level 1)
  end
  local started, why = gen.await_start(pid, ref, link, timeout)
  if not started then return failed(why) end
  return started
end

function M.start(module, arg, opts) return start(false, module, arg, opts, "gen_server.start") end
function M.start_link(module, arg, opts) return start(true, module, arg, opts, "gen_server.start_link") end

--- _start(link, module, arg, opts, fn, [arg_name]): start or start_link
-- whose misuse errors name fn, the call the user made (agent.start), and
-- arg as arg_name; not API.
M._start = start

return M
