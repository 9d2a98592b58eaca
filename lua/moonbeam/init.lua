--- moonbeam: Erlang/OTP-style processes for LuaJIT.
-- The API of ../shared/API.md ("Processes"). Most functions are the C core's
-- own (moonbeam.core); what lives here is policy that reads better in Lua:
-- the receive loop with its deadline, and yielding when a slice is used up.
local core = require "moonbeam.core"

local type, error = type, error
local c_send, c_recv, c_wait, c_yield, c_now = core.send, core.recv, core.wait, core.yield, core.now
local c_spawn = core.spawn

-- The module is the core's table, extended: one table per process, not two.
local M = core

local c_send_after = core.send_after
function M.send_after(ms, dest, msg)
  local ref, over = c_send_after(ms, dest, msg)
  if over then c_yield() end
  return ref
end

local LINK, MONITOR = { link = true }, { monitor = true }

function M.spawn(target, ...) return c_spawn(target, nil, ...) end
function M.spawn_link(target, ...) return c_spawn(target, LINK, ...) end
function M.spawn_monitor(target, ...) return c_spawn(target, MONITOR, ...) end
function M.spawn_opt(target, opts, ...)
  if type(opts) ~= "table" then error("spawn_opt: options table expected as argument #2", 2) end
  return c_spawn(target, opts, ...)
end

function M.send(dest, msg)
  if c_send(dest, msg) then c_yield() end
  return true
end

--- A timeout argument: ms >= 0 or "infinity" (nil returned); nil gives
-- default. Raises naming fn, at the caller of fn. Shared by the modules.
local function check_timeout(t, fn, default)
  if t == nil then return default end
  if t == "infinity" then return nil end
  if type(t) ~= "number" or t ~= t or t < 0 then
    error(fn .. ": timeout must be a number of ms >= 0 or \"infinity\"", 3)
  end
  return t
end
M._check_timeout = check_timeout

--- receive([timeout]) or receive(match, [timeout]): the first message (that
-- match accepts), or nil once timeout ms have passed.
function M.receive(a, b)
  local match, timeout
  if type(a) == "function" then
    match, timeout = a, b
  elseif a == nil and b ~= nil then
    timeout = b
  else
    timeout = a
  end
  timeout = check_timeout(timeout, "receive")
  local deadline = timeout and c_now() + timeout
  while true do
    local msg, over = c_recv(match)
    if over then c_yield() end
    if msg ~= nil then return msg end
    local left
    if deadline then
      left = deadline - c_now()
      if left < 0 then left = 0 end
    end
    if not c_wait(left) then
      -- Timed out; a message may have arrived together with the timeout.
      return (c_recv(match))
    end
  end
end

function M.sleep(ms)
  if type(ms) ~= "number" or ms ~= ms or ms < 0 then error("sleep: ms must be a number >= 0", 2) end
  local deadline = c_now() + ms
  while true do
    local left = deadline - c_now()
    if left <= 0 then return end
    c_wait(left)
  end
end

return M
