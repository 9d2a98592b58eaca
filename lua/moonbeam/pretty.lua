--- moonbeam.pretty: values as people read them, for the console.
-- Strings are quoted, numbers exact, pids print as <0.N.S>, atoms as
-- mb.atom("name"); a table prints
-- its array part first, then its other keys in order, on one line when it
-- fits and indented when it does not. Depth, items per table, string length
-- and the whole output are bounded, so printing a huge state is safe. A
-- table that contains itself is labelled and the way back is marked:
--   <1>{name = "loop", self = <cycle 1>}
local type, tostring, tonumber, next, pairs, rawget, pcall, concat, sort, floor, huge =
  type, tostring, tonumber, next, pairs, rawget, pcall, table.concat, table.sort, math.floor, math.huge

-- Erlang's kinds of values (mb.atom); none outside a moonbeam host.
local has_core, core = pcall(require, "moonbeam.core")
local kind = has_core and core.kind or function() return nil end

local M = {}

M.defaults = {
  depth = 6,        -- levels of tables shown; deeper ones print as {...}
  items = 40,       -- entries shown per table; then "...(N more)"
  string = 4096,    -- bytes of a string shown; then "...(N bytes)"
  width = 80,       -- a table that fits in this many columns stays on one line
  nodes = 4000,     -- values shown in all; then "..."
  output = 65536,   -- characters in all; then "...(output truncated)"
}

local ESCAPES = { ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r", ['"'] = '\\"', ["\\"] = "\\\\",
                  ["\a"] = "\\a", ["\b"] = "\\b", ["\f"] = "\\f", ["\v"] = "\\v" }

local function escape(c)
  return ESCAPES[c] or ("\\%03d"):format(c:byte())
end

local function quote(s, max)
  local more = ""
  if #s > max then
    more = ("...(%d bytes)"):format(#s)
    s = s:sub(1, max)
  end
  return '"' .. s:gsub('[%c"\\\127]', escape) .. '"' .. more
end
M.quote = function(s) return quote(s, huge) end

local function number(n)
  if n ~= n then return "nan" end
  if n == huge then return "inf" end
  if n == -huge then return "-inf" end
  if n == 0 and 1 / n < 0 then return "-0" end
  if n == floor(n) and n > -2^53 and n < 2^53 then return ("%d"):format(n) end
  for digits = 14, 16 do   -- the shortest that reads back as n
    local s = ("%." .. digits .. "g"):format(n)
    if tonumber(s) == n then return s end
  end
  return ("%.17g"):format(n)
end

local function scalar(v, o)
  local t = type(v)
  if t == "string" then return quote(v, o.string) end
  if t == "number" then return number(v) end
  local ok, s = pcall(tostring, v)   -- a __tostring that raises prints as its type
  return ok and type(s) == "string" and s or ("<" .. t .. ">")
end

local function is_ident(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil and k ~= "end" and k ~= "nil"
    and k ~= "and" and k ~= "or" and k ~= "not" and k ~= "true" and k ~= "false" and k ~= "function"
    and k ~= "local" and k ~= "return" and k ~= "if" and k ~= "then" and k ~= "else" and k ~= "elseif"
    and k ~= "for" and k ~= "in" and k ~= "do" and k ~= "while" and k ~= "repeat" and k ~= "until"
    and k ~= "break" and k ~= "goto"
end

local KIND = { number = 1, string = 2, boolean = 3 }

local function key_before(a, b)
  local ka, kb = KIND[type(a)] or 4, KIND[type(b)] or 4
  if ka ~= kb then return ka < kb end
  if ka == 1 or ka == 2 then return a < b end
  if ka == 3 then return (not a) and b end
  return tostring(a) < tostring(b)
end

-- The keys of t after its array part 1..n, in order (unsorted past a limit:
-- sorting a million keys to show forty is not worth it).
local function other_keys(t, n)
  local keys, count = {}, 0
  for k in next, t do
    if not (type(k) == "number" and k >= 1 and k <= n and k == floor(k)) then
      count = count + 1
      if count <= 10000 then keys[count] = k end
    end
  end
  if count <= 10000 then sort(keys, key_before) end
  return keys, count
end

-- Pass 1 builds a tree of nodes: a string for a leaf, or
-- {t = table, items = {{key, node}...}, more = n}; a way back to a table on
-- the current path is {cycle = table}.
local function build(v, o, depth, path, state)
  if type(v) ~= "table" then return scalar(v, o) end
  -- An atom is a table underneath: it prints as what makes it.
  if kind(v) == "atom" then return "mb.atom(" .. quote(tostring(v), o.string) .. ")" end
  if path[v] then
    state.targets[v] = true
    return { cycle = v }
  end
  if depth >= o.depth then return "{...}" end
  path[v] = true
  local node = { t = v, items = {} }
  local n = 0
  while rawget(v, n + 1) ~= nil do n = n + 1 end
  local keys, nkeys = other_keys(v, n)
  local total, shown = n + nkeys, 0
  local function add(key, value)
    if shown >= o.items or state.nodes >= o.nodes then return false end
    shown = shown + 1
    state.nodes = state.nodes + 1
    node.items[shown] = { key, build(value, o, depth + 1, path, state) }
    return true
  end
  local full = true
  for i = 1, n do
    if not add(nil, rawget(v, i)) then full = false; break end
  end
  if full then
    for i = 1, #keys do
      local k = keys[i]
      local kt
      if is_ident(k) then kt = k
      elseif kind(k) == "atom" then kt = "[" .. build(k, o, depth, path, state) .. "]"
      elseif type(k) == "table" then kt = "[" .. (path[k] and "<cycle>" or "{...}") .. "]"
      else kt = "[" .. scalar(k, o) .. "]" end
      if not add(kt, rawget(v, k)) then break end
    end
  end
  node.more = total - shown
  path[v] = nil
  return node
end

-- Labels, in the order the tables are printed.
local function label(node, state)
  if type(node) ~= "table" or node.cycle then return end
  if state.targets[node.t] and not state.labels[node.t] then
    state.count = state.count + 1
    state.labels[node.t] = state.count
  end
  for i = 1, #node.items do label(node.items[i][2], state) end
end

-- Pass 2: one line if it fits, else one item per line.
local flat

local function prefix(node, state)
  local l = state.labels[node.t]
  return l and ("<%d>"):format(l) or ""
end

local function more_text(node)
  return node.more > 0 and ("...(%d more)"):format(node.more) or nil
end

flat = function(node, state)
  if type(node) == "string" then return node end
  if node.cycle then return ("<cycle %d>"):format(state.labels[node.cycle] or 0) end
  if node.flat then return node.flat end
  local parts = {}
  for i = 1, #node.items do
    local it = node.items[i]
    parts[i] = it[1] and (it[1] .. " = " .. flat(it[2], state)) or flat(it[2], state)
  end
  parts[#parts + 1] = more_text(node)
  local s = prefix(node, state) .. "{" .. concat(parts, ", ") .. "}"
  node.flat = s
  return s
end

-- used: the columns already taken on this line (indent and key).
local function layout(node, state, indent, used, out)
  local one = flat(node, state)
  if type(node) == "string" or node.cycle or used + #one <= state.width or #node.items == 0 then
    out[#out + 1] = one
    return
  end
  out[#out + 1] = prefix(node, state) .. "{\n"
  local inner = indent .. "  "
  for i = 1, #node.items do
    local it = node.items[i]
    local key = it[1] and (it[1] .. " = ") or ""
    out[#out + 1] = inner .. key
    layout(it[2], state, inner, #inner + #key, out)
    out[#out + 1] = (i < #node.items or node.more > 0) and ",\n" or "\n"
  end
  if node.more > 0 then out[#out + 1] = inner .. more_text(node) .. "\n" end
  out[#out + 1] = indent .. "}"
end

--- format(v, [opts]) -> v as text, maybe over several lines. opts override
-- M.defaults (depth, items, string, width, nodes).
function M.format(v, opts)
  local o = M.defaults
  if opts then
    o = {}
    for k, x in pairs(M.defaults) do o[k] = opts[k] or x end
  end
  local state = { targets = {}, labels = {}, count = 0, nodes = 0, width = o.width }
  local node = build(v, o, 0, {}, state)
  label(node, state)
  local out = {}
  layout(node, state, "", 0, out)
  local s = concat(out)
  if #s > o.output then s = s:sub(1, o.output) .. "...(output truncated)" end
  return s
end

return M
