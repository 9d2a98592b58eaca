--- moonbeam.agent: Elixir's Agent, a gen_server around one value.
-- Every fn runs inside the agent's own Lua state, so it must be an
-- upvalue-free function: it travels as bytecode.
local gen = require "moonbeam.gen_server"

local type, error, select, require, next, unpack = type, error, select, require, next, unpack
local function pack(...) return { n = select("#", ...), ... } end

local M = {}

-- The callers' checks (moonbeam.util) are loaded on first use: the agent
-- process, which only serves, does not carry them.
local util = require("moonbeam")._lazy "moonbeam.util"

-- level: where the error points, counted from the caller of check_fn.
local function check_fn(fn, name, level)
  level = level or 1
  if type(fn) ~= "function" then error(name .. ": fn must be a function", level + 2) end
  util().check_portable(fn, name, "fn", "the agent's Lua state", level + 3)
end

--- start_link(fn, [opts]) -> pid, or nil and why; the state is fn().
function M.start_link(fn, opts)
  check_fn(fn, "agent.start_link")
  return gen._start(true, "moonbeam.agent", fn, opts, "agent.start_link", "fn")   -- its errors named agent.start_link
end

function M.start(fn, opts)
  check_fn(fn, "agent.start")
  return gen._start(false, "moonbeam.agent", fn, opts, "agent.start", "fn")
end

-- A call's extra arguments and options (docs/reference.md, "agent"): a
-- last argument that is a table with no keys but `timeout` is the options;
-- with no other extra argument, a number or "infinity" alone is the
-- timeout, as before extra arguments were taken.
local function is_opts(x)
  if type(x) ~= "table" then return false end
  for k in next, x do if k ~= "timeout" then return false end end
  return true
end

local function split(name, ...)
  local n = select("#", ...)
  local last = n > 0 and select(n, ...) or nil
  local timeout
  if n > 0 and is_opts(last) then
    timeout, n = last.timeout, n - 1
  elseif n == 1 and (type(last) == "number" or last == "infinity") then
    timeout, n = last, 0
  end
  util().check_timeout(timeout, name, nil, "timeout", 5)
  local args = { n = n }
  for i = 1, n do args[i] = select(i, ...) end
  return args, timeout
end

-- A call to the agent, whose failure is named after the agent's function.
-- The error of a request {what, fn, args} that could not be sent: an extra
-- argument named among the call's own (after a and fn), not by its path
-- inside the request (root: "req" or "msg"); level as error's, from here.
local function raise_extra(name, err, root, level)
  local i, rest = tostring(err):match(root .. "%[3%]%[(%d+)%](.*)$")
  if i then error(("%s: argument #%d%s"):format(name, tonumber(i) + 2, rest), level) end
  -- The gen_server call underneath is ours: its errors are named so.
  rest = type(err) == "string" and err:match("^gen_server%.[%w_]+: (.*)$")
  if rest then error(name .. ": " .. rest, level) end
  error(err, 0)
end

local function call(a, what, fn, ...)
  local name = "agent." .. what
  check_fn(fn, name, 2)
  -- A via name too: the agent may have been started under one, and cast
  -- and stop (gen_server's) take it.
  if type(a) ~= "string" and not require("moonbeam").is_pid(a) and not util().is_via(a) then
    error(("%s: agent must be a pid, a registered name or a via name, got %s"):format(name, type(a)), 3)
  end
  local args, timeout = split(name, ...)
  local ok, reply, err = pcall(gen.try_call, a, { what, fn, args }, timeout)
  if not ok then raise_extra(name, reply, "req", 4) end
  if err then error(util().failure(err, name, a, fn, ...), 3) end
  return reply
end

--- get(a, fn, ..., [{timeout = ms}]) -> fn(state, ...)
function M.get(a, fn, ...)
  local r = call(a, "get", fn, ...)   -- not a tail call: errors point at our caller
  return r
end

--- update(a, fn, ..., [{timeout = ms}]) -> true; the state becomes fn(state, ...)
function M.update(a, fn, ...)
  local r = call(a, "update", fn, ...)   -- not a tail call: errors point at our caller
  return r
end

--- get_and_update(a, fn, ..., [{timeout = ms}]) -> reply, where
-- fn(state, ...) returns reply, new_state
function M.get_and_update(a, fn, ...)
  local r = call(a, "get_and_update", fn, ...)   -- not a tail call: errors point at our caller
  return r
end

--- cast(a, fn, ...) -> true; the state becomes fn(state, ...), asynchronously
function M.cast(a, fn, ...)
  check_fn(fn, "agent.cast")
  -- what gen.cast takes, refused under this call's name
  if type(a) ~= "string" and not require("moonbeam").is_pid(a) and not util().is_node_name(a) and not util().is_via(a) then
    error(("agent.cast: agent must be a pid, a registered name, {name, node} or a via name, got %s"):format(type(a)), 2)
  end
  if util().is_node_name(a) then require("moonbeam").dist_check_node(a[2], "agent.cast") end
  local ok, err = pcall(gen.cast, a, { "cast", fn, pack(...) })
  if not ok then raise_extra("agent.cast", err, "msg", 3) end
  return true
end

function M.stop(a, reason, timeout)
  return gen._stop(a, reason, timeout, "agent.stop")   -- its errors named agent.stop
end

-- ---- the server's callbacks -------------------------------------------

-- The state is fn's first result, nil when it returns none: the rest must
-- not reach the gen_server as a timeout or hibernate.
function M.init(fn) return "ok", (fn()) end

function M.handle_call(req, from, state)
  local op, fn, args = req[1], req[2], req[3]
  if op == "get" then return "reply", fn(state, unpack(args, 1, args.n)), state end
  if op == "update" then return "reply", true, (fn(state, unpack(args, 1, args.n))) end
  if op == "get_and_update" then
    local r = pack(fn(state, unpack(args, 1, args.n)))
    if r.n ~= 2 then return "stop", { "bad_return_value", r[1] }, state end
    return "reply", r[1], r[2]
  end
  return "reply", nil, state
end

function M.handle_cast(req, state)
  local args = req[3]
  if req[1] == "cast" then return "noreply", (req[2](state, unpack(args, 1, args.n))) end
  return "noreply", state
end

return M
