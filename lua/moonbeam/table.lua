--- moonbeam.table: shared tables, an ETS for Lua (API.md, "Shared tables").
-- A table lives in the C core (host/core/table.h), outside every Lua state:
-- any process reads and writes it directly, each lookup decoding a copy
-- into the caller's state. The C half is bindings/table_api.c; this module
-- checks tab.new's options and runs select's fn here, in the caller.
local core = require "moonbeam.core"

local type, error, pairs, ipairs, tostring = type, error, pairs, ipairs, tostring

local M = {}

local TYPES = { set = true, ordered_set = true, bag = true, duplicate_bag = true }
local ACCESS = { protected = true, public = true, private = true }
local OPTIONS = { type = true, access = true, heir = true, max_memory = true }

local function one_of(set, v, what)
  if not set[v] then
    error(("tab.new: %s must be one of %s, got %s"):format(what,
      what == "type" and "set, ordered_set, bag, duplicate_bag" or "protected, public, private",
      tostring(v)), 3)
  end
end

--- new([name], [opts]) -> a handle; opts may come alone, as a table.
function M.new(name, opts)
  if type(name) == "table" and opts == nil then name, opts = nil, name end
  if name ~= nil and (type(name) ~= "string" or name == "") then
    -- "got string" would not say what is wrong with ""
    local got = name == "" and "an empty string" or type(name)
    error("tab.new: the name must be a non-empty string, got " .. got, 2)
  end
  if opts ~= nil and type(opts) ~= "table" then error("tab.new: opts must be a table, got " .. type(opts), 2) end
  opts = opts or {}
  for k in pairs(opts) do
    if not OPTIONS[k] then error(("tab.new: unknown option '%s'"):format(tostring(k)), 2) end
  end
  local ty, access = opts.type, opts.access
  if ty == nil then ty = "set" end
  if access == nil then access = "protected" end
  one_of(TYPES, ty, "type")
  one_of(ACCESS, access, "access")
  local mm = opts.max_memory
  if mm ~= nil and (type(mm) ~= "number" or mm < 1 or mm > 2 ^ 53 or mm % 1 ~= 0) then
    error("tab.new: max_memory must be an integer from 1 to 2^53 (bytes), got " .. tostring(mm), 2)
  end
  return core.tab_new(name, ty, access, opts.heir, mm)
end

-- The rest are the C functions themselves (bindings/table_api.c), under
-- their API names: whereis, insert, insert_new, lookup, member, delete,
-- take, update_counter, first, next, last, prev, range, to_list, size,
-- memory, delete_table, give_away; and info(t) -> {table, name, owner,
-- heir, type, access, size, memory, max_memory} (nil once deleted), all()
-- -> the info of every table (the console's tables()).
for _, name in ipairs { "whereis", "insert", "insert_new", "lookup", "member", "delete", "take",
  "update_counter", "first", "next", "last", "prev", "range", "to_list", "size", "memory",
  "delete_table", "give_away", "info", "all" } do
  M[name] = core["tab_" .. name]
end

--- select(t, fn, [limit]) -> array of {key, value} for which fn(key, value)
-- is true, in to_list's order; fn runs here, over a copy of the table.
function M.select(t, fn, limit)
  if type(fn) ~= "function" then error("tab.select: fn must be a function, got " .. type(fn), 2) end
  if limit ~= nil and (type(limit) ~= "number" or limit < 1 or limit % 1 ~= 0) then
    error("tab.select: limit must be an integer >= 1", 2)
  end
  local all, out, n = core.tab_select_list(t), {}, 0
  for i = 1, #all do
    local kv = all[i]
    if fn(kv[1], kv[2]) then
      n = n + 1
      out[n] = kv
      if n == limit then break end
    end
  end
  return out
end

return M
