--- moonbeam.gen_sys: a gen_server's rare work, loaded by the server
-- (moonbeam.gen_server) with the first of it: system requests (get_state,
-- replace_state, suspend, resume, get_status, trace, stop), traces, and
-- code changes (mb.reload). Not API. S is the server's state table.
local mb = require "moonbeam"

local type, select, pcall, tostring, next, require = type, select, pcall, tostring, next, require

local M = {}

local SYS = "$gen_sys"

local function report() return require "moonbeam.report" end

local EXIT_MARK = mb._gen_exit_mark()

-- A copy of v's tables, shared ones and cycles kept as they are, with
-- their metatables (a protected one too): fn may change the state in
-- place before it raises. A walk with a stack of its own, not a
-- recursion: a list 10,000 tables long overflowed the C stack.
local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local getmt, setmt = debug.getmetatable, debug.setmetatable
  local copies, walk = { [v] = {} }, { v }
  local function copy_of(x)
    if type(x) ~= "table" then return x end
    local c = copies[x]
    if not c then
      c = {}
      copies[x] = c
      walk[#walk + 1] = x
    end
    return c
  end
  while #walk > 0 do
    local t = walk[#walk]
    walk[#walk] = nil
    local c = copies[t]
    for k, x in next, t do c[copy_of(k)] = copy_of(x) end
    setmt(c, getmt(t))
  end
  return copies[v]
end

-- The state set aside before fn runs, or nil and why it cannot be.
local function set_aside(state)
  local ok, copy = pcall(deep_copy, state)
  if ok then return copy end
  return nil, "the state could not be copied aside: " .. tostring(copy)
end

-- What a sys tool's fn raised, for the caller: mb.exit's reason as
-- {"exit", reason} (OTP's), and a value no message can carry as its text.
local function failure(e)
  if type(e) == "table" and e[1] == EXIT_MARK then e = { "exit", e[2] } end
  if not mb._sendable(e) then return tostring(e) end
  return e
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
    -- It runs as a callback does: its mb.exit raises (core._gen_exit).
    local saved, why = set_aside(S.state)
    if why then
      reply = { "error", why }
    else
      S.in_callback = true
      local ok, new = pcall(req[2], S.state)
      S.in_callback = false
      if ok then S.state = new; reply = { "ok", new } else S.state = saved; reply = { "error", failure(new) } end
    end
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
    local saved, why = set_aside(S.state)   -- code_change may change it in place before it raises
    if why then return false, why end
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
