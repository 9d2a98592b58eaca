--- moonbeam.gen_loop: a gen_server's whole loop, in Lua: enter (the body
-- of a supervisor's child, and of a start the short path does not take),
-- the loop, and _resume, with which moonbeam.gen_step's short path hands a
-- server over when something out of its way comes (a timeout, hibernate
-- or continue returned, a stop, a crash, a system message, a code change,
-- an EXIT). Semantics: docs/semantics.md ("Calls", "gen_server").
local mb = require "moonbeam"

local type, select, xpcall, pcall, tostring, next, require, unpack =
  type, select, xpcall, pcall, tostring, next, require, unpack
-- core_exit: the C exit(reason) (mb.exit, which also takes a destination,
-- is moonbeam.api_rest's, which a server does not load for its own ends).
local now, c_reply, core_exit = mb.now, mb.reply, mb._c_exit
local c_recv_request, c_yield = mb.recv_request, mb.yield

local M = {}

local CALL, CAST, SYS = "$gen_call", "$gen_cast", "$gen_sys"

local lazy = mb._lazy
local sys, report, registry = lazy "moonbeam.gen_sys", lazy "moonbeam.report", lazy "moonbeam.registry"

-- The server's own replies: one that cannot be sent becomes an error for
-- the caller (moonbeam.gen turns it into {"bad_reply", why}); the server
-- goes on, as the value, not the server, is at fault (core._gen_answer).
local gen_answer, call_deferred, call_serving = mb._gen_answer, mb._call_deferred, mb._call_serving
local function answer(from, value) gen_answer(from[1], from[2], value) end

-- ---- running callbacks --------------------------------------------------

-- mb.exit(reason) inside a callback: stop with reason (moonbeam.gen_step's
-- mb.exit raises the same mark).
local EXIT_MARK = mb._gen_exit_mark()

-- "normal", "shutdown" or {"shutdown", detail} (a pair, as OTP's {shutdown, _}).
local function is_normal(reason)
  return reason == "normal" or reason == "shutdown" or
    (type(reason) == "table" and reason[1] == "shutdown" and reason[2] ~= nil and reason[3] == nil)
end

-- A callback's error, with where it was raised (as moonbeam.gen_step's).
local function on_error(e) return { e, debug.traceback("", 2) } end

-- What xpcall gave for an error: on_error's error and traceback (or what
-- an error in on_error left).
local function raised(r)
  if type(r) == "table" then return r[1], r[2] end
  return r, ""
end

-- That as a callback's exit reason: {"error", msg, traceback}
-- (moonbeam.report says how), or mb.exit's reason as it is.
local function raised_reason(r)
  local e, traceback = raised(r)
  if type(e) == "table" and e[1] == EXIT_MARK then return e[2] end
  return report().crash_reason(e, traceback)
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
  return false, raised_reason((...))
end

-- Runs a callback; returns true, n, results... (as results gives them) or
-- false, exit reason.
local function run(S, f, ...)
  S.in_callback = true
  return finish(S, xpcall(f, on_error, ...))
end

-- A reason no process can end with (one that holds a coroutine, or a
-- table with a metatable: no message carries them) is the callback's bad
-- return: the server ends with {"bad_return_value", what is wrong}.
local function endable(reason)
  local ok, why = mb._sendable(reason)
  if ok then return reason end
  return { "bad_return_value", why }
end

-- Stop the server: terminate, a crash report if abnormal, then exit.
local function terminate(S, reason, last)
  local mod = S.mod
  if type(mod.terminate) == "function" then
    local ok, err = run(S, mod.terminate, reason, S.state)
    if not ok then reason = err end   -- a crashing terminate replaces the reason
  end
  reason = endable(reason)
  if S.pending_reply then   -- "stop" with a reply: it goes out after terminate
    answer(S.pending_reply[1], S.pending_reply[2])   -- an unsendable one tells the caller so
  end
  if not is_normal(reason) then report().crash(S, reason, last) end
  core_exit(reason)
end

-- What {"bad_return_value", x} shows of a callback's n results.
local function bad_value(n, a, b, c, d)
  if n == 1 or n > 4 then return a end   -- the value, or the table of them all
  return { a, b, c, d }
end

-- The longest timeout a timer is set for (moonbeam.util's rule, here so
-- that a server does not load util for it).
local MAX_TIMEOUT = mb._max_timeout

-- Apply an extra (a timeout, "hibernate", {continue = x}); false if
-- invalid. A timeout of "infinity" (math.huge, or longer than a timer can
-- be set for) sets none.
local function set_extra(S, extra)
  S.deadline, S.continue = nil, nil
  if extra == nil then return true end
  if type(extra) == "number" then
    if not (extra >= 0) then return false end
    if extra <= MAX_TIMEOUT then S.deadline = now() + extra end
  elseif extra == "hibernate" then
    collectgarbage("collect")
  elseif type(extra) == "table" and next(extra) == "continue" and next(extra, "continue") == nil then
    S.continue = { extra.continue }
  elseif extra ~= "infinity" then
    return false
  end
  return true
end

--- What callback cb returned (n results, the first the tag), as one
-- action: kind, state, extra, reason, reply. kind is "ok", "ignore" or
-- "error" (init only), "reply", "noreply", "stop", "stop_reply" (handle_call's
-- stop with a reply), or nil: a return docs/reference.md does not list for cb.
-- A "stop" whose reason is nil is one: no process can end with nil.
local function decode(cb, n, tag, b, c, d)
  if tag == "stop" and b == nil then return nil end
  if cb == "init" then
    if tag == "ok" and (n == 2 or n == 3) then return "ok", b, c end
    if tag == "ignore" and n == 1 then return "ignore" end
    if tag == "stop" and n == 2 then return "stop", nil, nil, b end
    if tag == "error" and n == 2 and b ~= nil then return "error", nil, nil, b end
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

-- Do what callback cb of the loop returned (n results, as run gives
-- them) for arg (and from, a call's caller); last is the message a crash
-- report shows for a bad return or a stop (nil for a cast: its envelope,
-- made when needed).
local function returned(S, cb, arg, from, last, n, a, b, c, d)
  local kind, state, extra, reason, reply = decode(cb, n, a, b, c, d)
  -- A bad extra is a bad return: terminate and the report get the state
  -- from before the callback, as OTP's (not what stood in the state's place).
  if (kind == "reply" or kind == "noreply") and set_extra(S, extra) then
    S.state = state
    if kind == "noreply" then
      -- from is the reply's to give, maybe by another process: the
      -- caller no longer counts as waiting on this server (core/call.h).
      if from then call_deferred(from[1], from[2]) end
      return
    end
    if S.trace then sys().trace(S, "sent reply", reply, "to", from[1]) end
    return answer(from, reply)
  end
  if cb == "handle_cast" and last == nil then last = { CAST, arg } end   -- a cast's envelope, for its report
  if kind == "stop" or kind == "stop_reply" then
    S.state = state
    -- terminate first; the reply goes out even if terminate crashes
    if kind == "stop_reply" then S.pending_reply = { from, reply } end
    return terminate(S, reason, last)
  end
  S.bad = cb
  return terminate(S, { "bad_return_value", bad_value(n, a, b, c, d) }, last)
end

-- Run callback cb of the loop on arg (and from) and do what it returned.
local function handle(S, cb, arg, from, last)
  local n, a, b, c, d = dispatch(S, cb, arg, from)
  if not n then return end
  return returned(S, cb, arg, from, last, n, a, b, c, d)
end

-- ---- the loop -----------------------------------------------------------

local current   -- the server this process runs (enter sets it): what a reload changes

--- _code_change(req, old, new, extra): mb.reload made new the version of
-- module old (moonbeam.reload); moonbeam.gen_sys says what it returns.
-- nil: this process runs no server.
function M._code_change(req, old, new, extra)
  -- A server on moonbeam.gen_step's short path: handed over here once its
  -- callback returns.
  local step = package.loaded["moonbeam.gen_step"]
  local S = current or step and step.current
  if not S then return nil end
  return sys().code_change(S, run, req, old, new, extra)
end

-- The next message, as the loop takes it: from, req for a call, nil, nil,
-- cast for a cast, nil, nil, nil, msg for any other (msg nil: the timeout).
local function next_message(S)
  -- Suspended: its own receive (moonbeam.gen_sys). No closure made here:
  -- one would keep this loop's function from being compiled.
  if S.suspended then return nil, nil, nil, sys().suspended_message(S) end
  if S.deadline then
    local ms = S.deadline - now()
    return nil, nil, nil, mb.receive(ms > 0 and ms or 0)   -- nil: the timeout
  end
  -- The common case: what is there, else it waits and returns nothing.
  local a, b, c, kind, over = c_recv_request()
  while true do
    if over then c_yield() end   -- the slice is used up, or an exit signal ends us here
    if kind == 3 then mb._take_code(a)   -- a code change (mb.reload) comes before any message
    elseif kind then break end
    a, b, c, kind, over = c_recv_request()
  end
  -- A call or a cast comes without its envelope's tables: a call's from is made here.
  if kind == 1 then return { a, b }, c end
  if kind == 2 then return nil, nil, a end
  return nil, nil, nil, a
end

-- Do what the loop does with one message, as next_message gives it
-- (timed: whether a timeout was running when it came).
local function take(S, timed, from, req, cast, msg)
  local t = type(msg) == "table" and msg[1]
  if t == CALL then
    from, req = msg[2], msg[3]
    -- taken by a plain receive: the core notes the call handled (its from
    -- sent anywhere is handed off), as recv_request does for the others
    if type(from) == "table" then call_serving(from[1], from[2]) end
  end
  -- Any message but a system one cancels the timeout; system messages
  -- leave it running with its original deadline (OTP re-arms it).
  if t ~= SYS then S.deadline = nil end
  if from then
    if S.trace then sys().trace(S, "got call", req, "from", from[1]) end
    handle(S, "handle_call", req, from, req)
  elseif cast ~= nil or t == CAST then
    if S.trace then sys().trace(S, "got cast", cast or msg[2]) end
    if cast ~= nil then handle(S, "handle_cast", cast)   -- its envelope is made only for a report
    else handle(S, "handle_cast", msg[2], nil, msg) end
  elseif msg == nil and timed then
    if S.trace then sys().trace(S, "got timeout") end
    handle(S, "handle_info", "timeout", nil, "timeout")
  elseif t == SYS then
    sys().handle(S, msg, terminate, answer)
  elseif t == "EXIT" and msg[2] == S.parent and S.parent then
    terminate(S, msg[3], msg)   -- the parent's exit, seen because we trap exits
  elseif msg ~= nil then
    if S.trace then sys().trace(S, "got info", msg) end
    handle(S, "handle_info", msg, nil, msg)
  end
end

local function loop(S)
  while true do
    if S.code_pending then sys().pending_code(S) end
    if S.continue then
      local arg = S.continue[1]
      S.continue = nil
      handle(S, "handle_continue", arg, nil, arg)
    else
      local timed = S.deadline
      take(S, timed, next_message(S))
    end
  end
end

-- Requiring a callback module failed with message m: the start's reason.
local function load_error(m)
  return { "error", (tostring(m):gsub(":%s*\n%s*", ": ", 1):gsub("\n%s*", "; ")), "" }
end

-- The callback module's table, or nil and the failure's reason.
local function callbacks(module, label)
  local mod = module
  if type(module) == "string" then
    local ok, m = pcall(require, module)
    if not ok then return nil, load_error(m) end
    mod = m
  end
  if type(mod) ~= "table" then
    return nil, { "error", ("callback module '%s' is a %s, not a table of callbacks"):format(label, type(mod)), "" }
  end
  if type(mod.init) ~= "function" then return nil, { "undef", "init" } end
  return mod
end

-- The starter's ack of init, to the ref it awaits: "ok", "ignore", or
-- "stop" and why. (Not closures over enter's starter and ref: those and
-- their upvalues were two hundred bytes of every server.)
local function ack(starter, ref, what, reason) c_reply(starter, ref, { what, reason }) end

-- init failed: the starter hears why, and the process ends with it; an
-- abnormal end is logged, as OTP's crash report of a failed init.
local function fail(S, starter, ref, reason)
  reason = endable(reason)
  ack(starter, ref, "stop", reason)
  if not is_normal(reason) then report().crash(S, reason, nil, true) end
  core_exit(reason)
end

-- The start after the callback module: init's results (ok, n, ...: as
-- run gives them) acked, then the loop.
local function initialized(S, starter, ref, ok, n, a, b, c, d)
  if not ok then return fail(S, starter, ref, n) end   -- run's false, reason
  local kind, state, extra, reason = decode("init", n, a, b, c, d)
  if kind == "ok" then
    S.state = state
    if not set_extra(S, extra) then return fail(S, starter, ref, { "bad_return_value", bad_value(n, a, b, c, d) }) end
    ack(starter, ref, "ok")
    return loop(S)
  elseif kind == "ignore" then
    ack(starter, ref, "ignore")
    -- the starter sees "ignore" in the reply, then our normal DOWN
    return core_exit("normal")
  elseif kind == "error" then
    -- OTP 26's silent failure: the starter gets the reason, and the
    -- process ends normal, so a linked starter lives on and nothing is logged.
    ack(starter, ref, "error", reason)
    return core_exit("normal")
  elseif kind == "stop" then
    return fail(S, starter, ref, reason)
  end
  return fail(S, starter, ref, { "bad_return_value", bad_value(n, a, b, c, d) })
end

-- This process runs S from now on. Its mb.exit: inside a callback,
-- mb.exit(reason) stops the server with that reason (terminate runs), as
-- exit/1 does in a gen_server (core._gen_exit).
local function take_over(S)
  current = S
  mb.exit = mb._gen_exit(S)
  S.in_callback = false
end

-- The start from the callback module on: S has its module's name or table.
local function start(S, starter, ref, arg)
  local mod, why = callbacks(S.mod, S.label_module)
  if not mod then return fail(S, starter, ref, why) end
  S.mod = mod
  return initialized(S, starter, ref, run(S, mod.init, arg))
end

--- enter(module, arg, parent, name, starter, ref): the body of a server
-- whose callback module is a table or whose name is a via name
-- (moonbeam.gen_step's enter, which awaited a supervisor's go first).
function M.enter(module, arg, parent, name, starter, ref)
  local label_module = type(module) == "string" and module or "(table)"
  if type(name) == "table" then
    local ok, why = registry().register_via(name, "gen_server.start")
    if not ok then
      -- Not started: it ends normal, so a linked starter lives (as for a taken name).
      ack(starter, ref, "stop", why)
      return core_exit("normal")
    end
  end
  -- Made with the fields every server has (and room for its state), not
  -- grown as they come.
  local S = { parent = parent, name = name, label_module = label_module, mod = module, in_callback = false }
  take_over(S)
  return start(S, starter, ref, arg)
end

--- _resume(S, how, what): moonbeam.gen_step hands its server over to this
-- loop (not API). S.state is the callbacks' state (once init returned it);
-- how says where the server was, what ({n = k, ...}) what it was at:
-- "message" {from, req, cast, msg}: a message it took, as next_message
--   gives it, that the short path does not handle;
-- "code" {nil, nil, nil, req}: a code change request it took;
-- "returned" {cb, arg, from, n, ...}: callback cb returned what the short
--   path does not do itself (n results, as run gives them);
-- "crashed" {cb, arg, error}: callback cb raised (error: as xpcall gave it);
-- "start" {starter, ref, arg}: its module loaded, but not a table with init;
-- "load_failed" {starter, ref, error}: requiring its module raised (error:
--   as xpcall gave it);
-- "initialized" {starter, ref, n, ...}: init returned other than "ok", state;
-- "init_crashed" {starter, ref, error}: init raised.
function M._resume(S, how, what)
  take_over(S)
  local a, b, c, d, e, f, g, h = unpack(what, 1, what.n)
  if how == "message" then
    take(S, nil, a, b, c, d)
  elseif how == "code" then
    mb._take_code(d)
  elseif how == "returned" then
    returned(S, a, b, c, a ~= "handle_cast" and b or nil, d, e, f, g, h)
  elseif how == "crashed" then
    return terminate(S, raised_reason(c), b)
  elseif how == "start" then
    return start(S, a, b, c)
  elseif how == "load_failed" then
    return fail(S, a, b, load_error((raised(c))))
  elseif how == "init_crashed" then
    return fail(S, a, b, raised_reason(c))
  else   -- "initialized"
    return initialized(S, a, b, true, c, d, e, f, g)
  end
  return loop(S)
end

return M
