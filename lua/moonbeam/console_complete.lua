--- moonbeam.console_complete: what Tab offers in the console. Globals
-- and the fields of what a dotted path of them names (moonbeam's own
-- modules without their internal names), Lua's keywords, and in a string
-- the registered names.
local mb = require "moonbeam"

local type, pairs, ipairs, pcall, rawget, getmetatable, sort =
  type, pairs, ipairs, pcall, rawget, getmetatable, table.sort

local KEYWORDS = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
                   "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true",
                   "until", "while" }
local KEYWORD = {}
for _, k in ipairs(KEYWORDS) do KEYWORD[k] = true end

local function identifier(k) return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil end

-- Globals made on first use (bindings/lua_state.c, lazy_global): completed all the same.
local LAZY_LIBS = { "table", "math", "bit", "io", "os", "debug", "string", "coroutine", "package", "jit",
                    "collectgarbage" }

-- Whether the text before the word leaves a string open.
local function in_string(s)
  local quote, i = nil, 1
  while i <= #s do
    local c = s:sub(i, i)
    if quote then
      if c == "\\" then i = i + 1 elseif c == quote then quote = nil end
    elseif c == '"' or c == "'" then
      quote = c
    elseif c == "-" and s:sub(i, i + 1) == "--" then
      return false
    end
    i = i + 1
  end
  return quote ~= nil
end

-- The value a dotted path of globals names, or nil. Indexing runs no
-- metamethods but those of the standard libraries' global table.
local function resolve_path(path)
  local v
  for seg in (path .. "."):gmatch("([^.]*)%.") do
    if not identifier(seg) then return nil end
    if v == nil then
      v = _G[seg]
    elseif type(v) == "table" then
      v = rawget(v, seg)
    else
      return nil
    end
    if v == nil then return nil end
  end
  return v
end

-- What completion offers of moonbeam's own modules. Of moonbeam itself,
-- whose table also holds the core's functions behind the other modules
-- (net_*, tab_*, call_*...), only its API (docs/reference.md, "Processes"):
local PUBLIC_MB = {}
for _, k in ipairs({
  "alias", "alive", "atom", "blocking", "cancel_timer", "connect", "demonitor", "exit", "info", "is_pid",
  "kind", "link", "make_ref", "max_message_size", "monitor", "monitor_node", "node", "nodes", "now",
  "process_count", "processes", "queue_len", "receive", "register", "registered", "reload", "self", "send",
  "send_after", "send_alias", "send_interval", "sleep", "spawn", "spawn_link", "spawn_monitor", "spawn_opt",
  "trap_exit", "tuple", "unalias", "unlink", "unregister", "version", "whereis", "yield",
}) do PUBLIC_MB[k] = true end
-- Of the others, every name but those that start with "_" and these, which
-- the modules use among themselves:
local INTERNAL = {}
for _, k in ipairs({
  -- moonbeam.gen_server, moonbeam.task: the bodies of their processes
  "enter", "run",
  -- moonbeam.agent: the callbacks of its gen_server
  "init", "handle_call", "handle_cast",
  -- moonbeam.registry: via names, for the name-taking calls
  "serve_started", "is_via", "check_via", "whereis_via", "register_via", "unregister_via",
  "take_for_spawn", "show",
  -- moonbeam.logger: the runtime's reports, and its level table
  "report", "LEVELS",
}) do INTERNAL[k] = true end

local function is_internal(v, k)
  if v == package.loaded.moonbeam then return not PUBLIC_MB[k] end
  return k:sub(1, 1) == "_" or INTERNAL[k] == true
end

-- Whether v is one of moonbeam's own modules (moonbeam, moonbeam.*).
local function is_moonbeam_module(v)
  if type(v) ~= "table" then return false end
  for name, m in pairs(package.loaded) do
    if m == v and type(name) == "string" and (name == "moonbeam" or name:sub(1, 9) == "moonbeam.") then
      return true
    end
  end
  return false
end

local function fields(v, methods_only, out)
  local seen = {}
  local hide = is_moonbeam_module(v)
  -- Their functions are put in them on a first look-up (bindings/core.c,
  -- gen_server's client half): one of a name none has puts them all.
  if hide then pcall(function() return v["\0complete"] end) end
  local function take(t)
    for k, x in pairs(t) do
      if identifier(k) and not seen[k] and (not methods_only or type(x) == "function")
         and not (hide and is_internal(v, k)) then
        seen[k] = true
        out[#out + 1] = k
      end
    end
  end
  if type(v) == "table" then take(v) end
  local mt = (type(v) == "table" or type(v) == "string") and getmetatable(v)
  if type(mt) == "table" and type(rawget(mt, "__index")) == "table" then take(mt.__index) end
  return out
end

local function candidates(word, before)
  local out = {}
  if in_string(before) then
    for _, name in ipairs(mb.registered()) do
      if name:sub(1, #word) == word then out[#out + 1] = name end
    end
  else
    local base, sep, part = word:match("^(.-)([.:])([%w_]*)$")
    if base then
      local v = resolve_path(base)
      if v ~= nil then
        for _, k in ipairs(fields(v, sep == ":", {})) do
          if k:sub(1, #part) == part then out[#out + 1] = base .. sep .. k end
        end
      end
    elseif word == "" or identifier(word) then
      local names = fields(_G, false, {})
      for _, k in ipairs(LAZY_LIBS) do names[#names + 1] = k end
      for _, k in ipairs(KEYWORDS) do names[#names + 1] = k end
      local seen = {}
      for _, k in ipairs(names) do
        if not seen[k] and k:sub(1, #word) == word then
          seen[k] = true
          out[#out + 1] = k
        end
      end
    end
  end
  sort(out)
  while #out > 500 do out[#out] = nil end
  return out
end

local M = {}

--- candidates(word, before) -> the sorted completions of word (at most
-- 500), before being the line's text ahead of it.
M.candidates = candidates

--- is_identifier(k) -> whether k is a string that reads as a Lua name.
M.is_identifier = identifier

--- is_keyword(k) -> whether k is one of Lua's keywords.
function M.is_keyword(k) return KEYWORD[k] == true end

return M
