--- moonbeam.gen_step: a gen_server's short path. The body of every server
-- process (the runtime starts "moonbeam.gen_server:enter" here: see
-- bindings/vm.c) is enter below; a server with a callback module by name
-- (and no via name) runs here: its start, then a loop that does what most servers only ever do
-- (a call answered with "reply", a cast or a message with "noreply", no
-- timeout, hibernate or continue). Anything else hands the server over to
-- moonbeam.gen_loop (_resume), for good: a stop, a crash, a bad return, a
-- system message, a code change, an EXIT, a callback that is missing.
-- Those paths' code, which was most of an idle server's memory and a third
-- of its start, is then loaded by the servers that take one, and only
-- then. Semantics: docs/semantics.md ("gen_server").
local mb = require "moonbeam"

local type, select, error, xpcall, require = type, select, error, xpcall, require
local recv, yield, answer, c_reply, core_exit = mb.recv_request, mb.yield, mb._gen_answer, mb.reply, mb._c_exit

local M = {}

local EXIT_MARK = mb._gen_exit_mark()   -- what moonbeam.gen_loop stops a server for
local S   -- the server: what moonbeam.gen_loop keeps (its state, while this loop runs, excepted)

--- server() -> S of the server this process runs here, or nil (not API):
-- a code change inside a callback queues itself there (moonbeam.gen_sys).
function M.server() return S end

-- A callback's error, with where it was raised.
local function on_error(e) return { e, debug.traceback("", 2) } end

-- What xpcall gave for an error: on_error's error and traceback (or what
-- an error in on_error left).
local function raised(r)
  if type(r) == "table" then return r[1], r[2] end
  return r, ""
end

-- xpcall's results: ok, then how many it returned and the first four (more
-- than four: a table of them all), as moonbeam.gen_loop's run gives them.
local function counted(ok, ...)
  local n = select("#", ...)
  if n > 4 then return ok, n, { ... } end
  return ok, n, ...
end

-- mb.exit in the server: inside a callback, exit(reason) stops it with the
-- reason (as moonbeam.gen_loop's).
local function server_exit(...)
  local reason = ...
  if select("#", ...) == 1 and reason ~= nil and S.in_callback then error({ EXIT_MARK, reason }, 0) end
  if select("#", ...) < 2 then return core_exit(...) end
  return require("moonbeam.api_rest").exit(...)
end

-- Hand the server over to moonbeam.gen_loop (how and what: its _resume's).
local function hand_over(state, how, ...)
  S.state = state
  S.in_callback = false
  return require("moonbeam.gen_loop")._resume(S, how, { n = select("#", ...), ... })
end

-- A message the loop in Lua takes: a system one, an envelope that is not
-- well formed, an EXIT (its parent's ends the server).
local function out_of_the_way(msg)
  if type(msg) ~= "table" then return false end
  local t = msg[1]
  return t == "$gen_sys" or t == "EXIT" or t == "$gen_call" or t == "$gen_cast"
end

local function loop(mod, state)
  while true do
    local a, b, c, kind, over = recv()
    if over then yield() end   -- its turn is used up, or an exit signal ends it here
    if kind == 3 then return hand_over(state, "code", a) end
    -- a call: a, b the caller's pid and ref, c the request; a cast, a message: a
    if kind == 1 or kind == 2 or kind == 0 and not out_of_the_way(a) then
      local cb = kind == 1 and "handle_call" or kind == 2 and "handle_cast" or "handle_info"
      local f, from, arg = mod[cb], nil, a
      if kind == 1 then from, arg = { a, b }, c end
      if type(f) ~= "function" then
        return hand_over(state, "message", from, arg, kind == 2 and a or nil, kind == 0 and a or nil)
      end
      local ok, n, tag, x, y, z
      S.in_callback = true
      if from then
        ok, n, tag, x, y, z = counted(xpcall(f, on_error, arg, from, state))
      else
        ok, n, tag, x, y, z = counted(xpcall(f, on_error, arg, state))
      end
      S.in_callback = false
      if not ok then return hand_over(state, "crashed", cb, arg, raised(tag)) end
      if S.code_pending then   -- a code change met inside the callback: moonbeam.gen_loop applies it
        return hand_over(state, "returned", cb, arg, from, n, tag, x, y, z)
      end
      if from then
        if not (tag == "reply" and (n == 3 or n == 4 and z == nil)) then
          return hand_over(state, "returned", cb, arg, from, n, tag, x, y, z)
        end
        state = y
        answer(a, b, x)
      else
        if not (tag == "noreply" and (n == 2 or n == 3 and y == nil)) then
          return hand_over(state, "returned", cb, arg, from, n, tag, x, y, z)
        end
        state = x
      end
    elseif kind then
      return hand_over(state, "message", nil, nil, nil, a)
    end
  end
end

-- A start that did not get to the loop: moonbeam.gen_loop says why.
local function not_started(how, ...)
  S.in_callback = false
  return require("moonbeam.gen_loop")._resume(S, how, { n = select("#", ...), ... })
end

-- The start's go, when the starter did not give itself with the arguments
-- (a native supervisor sends {"$gen_start", ref, starter}).
local function is_start(m) return type(m) == "table" and m[1] == "$gen_start" end

--- enter(module, arg, parent, name, starter, ref): the body of a server
-- process (not API). starter, ref: whom to ack init to; nil: wait to be
-- told. A callback module as a table, or a via name: moonbeam.gen_loop's.
function M.enter(module, arg, parent, name, starter, ref)
  if type(module) ~= "string" or type(name) == "table" then
    return require("moonbeam.gen_loop").enter(module, arg, parent, name, starter, ref)
  end
  if starter == nil then
    local go = mb.receive(is_start)
    starter, ref = go[3], go[2]
  end
  S = { parent = parent, name = name, label_module = module, mod = module, in_callback = false }
  mb.exit = server_exit
  local ok, mod = xpcall(require, on_error, module)
  if not ok then return not_started("load_failed", starter, ref, (raised(mod))) end
  if type(mod) ~= "table" or type(mod.init) ~= "function" then return not_started("start", starter, ref, arg) end
  S.mod = mod
  S.in_callback = true
  local n, tag, x, y, z
  ok, n, tag, x, y, z = counted(xpcall(mod.init, on_error, arg))
  S.in_callback = false
  if not ok then return not_started("init_crashed", starter, ref, raised(tag)) end
  if not (tag == "ok" and (n == 2 or n == 3 and y == nil)) then
    return not_started("initialized", starter, ref, n, tag, x, y, z)
  end
  c_reply(starter, ref, { "ok" })
  return loop(mod, x)
end

return M
