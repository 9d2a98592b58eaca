--- moonbeam.util: the checks the modules make the same way, in one place
-- (not API): timeouts, delays, counts and names as docs/reference.md
-- ("Timeouts, counts and names") has them, and functions that travel to
-- another Lua state. The modules load it with their first check, so a
-- process that only idles or serves does not carry it; debug is only
-- looked up when called.
local core = require "moonbeam.core"

local type, error, select, tostring, getmetatable, setmetatable =
  type, error, select, tostring, getmetatable, setmetatable

local M = {}

-- The longest timeout a timer is set for (2^53 ms, host/core/timer.h).
local MAX_TIMEOUT = core._max_timeout

--- A timeout: ms >= 0, or "infinity". math.huge, and any timeout longer
-- than a timer can be set for, is "infinity" too: it never fires, early or
-- late. Returns the ms, nil for infinity, or false when t is no timeout
-- (NaN, negative, not a number).
local function timeout_ms(t)
  if t == "infinity" then return nil end
  if type(t) ~= "number" or not (t >= 0) then return false end
  if t > MAX_TIMEOUT then return nil end
  return t
end
M.timeout_ms = timeout_ms

--- A timeout argument, as timeout_ms; nil gives default. Raises
-- "<fn>: <what> must be ..." (what: "timeout" unless told) at level (3
-- unless told: the caller of fn, when fn itself calls this).
function M.check_timeout(t, fn, default, what, level)
  if t == nil then return default end
  local ms = timeout_ms(t)
  if ms == false then
    error(("%s: %s must be a number >= 0 or \"infinity\""):format(fn, what or "timeout"), level or 3)
  end
  return ms
end

--- Whether x is a delay a timer can be set for: finite ms > 0 (no
-- infinity, no NaN).
function M.is_delay(x) return type(x) == "number" and x > 0 and x <= MAX_TIMEOUT end

--- Whether x is a name (register, spawn_opt, gen_server and supervisor
-- names): a non-empty string without NUL bytes.
function M.is_name(x)
  return type(x) == "string" and x ~= "" and not x:find("\0", 1, true)
end

--- What x is, in an error about a name it is not: its type, or what is
-- wrong with the string.
function M.name_fault(x)
  if type(x) ~= "string" then return type(x) end
  return x == "" and "an empty string" or "a string with a NUL byte"
end

--- Whether x is {name, node}: a process registered on a node (docs/reference.md, "Nodes").
function M.is_node_name(x)
  return type(x) == "table" and #x == 2 and type(x[1]) == "string" and type(x[2]) == "string" and
    -- {"via", registry} is a via name whose key is nil, not a process named "via"
    not (x[1] == "via" and not x[2]:find("@", 1, true))
end

--- Whether x is a via name, {"via", registry name, key} (moonbeam.registry).
--- local_name(dest, fn, node) -> dest: {name, node} where an exit signal
-- takes a name: this node's is the name itself; another node's raises at
-- the caller's caller (Erlang's distribution has no exit signal to a name:
-- exit/2 reaches another node's process by its pid only). Anything else is
-- dest as given.
function M.local_name(dest, fn, node)
  if M.is_node_name(dest) then
    if dest[2] == node then return dest[1] end
    core.dist_check_node(dest[2], fn)   -- a malformed node is its own mistake
    error(fn .. ": {name, node} of another node is not taken here: give its pid", 3)
  end
  return dest
end

-- What spawn_opt reads (bindings/process_api.c; _start_ref is gen_server's
-- own, _take_name moonbeam.api_rest's): any other key is a typo that would silently mean "no such option".
local SPAWN_OPTS = { link = true, monitor = true, trap_exit = true, name = true, memory_limit = true,
                     max_queue = true, on_full = true, _start_ref = true, _take_name = true }

--- check_known(opts, known, fn, [level]): raises "<fn>: unknown option
-- 'k'" for a key of opts that known does not have (a misspelt option
-- would be ignored), at level (default: the caller's caller).
function M.check_known(opts, known, fn, level)
  for k in next, opts do
    if not known[k] then error(("%s: unknown option '%s'"):format(fn, tostring(k)), level or 3) end
  end
end

--- check_spawn_opts(opts): raises, at the caller's caller, for a key
-- spawn_opt does not read.
function M.check_spawn_opts(opts) M.check_known(opts, SPAWN_OPTS, "spawn_opt", 4) end

function M.is_via(x)
  return type(x) == "table" and x[1] == "via" and M.is_name(x[2]) and x[3] ~= nil and x[4] == nil
end

--- Whether n is a count: an integer min <= n <= 2^31-1.
function M.is_count(n, min)
  return type(n) == "number" and n >= min and n <= 2147483647 and n % 1 == 0
end

--- check_portable(f, fn, what, where, [level]): f travels as bytecode to
-- another Lua state (where: "the agent's Lua state"), so it may have no
-- upvalues. Raises "<fn>: <what> must be an upvalue-free function ..."
-- at level (3 unless told, as check_timeout).
function M.check_portable(f, fn, what, where, level)
  local up = debug.getupvalue(f, 1)
  if up then
    error(("%s: %s must be an upvalue-free function (it runs inside %s); it uses upvalue '%s'")
      :format(fn, what, where, up), level or 3)
  end
end

-- ---- error tables ------------------------------------------------------

-- How an error table's call reads: gen_server.call("nope", "x"). Values are
-- shown short and on one line; a function shows as <function>.
local SHORT = { depth = 2, items = 4, string = 40, width = math.huge, output = 200 }

local function describe_call(fn, ...)
  local pretty = require "moonbeam.pretty"
  local n = select("#", ...)
  while n > 0 and select(n, ...) == nil do n = n - 1 end   -- no trailing nils
  local args = {}
  for i = 1, n do
    local v = select(i, ...)
    args[i] = type(v) == "function" and "<function>" or pretty.format(v, SHORT)
  end
  return fn .. "(" .. table.concat(args, ", ") .. ")"
end

-- An error table as words: "<tag>: <call>", then its other elements
-- ("exit: gen_server.call(<0.5.1>, \"x\"): killed"). Strings are shown
-- as they are, other values short.
local function error_text(e)
  local pretty = require "moonbeam.pretty"
  local out, sep = { tostring(e[1]), ": ", getmetatable(e).call }, ": "
  for i = 2, #e do
    local v = e[i]
    if v ~= "" then   -- an empty traceback (a module not found) says nothing
      out[#out + 1] = sep
      out[#out + 1] = type(v) == "string" and v or pretty.format(v, SHORT)
      sep = ", "
    end
  end
  return table.concat(out)
end

--- failure(err, fn, args...) -> err, which now prints as words: tostring
-- gives "<tag>: <fn>(<args>)[: details]" (docs/reference.md,
-- "Conventions"). The table is otherwise unchanged: err[1] is its tag, and
-- it can still be sent (the codec knows the metatable by its __name).
function M.failure(err, fn, ...)
  return setmetatable(err, { __name = "moonbeam.error", __tostring = error_text,
                             call = describe_call(fn, ...) })
end

--- failed_start(why, fn, args...) -> why: a start's `nil, why` that is a
-- tagged tuple ({"error", msg, tb}, {"already_started", pid}...) made to
-- print as words, as failure does, so that assert(gen.start(...)) in a
-- plain luajit script shows it rather than "(error object is not a
-- string)". Strings, untagged tables and tables with a metatable of their
-- own (a tuple's, an atom's) are left as they are.
function M.failed_start(why, fn, ...)
  if type(why) == "table" and type(why[1]) == "string" and getmetatable(why) == nil then M.failure(why, fn, ...) end
  return why
end

return M
