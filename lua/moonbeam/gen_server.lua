--- moonbeam.gen_server: OTP's gen_server for moonbeam processes.
--
-- The client half (start, call, cast, reply, stop, the sys tools) runs in
-- the caller; the server half (enter, the loop) runs in the process that
-- start spawned. A call is {"$gen_call", {pid, ref}, request}, exchanged
-- through moonbeam.gen, which supervisor shares. Semantics: docs/semantics.md
-- ("Calls", "gen_server").
local mb = require "moonbeam"
local gen = require "moonbeam.gen"

local type, select, error, pcall, xpcall, tostring, rawget, next, setmetatable, getmetatable, require =
  type, select, error, pcall, xpcall, tostring, rawget, next, setmetatable, getmetatable, require
local send, receive, self = mb.send, mb.receive, mb.self
local whereis, is_pid, now, c_reply = mb.whereis, mb.is_pid, mb.now, mb.reply
local core_exit = mb.exit
local c_recv_request, c_wait, c_yield, c_send_tagged = mb.recv_request, mb.wait, mb.yield, mb.send_tagged

local M = {}

local CALL, CAST, SYS = "$gen_call", "$gen_cast", "$gen_sys"
M.DEFAULT_TIMEOUT = 5000


-- ---- shared checks ----------------------------------------------------

-- The callers' checks (moonbeam.util) are loaded on first use: a server
-- process that is only called does not carry them.
local util_module
local function util()
  util_module = util_module or require "moonbeam.util"
  return util_module
end

-- Via names' registry: likewise, with the first via name.
local registry_module
local function registry()
  registry_module = registry_module or require "moonbeam.registry"
  return registry_module
end

local function check_server(server, fn)
  if type(server) == "string" or is_pid(server) or util().is_node_name(server) or util().is_via(server) then return end
  error(fn .. ": server must be a pid, a registered name, {name, node} or a via name, got " .. type(server), 3)
end

local function deep_equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in next, a do if not deep_equal(v, rawget(b, k)) then return false end end
  for k in next, b do if rawget(a, k) == nil then return false end end
  return true
end

--- call(server, request, [timeout]) -> reply; raises {"timeout"},
-- {"noproc"}, {"exit", reason}, {"calling_self"}, {"deadlock", chain} or
-- {"overloaded"} (the server's full mailbox refused the request).
function M.call(server, req, timeout)
  check_server(server, "gen_server.call")
  local ms = util().check_timeout(timeout, "gen_server.call", M.DEFAULT_TIMEOUT)
  local ok, v = gen.call(server, CALL, req, ms)
  if not ok then error(util().failure(v, "gen_server.call", server, req, timeout), 2) end
  return v
end

--- try_call: the same, but returns nil, err instead of raising.
function M.try_call(server, req, timeout)
  check_server(server, "gen_server.try_call")
  local ms = util().check_timeout(timeout, "gen_server.try_call", M.DEFAULT_TIMEOUT)
  local ok, v = gen.call(server, CALL, req, ms)
  if ok then return v end
  return nil, util().failure(v, "gen_server.try_call", server, req, timeout)
end

--- cast(server, msg) -> true, always (a dead pid, an unknown name or a
-- full mailbox drops it, as OTP's cast is fire-and-forget).
function M.cast(server, msg)
  check_server(server, "gen_server.cast")
  local pid = server
  if not is_pid(server) then   -- the common case, a pid, looks no further
    if util().is_node_name(server) then
      if server[2] ~= mb.node() then return send(server, mb.tuple(mb.atom(CAST), msg)) end
      server = server[1]
    end
    pid = whereis(server)
  end
  if pid and c_send_tagged(pid, CAST, msg) then c_yield() end   -- {CAST, msg}; yield when the slice is used up
  return true
end

--- reply(from, reply) -> true; from any process, once per call.
function M.reply(from, value)
  if type(from) ~= "table" or not is_pid(from[1]) then
    error("gen_server.reply: from must be the 'from' a handle_call received", 2)
  end
  return c_reply(from[1], from[2], value)
end

-- ---- sys-like tools ---------------------------------------------------

local function sys(server, fn, req, timeout)
  check_server(server, "gen_server." .. fn)
  local ms = util().check_timeout(timeout, "gen_server." .. fn, M.DEFAULT_TIMEOUT, nil, 4)
  local ok, v = gen.call(server, SYS, req, ms)
  if not ok then error(util().failure(v, "gen_server." .. fn, server, timeout), 3) end
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
  local r = sys(server, "replace_state", { "replace_state", fn }, timeout)
  if r[1] ~= "ok" then
    error(util().failure({ "callback_failed", r[2] }, "gen_server.replace_state", server, fn), 2)
  end
  return r[2]
end

--- stop(server, [reason], [timeout]) -> true once it exited with reason.
function M.stop(server, reason, timeout)
  check_server(server, "gen_server.stop")
  local given = reason
  if reason == nil then reason = "normal" end
  local ms = util().check_timeout(timeout, "gen_server.stop", nil)
  local function fail(err) error(util().failure(err, "gen_server.stop", server, given, timeout), 3) end
  local pid = server
  if util().is_node_name(server) and server[2] == mb.node() then server = server[1] end
  local ok, v
  if util().is_node_name(server) or is_pid(server) and mb.node(server) ~= mb.node() then
    ok, v = require("moonbeam.node").stop(server, reason, ms)   -- a server on another node
  else
    if not is_pid(server) then pid = whereis(server) end
    if not pid then fail({ "noproc" }) end
    if pid == self() then fail({ "calling_self" }) end
    ok, v = gen.stop(pid, SYS, { "stop", reason }, ms)
  end
  if not ok then fail(v) end
  if not deep_equal(v, reason) then fail({ "exit", v }) end
  return true
end

-- ---- start ------------------------------------------------------------

local function check_module(module, fn)
  local t = type(module)
  if t == "string" or t == "table" then return end
  error(fn .. ": module must be a module name or a table of callbacks, got " .. t, 3)
end

local SPAWN_OPTS = { memory_limit = true, trap_exit = true, max_queue = true, on_full = true }

local function check_opts(opts, fn)
  if opts ~= nil and type(opts) ~= "table" then error(fn .. ": opts must be a table", 3) end
  local name = opts and opts.name
  if name ~= nil and not util().is_name(name) and not util().is_via(name) then
    local via = type(name) == "table" and ", or {\"via\", registry, key}" or ""
    error(fn .. ": name must be a non-empty string without NUL bytes" .. via, 3)
  end
end

-- Its checks raise at level 3: start(module...) is a tail call, so that is
-- the caller of gen_server.start.
local function start(link, module, arg, opts, fn)
  check_module(module, fn)
  check_opts(opts, fn)
  opts = opts or {}
  local name = opts.name
  local timeout = util().check_timeout(opts.timeout, fn, nil)
  if name then
    local other = whereis(name)
    if other then return nil, { "already_started", other } end
  end
  -- A via name is taken by the new process itself, before init (enter).
  local sopts = { link = link, monitor = true, name = type(name) == "string" and name or nil }
  for k in next, SPAWN_OPTS do sopts[k] = opts[k] end
  local ok, pid, ref = pcall(mb.spawn_opt, "moonbeam.gen_server:enter", sopts,
                             module, arg, link and self() or nil, name)
  if not ok then
    local other = name and whereis(name)
    if other then return nil, { "already_started", other } end
    error(pid, 3)
  end
  return gen.sync_start(pid, ref, link, timeout)
end

function M.start(module, arg, opts) return start(false, module, arg, opts, "gen_server.start") end
function M.start_link(module, arg, opts) return start(true, module, arg, opts, "gen_server.start_link") end

-- ---- the server -------------------------------------------------------

-- Reports (crashes, traces, get_status) are loaded when first made: a
-- server that never crashes does not carry them.
local report_module
local function report()
  report_module = report_module or require "moonbeam.report"
  return report_module
end

local EXIT_MARK = {}   -- mb.exit(reason) inside a callback: stop with reason

local function is_normal(reason)
  return reason == "normal" or reason == "shutdown" or
    (type(reason) == "table" and reason[1] == "shutdown")
end

local function on_error(e)
  if type(e) == "table" and e[1] == EXIT_MARK then return e end
  local msg = e
  -- What cannot be sent as it is keeps its printable form (an error
  -- object's __tostring): the exit reason must cross to links and monitors.
  -- moonbeam's own error tables ({"timeout"}, ...) are sent as they are.
  local mt = type(e) == "table" and getmetatable(e)
  if type(e) ~= "string" and (type(e) ~= "table" or mt and mt.__name ~= "moonbeam.error") then
    local ok, s = pcall(tostring, e)
    msg = ok and type(s) == "string" and s or ("(an error value of type " .. type(e) .. ")")
  end
  -- The callback's own frames; moonbeam's (stripped, nameless) ones are noise.
  local tb = debug.traceback("", 2):gsub("^\n", "")
    :gsub("\n%s*%[string \"moonbeam[%w%._]*\"%][^\n]*", "")
    :gsub("\n%s*%[C%]: in function ''", "")
  return { "error", msg, tb }
end

-- A callback's results without a table (one per message would cost more
-- than the rest of a cast): n, then the first four, as no return that
-- docs/reference.md lists has more. More than four is a bad return: then
-- the first is a table of them all, for its report.
local function results(n, ...)
  if n > 4 then return n, { ... } end
  return n, ...
end

local function finish(S, ok, ...)
  S.in_callback = false
  if ok then return true, results(select("#", ...), ...) end
  local e = ...
  if type(e) == "table" and e[1] == EXIT_MARK then return false, e[2] end
  return false, e
end

-- Runs a callback; returns true, n, results... (as results gives them) or
-- false, exit reason.
local function run(S, f, ...)
  S.in_callback = true
  return finish(S, xpcall(f, on_error, ...))
end

local function trace(S, what, ...)
  if not S.trace then return end
  local parts = { ("*DBG* %s %s"):format(tostring(self()), what) }
  for i = 1, select("#", ...) do parts[#parts + 1] = report().render(select(i, ...), 2, 200) end
  io.stderr:write(table.concat(parts, " "), "\n")
end

-- Stop the server: terminate, a crash report if abnormal, then exit.
local function terminate(S, reason, last)
  local mod = S.mod
  if type(mod.terminate) == "function" then
    local ok, err = run(S, mod.terminate, reason, S.state)
    if not ok then reason = err end   -- a crashing terminate replaces the reason
  end
  if S.pending_reply then   -- "stop" with a reply: it goes out after terminate
    gen.reply(S.pending_reply[1], S.pending_reply[2])   -- an unsendable one tells the caller so
  end
  if not is_normal(reason) then report().crash(S, reason, last) end
  core_exit(reason)
end

-- What {"bad_return_value", x} shows of a callback's n results.
local function bad_value(n, a, b, c, d)
  if n == 1 or n > 4 then return a end   -- the value, or the table of them all
  return { a, b, c, d }
end

local function bad_return(S, cb, last, ...)
  S.bad = cb
  return terminate(S, { "bad_return_value", bad_value(...) }, last)
end

-- Apply an extra (a timeout, "hibernate", {continue = x}); false if
-- invalid. A timeout of "infinity" (math.huge, or longer than a timer can
-- be set for) sets none.
local function set_extra(S, extra)
  S.deadline, S.continue = nil, nil
  if extra == nil then return true end
  if type(extra) == "number" or extra == "infinity" then
    local ms = util().timeout_ms(extra)
    if ms == false then return false end
    if ms then S.deadline = now() + ms end
  elseif extra == "hibernate" then
    collectgarbage("collect")
  elseif type(extra) == "table" and next(extra) == "continue" and next(extra, "continue") == nil then
    S.continue = { extra.continue }
  else
    return false
  end
  return true
end

--- What callback cb returned (n results, the first the tag), as one
-- action: kind, state, extra, reason, reply. kind is "ok" or "ignore"
-- (init only), "reply", "noreply", "stop", "stop_reply" (handle_call's
-- stop with a reply), or nil: a return docs/reference.md does not list for cb.
local function decode(cb, n, tag, b, c, d)
  if cb == "init" then
    if tag == "ok" and (n == 2 or n == 3) then return "ok", b, c end
    if tag == "ignore" and n == 1 then return "ignore" end
    if tag == "stop" and n == 2 then return "stop", nil, nil, b end
    return nil
  end
  if tag == "noreply" and (n == 2 or n == 3) then return "noreply", b, c end
  if tag == "stop" and n == 3 then return "stop", c, nil, b end
  if cb ~= "handle_call" then return nil end
  if tag == "reply" and (n == 3 or n == 4) then return "reply", c, d, nil, b end
  if tag == "stop" and n == 4 then return "stop_reply", d, nil, b, c end
  return nil
end

-- A callback's results (n, values), or its crash's end of the server.
local function ran(S, msg, ok, ...)
  if not ok then return terminate(S, (...), msg) end
  return ...
end

-- Run callback name on msg (and extra_arg); its results as run gives
-- them, or nothing when there is no handle_info to run.
local function dispatch(S, name, msg, extra_arg)
  local f = S.mod[name]
  if type(f) ~= "function" then
    if name == "handle_info" then
      report().unexpected(S, msg)
      return
    end
    return terminate(S, { "undef", name }, msg)
  end
  if extra_arg ~= nil then return ran(S, msg, run(S, f, msg, extra_arg, S.state)) end
  return ran(S, msg, run(S, f, msg, S.state))
end

-- The message a report shows: last, or the envelope of a cast taken
-- without one.
local function cast_envelope(cb, arg, last)
  if cb == "handle_cast" and last == nil then return { CAST, arg } end
  return last
end

-- Run callback cb of the loop on arg (and from, a call's caller) and do
-- what it returned; last is the message a crash report shows for a bad
-- return or a stop (nil for a cast: its envelope, made when needed).
local function handle(S, cb, arg, from, last)
  local n, a, b, c, d = dispatch(S, cb, arg, from)
  if not n then return end
  local kind, state, extra, reason, reply = decode(cb, n, a, b, c, d)
  if kind == "reply" or kind == "noreply" then
    S.state = state
    if set_extra(S, extra) then
      if kind == "noreply" then return end
      if S.trace then trace(S, "sent reply", reply, "to", from[1]) end
      return gen.reply(from, reply)
    end
  elseif kind == "stop" or kind == "stop_reply" then
    S.state = state
    -- terminate first; the reply goes out even if terminate crashes
    if kind == "stop_reply" then S.pending_reply = { from, reply } end
    return terminate(S, reason, cast_envelope(cb, arg, last))
  end
  return bad_return(S, cb, cast_envelope(cb, arg, last), n, a, b, c, d)
end

local function deep_copy(v, seen)
  if type(v) ~= "table" then return v end
  if seen[v] then return seen[v] end
  local c = {}
  seen[v] = c
  for k, x in next, v do c[deep_copy(k, seen)] = deep_copy(x, seen) end
  return setmetatable(c, getmetatable(v))
end

local function handle_sys(S, msg)
  local from, req = msg[2], msg[3]
  local what = req[1]
  local reply
  if what == "get_state" then
    reply = S.state
  elseif what == "replace_state" then
    -- fn may change the state in place before it raises: keep a copy.
    local saved = deep_copy(S.state, {})
    local ok, new = pcall(req[2], S.state)
    if ok then S.state = new; reply = { "ok", new } else S.state = saved; reply = { "error", new } end
  elseif what == "suspend" then
    S.suspended = true; reply = true
  elseif what == "resume" then
    S.suspended = false; reply = true
  elseif what == "get_status" then
    reply = { pid = self(), module = S.label_module, status = S.suspended and "suspended" or "running",
              state = report().status_state(S), message_queue_len = mb.queue_len(), name = S.name }
  elseif what == "trace" then
    S.trace = req[2]; reply = true
  elseif what == "stop" then
    if req[3] then gen.reply(from, mb.atom("ok")) end   -- Erlang's sys:terminate waits for it
    return terminate(S, req[2], msg)
  else
    reply = { "error", "unknown system request" }
  end
  return gen.reply(from, reply)
end

local function is_sys(m) return type(m) == "table" and m[1] == SYS end

local current   -- the server this process runs (enter sets it): what a reload changes

--- _code_change(req, old, new, extra): mb.reload made new the version of
-- module old (moonbeam.reload). nil: old is not this server's callback
-- module; "later": it is, and the server is inside a callback, so it
-- changes once the callback returns; true: the server runs new, with the
-- state new.code_change(old.vsn, state, extra) gave (a module without
-- code_change keeps the state as it is); false, why: code_change raised or
-- returned something else than "ok", state, and the server keeps its old
-- code and state.
function M._code_change(req, old, new, extra)
  local S = current
  if not S or S.mod ~= old then return nil end
  if S.in_callback then
    S.code_pending = S.code_pending or {}
    S.code_pending[#S.code_pending + 1] = { req, old, new }
    return "later"
  end
  if type(new) ~= "table" then return false, "the new version is a " .. type(new) .. ", not a table of callbacks" end
  local f = new.code_change
  if f ~= nil then
    local saved = deep_copy(S.state, {})   -- code_change may change it in place before it raises
    local old_vsn = type(old) == "table" and old.vsn or nil
    local ok, n, tag, state = run(S, f, old_vsn, S.state, extra)
    if not ok or n ~= 2 or tag ~= "ok" then
      S.state = saved
      return false, ok and { "bad_return_value", tag } or n
    end
    S.state = state
  end
  S.mod = new
  return true
end

-- Code changes put off while a callback ran (it received: _code_change).
local function pending_code(S)
  local q = S.code_pending
  S.code_pending = nil
  local reload = require "moonbeam.reload"
  for i = 1, #q do reload.settle(q[i][1], q[i][2], q[i][3]) end
end

local function loop(S)
  while true do
    if S.code_pending then pending_code(S) end
    if S.continue then
      local arg = S.continue[1]
      S.continue = nil
      handle(S, "handle_continue", arg, nil, arg)
    else
      local msg, from, req, cast
      if S.suspended then
        msg = receive(is_sys)
      elseif S.deadline then
        msg = receive(math.max(0, S.deadline - now()))
      else   -- the common case: what is there, else wait
        local kind, over, a, b = c_recv_request()
        while true do
          if over then c_yield() end   -- the slice is used up, or an exit signal ends us here
          if kind == 3 then mb._take_code(a)   -- a code change (mb.reload) comes before any message
          elseif kind then break
          else c_wait() end
          kind, over, a, b = c_recv_request()
        end
        -- A call or a cast comes without its envelope's table.
        if kind == 1 then from, req = a, b elseif kind == 2 then cast = a else msg = a end
      end
      -- Any message but a system one cancels the timeout; system messages
      -- leave it running with its original deadline (OTP re-arms it).
      if not is_sys(msg) then S.deadline = nil end
      if from then
        if S.trace then trace(S, "got call", req, "from", from[1]) end
        handle(S, "handle_call", req, from, req)
      elseif cast ~= nil then
        if S.trace then trace(S, "got cast", cast) end
        handle(S, "handle_cast", cast)   -- its envelope is made only for a report
      elseif msg == nil then
        trace(S, "got timeout")
        handle(S, "handle_info", "timeout", nil, "timeout")
      elseif type(msg) == "table" and msg[1] == CALL then
        from, req = msg[2], msg[3]
        if S.trace then trace(S, "got call", req, "from", from[1]) end
        handle(S, "handle_call", req, from, req)
      elseif type(msg) == "table" and msg[1] == CAST then
        if S.trace then trace(S, "got cast", msg[2]) end
        handle(S, "handle_cast", msg[2], nil, msg)
      elseif type(msg) == "table" and msg[1] == SYS then
        handle_sys(S, msg)
      elseif type(msg) == "table" and msg[1] == "EXIT" and msg[2] == S.parent and S.parent then
        terminate(S, msg[3], msg)   -- the parent's exit, seen because we trap exits
      else
        if S.trace then trace(S, "got info", msg) end
        handle(S, "handle_info", msg, nil, msg)
      end
    end
  end
end

--- The body of a server process (spawned by start).
function M.enter(module, arg, parent, name)
  local starter, ref = gen.wait_start()
  local label_module = type(module) == "string" and module or "(table)"
  local via = type(name) == "table"
  local S = { parent = parent, name = name, label_module = label_module,
              label = via and registry().show(name) or name and ("'" .. name .. "'") or tostring(self()) }
  local function fail(reason)
    gen.init_ack(starter, ref, "stop", reason)
    core_exit(reason)
  end
  if via then
    local ok, why = registry().register_via(name, "gen_server.start")
    if not ok then
      -- Not started: it ends normal, so a linked starter lives (as for a taken name).
      gen.init_ack(starter, ref, "stop", why)
      return core_exit("normal")
    end
  end

  local mod = module
  if type(module) == "string" then
    local ok, m = pcall(require, module)
    if not ok then return fail({ "error", (tostring(m):gsub(":%s*\n%s*", ": ", 1):gsub("\n%s*", "; ")), "" }) end
    mod = m
  end
  if type(mod) ~= "table" then
    return fail({ "error", ("callback module '%s' is a %s, not a table of callbacks"):format(label_module, type(mod)), "" })
  end
  if type(mod.init) ~= "function" then return fail({ "undef", "init" }) end
  S.mod = mod
  current = S

  -- Inside this process, mb.exit(reason) in a callback stops the server
  -- with that reason (terminate runs), as exit/1 does in a gen_server.
  mb.exit = function(a, b)
    if b == nil and S.in_callback then error({ EXIT_MARK, a }, 0) end
    return core_exit(a, b)
  end

  local ok, n, a, b, c, d = run(S, mod.init, arg)
  if not ok then return fail(n) end   -- run's false, reason
  local kind, state, extra, reason = decode("init", n, a, b, c, d)
  if kind == "ok" then
    S.state = state
    if not set_extra(S, extra) then return fail({ "bad_return_value", bad_value(n, a, b, c, d) }) end
    gen.init_ack(starter, ref, "ok")
    return loop(S)
  elseif kind == "ignore" then
    gen.init_ack(starter, ref, "ignore")
    -- the starter sees "ignore" in the reply, then our normal DOWN
    return core_exit("normal")
  elseif kind == "stop" then
    return fail(reason)
  end
  return fail({ "bad_return_value", bad_value(n, a, b, c, d) })
end

return M
