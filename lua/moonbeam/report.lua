--- moonbeam.report: printing values for people, within bounds.
-- Crash reports and traces render states and messages with a depth, width
-- and length cap, so a 10 MB state never makes a 10 MB log line; a server's
-- format_status callback can redact what is printed.
local type, tostring, next, pairs, pcall, getmetatable, concat =
  type, tostring, next, pairs, pcall, getmetatable, table.concat

-- Erlang's kinds of values (mb.atom); none outside a moonbeam host.
local has_core, core = pcall(require, "moonbeam.core")
local kind = has_core and core.kind or function() return nil end

local M = {}

M.MAX_FIELD = 2000   -- characters per rendered field in a crash report

local function render(v, depth, budget, out)
  local t = type(v)
  if budget[1] <= 0 then return end
  local s
  if t == "string" then
    if #v > 200 then s = ("%q"):format(v:sub(1, 200)) .. ("..(%d bytes)"):format(#v)
    else s = ("%q"):format(v) end
  elseif t == "table" and kind(v) == "atom" then
    s = ("mb.atom(%q)"):format(tostring(v))   -- a table underneath: shown as what makes it
  elseif t == "table" then
    if depth <= 0 then
      s = "{...}"
    else
      out[#out + 1] = "{"
      budget[1] = budget[1] - 1
      local n, first = 0, true
      for k, x in pairs(v) do
        n = n + 1
        if n > 20 or budget[1] <= 0 then out[#out + 1] = ", ..."; break end
        if not first then out[#out + 1] = ", " end
        first = false
        if type(k) ~= "number" or k ~= n then
          if type(k) == "string" and k:match("^[%a_][%w_]*$") then out[#out + 1] = k
          else out[#out + 1] = "["; render(k, depth - 1, budget, out); out[#out + 1] = "]" end
          out[#out + 1] = " = "
        end
        render(x, depth - 1, budget, out)
      end
      out[#out + 1] = "}"
      return
    end
  else
    s = tostring(v)
  end
  out[#out + 1] = s
  budget[1] = budget[1] - #s
end

--- render(v, [depth], [max_chars]) -> a one-line, bounded rendering of v.
function M.render(v, depth, max)
  local out = {}
  max = max or M.MAX_FIELD
  render(v, depth or 4, { max }, out)
  local s = concat(out)
  if #s > max then s = s:sub(1, max) .. "..." end
  return s
end

--- words(e, [max]) -> a process's error value as its crash line shows it
-- (bindings/vm.c): a string as it is, an error object by its __tostring,
-- an atom as mb.atom("x") and any other table rendered, never as
-- "table: 0x...".
function M.words(e, max)
  if type(e) == "string" then return e end
  local mt = type(e) == "table" and kind(e) ~= "atom" and getmetatable(e)
  if type(mt) == "table" and mt.__tostring then
    local ok, s = pcall(tostring, e)
    if ok and type(s) == "string" then return s end
  end
  return M.render(e, 4, max)
end

--- reason(r) -> an exit reason as text for a person: a crash's message and
-- traceback, a failed start's child and error, else the rendered value.
function M.reason(r)
  if type(r) == "string" then return r end
  if type(r) == "table" then
    local tag = r[1]
    if tag == "error" and r[2] ~= nil then
      local msg = type(r[2]) == "string" and r[2] or M.render(r[2])
      if type(r[3]) == "string" and r[3] ~= "" then return msg .. "\n" .. r[3]:sub(1, M.MAX_FIELD) end
      return msg
    elseif tag == "shutdown" and r[2] ~= nil then
      return "shutdown: " .. M.reason(r[2])
    elseif tag == "failed_to_start_child" and r[2] ~= nil then
      return ("child '%s' failed to start: %s"):format(tostring(r[2]), M.reason(r[3]))
    end
  end
  return M.render(r)
end

--- crash_reason(e, traceback) -> {"error", msg, traceback}: a gen_server
-- callback's error e as its exit reason, with the callback's own frames of
-- traceback (debug.traceback's, taken where it was raised). What cannot
-- be sent as it is keeps its printable form (an error object's
-- __tostring): the exit reason must cross to links and monitors;
-- moonbeam's own error tables ({"timeout"}, ...) are sent as they are.
function M.crash_reason(e, traceback)
  local msg = e
  local mt = type(e) == "table" and getmetatable(e)
  if type(e) ~= "string" and (type(e) ~= "table" or mt and mt.__name ~= "moonbeam.error") then
    local ok, s = pcall(tostring, e)
    msg = ok and type(s) == "string" and s or ("(an error value of type " .. type(e) .. ")")
  end
  return { "error", msg, M.traceback(traceback) }
end

--- traceback(tb) -> tb without moonbeam's own (stripped, nameless)
-- frames, which are noise to the reader.
function M.traceback(tb)
  tb = tb:gsub("^\n", "")
    :gsub("\n%s*%[string \"moonbeam[%w%._]*\"%][^\n]*", "")
    :gsub("\n%s*%[C%]: in function ''", "")
    :gsub("\n%s*boot: [^\n]*", "")   -- the chunk that runs a process's body
  -- Nothing of the program's left (a script that did not load): none at all.
  if tb:match("^%s*stack traceback:%s*$") then return "" end
  return tb
end

-- The status a server shows: through its format_status callback if any.
local function formatted(S, status)
  local f = S.mod and S.mod.format_status
  if type(f) ~= "function" then return status end
  -- as a callback: its mb.exit raises (core._gen_exit), and fails it here
  local was = S.in_callback
  S.in_callback = true
  local ok, r = pcall(f, status)
  S.in_callback = was
  if ok and type(r) == "table" then return r end
  return { state = "(format_status failed)", message = "(format_status failed)", reason = status.reason }
end

function M.status_state(S)
  return formatted(S, { state = S.state }).state
end

local function enabled()
  local v = os.getenv("MOONBEAM_CRASH_LOG")
  return v ~= "0"
end

-- How a report names server S: its registered name, its via name, or its
-- pid (made here, not kept in every server).
local function label(S)
  local name = S.name
  if type(name) == "table" then return require("moonbeam.registry").show(name) end
  if name then return "'" .. name .. "'" end
  return tostring(require("moonbeam").self())
end

--- The crash report of a server ending abnormally: one log event
-- (moonbeam.logger, level error), its header the line, the rest below it;
-- "file:line" where a Lua function is defined, or nil (a C function, or
-- one with no source: loaded from a string).
local function defined_at(f)
  local info = type(f) == "function" and debug.getinfo(f, "S")
  if not info or info.what ~= "Lua" or info.short_src:find("^%[") then return nil end
  return info.short_src .. ":" .. info.linedefined
end

-- JSON handlers get the parts as fields. in_init: its init failed (no
-- message was handled, and there is no state yet).
function M.crash(S, reason, last, in_init)
  if not enabled() then return end
  local st = formatted(S, { state = S.state, message = last, reason = reason })
  local r = st.reason
  local tb = type(r) == "table" and r[1] == "error" and type(r[3]) == "string" and r[3]:sub(1, M.MAX_FIELD) or nil
  local f = {
    report = "gen_server_crash", server = label(S), module = tostring(S.label_module),
    last_message = M.render(st.message), state = M.render(st.state),
    reason = M.render(type(r) == "table" and r[1] == "error" and r[2] or r),
    bad_return = S.bad, traceback = tb,
    -- file:line of a crash: where its message says (as error() writes it),
    -- else the traceback's first level that is not C's
    where = type(r) == "table" and r[1] == "error" and type(r[2]) == "string" and r[2]:match("^([^\n]-:%d+):") or
      tb and (tb:match("\n\t([^\n[]-:%d+): ")) or S.bad and defined_at(S.mod[S.bad]) or nil,
  }
  local lines = {
    "** Last message: " .. f.last_message,
    "** State: " .. f.state,
    "** Reason: " .. f.reason,
  }
  if in_init then
    f.report, f.last_message, f.state = "gen_server_init_failed", nil, nil
    lines = { "** Reason: " .. f.reason }
  end
  if S.bad then lines[#lines + 1] = "** Bad return from " .. S.bad .. (f.where and " (" .. f.where .. ")" or "") end
  if tb then lines[#lines + 1] = "** Traceback:\n" .. tb end
  require("moonbeam.logger").report("error",
    ("=CRASH REPORT==== gen_server %s (%s) %s"):format(f.server, S.label_module,
      in_init and "failed in init" or "terminating"), concat(lines, "\n"), f)
end

--- A message a server without handle_info got: a warning, as OTP logs it.
function M.unexpected(S, msg)
  local server = label(S)
  local text = ("%s received an unexpected message and has no handle_info: %s"):format(server, M.render(msg, 3, 300))
  require("moonbeam.logger").report("warning", text, nil, {
    report = "unexpected_message", server = server, message = M.render(msg, 3, 300) })
end

return M
