--- moonbeam.agent: Elixir's Agent, a gen_server around one value.
-- Every fn runs inside the agent's own Lua state, so it must be an
-- upvalue-free function: it travels as bytecode.
local gen = require "moonbeam.gen_server"

local type, error, select, require = type, error, select, require
local function pack(...) return { n = select("#", ...), ... } end

local M = {}

-- The callers' checks (moonbeam.util) are loaded on first use: the agent
-- process, which only serves, does not carry them.
local util_module
local function util()
  util_module = util_module or require "moonbeam.util"
  return util_module
end

local function check_fn(fn, name)
  if type(fn) ~= "function" then error(name .. ": fn must be a function", 3) end
  util().check_portable(fn, name, "fn", "the agent's Lua state", 4)
end

--- start_link(fn, [opts]) -> pid, or nil and why; the state is fn().
function M.start_link(fn, opts)
  check_fn(fn, "agent.start_link")
  return gen.start_link("moonbeam.agent", fn, opts)
end

function M.start(fn, opts)
  check_fn(fn, "agent.start")
  return gen.start("moonbeam.agent", fn, opts)
end

-- A call to the agent, whose failure is named after the agent's function.
local function call(a, what, fn, timeout)
  if type(a) ~= "string" and not require("moonbeam").is_pid(a) then
    error(("agent.%s: agent must be a pid or a registered name, got %s"):format(what, type(a)), 3)
  end
  local reply, err = gen.try_call(a, { what, fn }, timeout)
  if err then error(util().failure(err, "agent." .. what, a, fn, timeout), 3) end
  return reply
end

--- get(a, fn, [timeout]) -> fn(state)
function M.get(a, fn, timeout)
  check_fn(fn, "agent.get")
  util().check_timeout(timeout, "agent.get")
  return call(a, "get", fn, timeout)
end

--- update(a, fn, [timeout]) -> true; the state becomes fn(state)
function M.update(a, fn, timeout)
  check_fn(fn, "agent.update")
  util().check_timeout(timeout, "agent.update")
  return call(a, "update", fn, timeout)
end

--- get_and_update(a, fn, [timeout]) -> reply, where fn(state) returns reply, new_state
function M.get_and_update(a, fn, timeout)
  check_fn(fn, "agent.get_and_update")
  util().check_timeout(timeout, "agent.get_and_update")
  return call(a, "get_and_update", fn, timeout)
end

--- cast(a, fn) -> true; the state becomes fn(state), asynchronously
function M.cast(a, fn)
  check_fn(fn, "agent.cast")
  return gen.cast(a, { "cast", fn })
end

function M.stop(a, reason, timeout)
  util().check_timeout(timeout, "agent.stop")
  return gen.stop(a, reason, timeout)
end

-- ---- the server's callbacks -------------------------------------------

function M.init(fn) return "ok", fn() end

function M.handle_call(req, from, state)
  local op, fn = req[1], req[2]
  if op == "get" then return "reply", fn(state), state end
  if op == "update" then return "reply", true, fn(state) end
  if op == "get_and_update" then
    local r = pack(fn(state))
    if r.n ~= 2 then return "stop", { "bad_return_value", r[1] }, state end
    return "reply", r[1], r[2]
  end
  return "reply", nil, state
end

function M.handle_cast(req, state)
  if req[1] == "cast" then return "noreply", req[2](state) end
  return "noreply", state
end

return M
