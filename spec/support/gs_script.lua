-- A scriptable gen_server for the specs. Start it with
--   gen.start("spec.support.gs_script", {watcher = pid, state = s, ...})
-- init arguments (all optional):
--   watcher    a pid told of every callback as {"ev", server, callback, args...}
--   state      the initial state (default: nil)
--   extra      init's extra (a timeout, "hibernate", {continue = x})
--   ret        an array: init returns exactly unpack(ret, 1, ret.n or #ret)
--   init       an upvalue-free function(arg): init returns what it returns
--   terminate  an upvalue-free function(reason, state) run by terminate
--
-- Every message (request, cast, info, continue argument) may script its
-- callback:
--   {"fn", f, args...}  the callback returns f(from, state, args...) for a
--                       call and f(state, args...) otherwise (f upvalue-free)
--   {"ret", v...}       the callback returns v... with "$state" replaced by
--                       the current state
--   {"crash", message}  the callback raises message (from this file, so a
--                       traceback names it)
-- Otherwise: a call "state" replies the state, "ping" replies "pong",
-- {"set", v} replies true and makes v the state; a cast or info {"set", v}
-- makes v the state; anything else leaves the state alone.
local mb = require "moonbeam"

local M = {}

local watcher, on_terminate

local function note(...)
  if watcher then
    mb.send(watcher, { "ev", mb.self(), n = select("#", ...) + 2, ... })
  end
end
M.note = note

function M.set_terminate(f) on_terminate = f end

local function ret(t, state)
  local n = t.n or #t
  local out = {}
  for i = 2, n do
    local v = t[i]
    if v == "$state" then v = state end
    out[i - 1] = v
  end
  return unpack(out, 1, n - 1)
end

local function crash(msg)
  if type(msg) == "table" and msg[1] == "crash" then error(msg[2]) end
end

local function scripted(msg)
  return type(msg) == "table" and (msg[1] == "fn" or msg[1] == "ret")
end

function M.init(arg)
  arg = arg or {}
  watcher = arg.watcher
  on_terminate = arg.terminate
  note("init", arg.state)
  if type(arg.init) == "function" then return arg.init(arg) end
  if arg.ret then return unpack(arg.ret, 1, arg.ret.n or #arg.ret) end
  return "ok", arg.state, arg.extra
end

function M.handle_call(req, from, state)
  note("call", req, from)
  crash(req)
  if scripted(req) then
    if req[1] == "ret" then return ret(req, state) end
    return req[2](from, state, unpack(req, 3, req.n or #req))
  end
  if req == "state" then return "reply", state, state end
  if req == "ping" then return "reply", "pong", state end
  if type(req) == "table" and req[1] == "set" then return "reply", true, req[2] end
  return "reply", nil, state
end

local function noreply(cb, msg, state)
  note(cb, msg)
  crash(msg)
  if scripted(msg) then
    if msg[1] == "ret" then return ret(msg, state) end
    return msg[2](state, unpack(msg, 3, msg.n or #msg))
  end
  if type(msg) == "table" and msg[1] == "set" then return "noreply", msg[2] end
  return "noreply", state
end

function M.handle_cast(msg, state) return noreply("cast", msg, state) end
function M.handle_info(msg, state) return noreply("info", msg, state) end
function M.handle_continue(arg, state) return noreply("continue", arg, state) end

function M.terminate(reason, state)
  note("terminate", reason, state)
  if on_terminate then return on_terminate(reason, state) end
end

return M
