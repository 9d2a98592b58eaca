--- moonbeam.gen_step: a gen_server's short path. Every server process's
-- body (the runtime starts "moonbeam.gen_server:enter" here: bindings/vm.c)
-- is enter below. A server with a callback module by name (and no via
-- name) runs here: its start, then a loop that does what most servers only
-- ever do: a call answered with "reply", a cast or a message with
-- "noreply", and no timeout, hibernate or continue; a normal stop of a
-- module with no terminate. Anything else hands the server over to
-- moonbeam.gen_loop, for good: another stop, a crash, a bad return, a
-- system message, a code change, an EXIT, a callback that is missing.
-- That code, most of what an idle server held and a third of its start,
-- is loaded by the servers that need it, then. Semantics:
-- docs/semantics.md ("gen_server").
local mb = require "moonbeam"

local type, select, xpcall, require = type, select, xpcall, require
local recv, yield, answer, c_reply, exit = mb.recv_request, mb.yield, mb._gen_answer, mb.reply, mb._c_exit

local M = {}

-- M.current: the server (S) this process runs here, its callback state
-- excepted; moonbeam.gen_loop keeps the same record. A code change met in
-- a callback queues itself there (moonbeam.gen_sys).

-- A callback's error, with where it was raised (moonbeam.gen_loop makes
-- the exit reason of both).
local function on_error(e) return { e, debug.traceback("", 2) } end

-- xpcall's results: ok, then how many it returned and the first four (more
-- than four: a table of them all), as moonbeam.gen_loop's run gives them.
local function counted(ok, ...)
  local n = select("#", ...)
  if n > 4 then return ok, n, { ... } end
  return ok, n, ...
end

-- Hand S over to moonbeam.gen_loop, how and what as its _resume takes them.
local function hand_over(S, state, how, ...)
  S.state = state
  S.in_callback = false
  return require("moonbeam.gen_loop")._resume(S, how, { n = select("#", ...), ... })
end

local function loop(S, mod, state)
  while true do
    -- a call: a, b the caller's pid and ref, c the request; a cast or a
    -- message: a. Kind 4: a message for the whole loop (a system one, an
    -- EXIT, an envelope that is not well formed); 3: a code change.
    local a, b, c, kind, over = recv(true)
    if over then yield() end   -- its turn is used up, or an exit signal ends it here
    if kind == 1 or kind == 2 or kind == 0 then
      local cb = kind == 1 and "handle_call" or kind == 2 and "handle_cast" or "handle_info"
      local f, from, arg = mod[cb], nil, a
      if kind == 1 then from, arg = { a, b }, c end
      if type(f) ~= "function" then
        local cast, msg   -- as they came: false too
        if kind == 2 then cast = a elseif kind == 0 then msg = a end
        return hand_over(S, state, "message", from, arg, cast, msg)
      end
      local ok, n, tag, x, y, z
      S.in_callback = true
      if from then
        ok, n, tag, x, y, z = counted(xpcall(f, on_error, arg, from, state))
      else
        ok, n, tag, x, y, z = counted(xpcall(f, on_error, arg, state))
      end
      S.in_callback = false
      if not ok then return hand_over(S, state, "crashed", cb, arg, tag) end
      -- a reply, or a cast's or message's noreply; a code change met inside
      -- the callback is moonbeam.gen_loop's
      if S.code_pending then
        return hand_over(S, state, "returned", cb, arg, from, n, tag, x, y, z)
      elseif from and tag == "reply" and (n == 3 or n == 4 and z == nil) then
        state = y
        answer(a, b, x)
      elseif not from and tag == "noreply" and (n == 2 or n == 3 and y == nil) then
        state = x
      elseif tag == "stop" and (n == 3 or from and n == 4) and type(mod.terminate) ~= "function" and
             (x == "normal" or x == "shutdown") then
        -- a normal stop with no terminate to run: its reply (stop with a
        -- reply), and the end, with no report
        if n == 4 then answer(a, b, y) end
        return exit(x)
      else
        return hand_over(S, state, "returned", cb, arg, from, n, tag, x, y, z)
      end
    elseif kind then
      return hand_over(S, state, kind == 3 and "code" or "message", nil, nil, nil, a)
    end
  end
end

-- The start's go, when the starter did not give itself with the arguments
-- (a native supervisor sends {"$gen_start", ref, starter}).
local function is_start(m) return type(m) == "table" and m[1] == "$gen_start" end

--- enter(module, arg, parent, name, starter, ref): the body of a server
-- process (not API). starter, ref: whom to ack init to; nil: wait to be
-- told. A callback module as a table, or a via name: moonbeam.gen_loop's.
function M.enter(module, arg, parent, name, starter, ref)
  if starter == nil then
    local go = mb.receive(is_start)
    starter, ref = go[3], go[2]
  end
  if type(module) ~= "string" or type(name) == "table" then
    return require("moonbeam.gen_loop").enter(module, arg, parent, name, starter, ref)
  end
  local S = { parent = parent, name = name, label_module = module, mod = module, in_callback = false }
  M.current = S
  mb.exit = mb._gen_exit(S)
  local ok, mod = xpcall(require, on_error, module)
  if not ok then return hand_over(S, nil, "load_failed", starter, ref, mod) end
  if type(mod) ~= "table" or type(mod.init) ~= "function" then return hand_over(S, nil, "start", starter, ref, arg) end
  S.mod = mod
  S.in_callback = true
  local n, tag, x, y, z
  ok, n, tag, x, y, z = counted(xpcall(mod.init, on_error, arg))
  S.in_callback = false
  if not ok then return hand_over(S, nil, "init_crashed", starter, ref, tag) end
  if not (tag == "ok" and (n == 2 or n == 3 and y == nil)) then
    return hand_over(S, nil, "initialized", starter, ref, n, tag, x, y, z)
  end
  c_reply(starter, ref, { "ok" })
  return loop(S, mod, x)
end

return M
