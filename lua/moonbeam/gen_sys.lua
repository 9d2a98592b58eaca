--- moonbeam.gen_sys: a gen_server's rare work, loaded by the server
-- (moonbeam.gen_server) with the first of it: system requests (get_state,
-- replace_state, suspend, resume, get_status, trace, stop), traces, and
-- code changes (mb.reload). Not API. S is the server's state table.
local mb = require "moonbeam"

local type, select, pcall, tostring, next, setmetatable, getmetatable, require =
  type, select, pcall, tostring, next, setmetatable, getmetatable, require

local M = {}

local SYS = "$gen_sys"

local function report() return require "moonbeam.report" end

local function deep_copy(v, seen)
  if type(v) ~= "table" then return v end
  if seen[v] then return seen[v] end
  local c = {}
  seen[v] = c
  for k, x in next, v do c[deep_copy(k, seen)] = deep_copy(x, seen) end
  return setmetatable(c, getmetatable(v))
end

--- Whether m is a system request (what a suspended server takes).
function M.is_sys(m) return type(m) == "table" and m[1] == SYS end

--- suspended_message(S) -> the next message a suspended server takes:
-- system requests, and its parent's EXIT (as OTP's sys suspend loop).
function M.suspended_message(S)
  local parent = S.parent
  return mb.receive(function(m)
    return M.is_sys(m) or parent ~= nil and type(m) == "table" and m[1] == "EXIT" and m[2] == parent
  end)
end

--- trace(S, what, value, word, value...): a *DBG* line on stderr, values
-- rendered short and the words between them as they are ("got call 1 from
-- <0.1.1>", as OTP's sys prints it).
function M.trace(S, what, ...)
  if not S.trace then return end
  local parts = { ("*DBG* %s %s"):format(tostring(mb.self()), what) }
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    parts[#parts + 1] = i % 2 == 0 and v or report().render(v, 2, 200)
  end
  io.stderr:write(table.concat(parts, " "), "\n")
end

--- handle(S, msg, terminate, answer): a system request {SYS, from, req};
-- terminate(S, reason, last) and answer(from, value) are the server's.
function M.handle(S, msg, terminate, answer)
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
    reply = { pid = mb.self(), module = S.label_module, status = S.suspended and "suspended" or "running",
              state = report().status_state(S), message_queue_len = mb.queue_len(), name = S.name }
  elseif what == "trace" then
    S.trace = req[2]; reply = true
  elseif what == "stop" then
    if req[3] then answer(from, mb.atom("ok")) end   -- Erlang's sys:terminate waits for it
    return terminate(S, req[2], msg)
  else
    reply = { "error", "unknown system request" }
  end
  return answer(from, reply)
end

--- code_change(S, run, req, old, new, extra): mb.reload made new the
-- version of module old (moonbeam.reload); run(S, f, ...) runs a callback
-- as the server does. nil: old is not this server's callback module;
-- "later": it is, and the server is inside a callback, so it changes once
-- the callback returns; true: the server runs new, with the state
-- new.code_change(old.vsn, state, extra) gave (a module without
-- code_change keeps the state as it is); false, why: code_change raised or
-- returned something else than "ok", state, and the server keeps its old
-- code and state.
function M.code_change(S, run, req, old, new, extra)
  if S.mod ~= old then return nil end
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

--- pending_code(S): the code changes put off while a callback ran.
function M.pending_code(S)
  local q = S.code_pending
  S.code_pending = nil
  local reload = require "moonbeam.reload"
  for i = 1, #q do reload.settle(q[i][1], q[i][2], q[i][3]) end
end

return M
