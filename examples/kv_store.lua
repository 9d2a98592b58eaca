-- examples/kv_store.lua: the seeds' KeyValueStore. The data lives in a
-- shared table (moonbeam.table) that the server owns: reads go straight to
-- the table, from any process, without a call; writes go through the
-- server, the table's only writer.
--
--   moonbeam run examples/kv_store.lua             the demo (from the repository root)
--
--   local kv = require "examples.kv_store"
--   local pid = kv.start_link({name = "kv"})       -- opts as gen.start_link's
--   kv.put("kv", "lang", "lua")                    -- true once written
--   kv.get("kv", "lang")                           --> "lua", read from the table
--   kv.get("kv", "nope", "default")                --> "default"
--   kv.keys("kv")                                  --> {"lang"}, sorted
--
-- Writes (put, delete) are calls: when one returns, every process's next
-- get sees it. A reader learns the table's handle from the server once (a
-- call) and keeps it; if the server was restarted meanwhile, its old table
-- is gone, and the reader asks again.
local gen = require "moonbeam.gen_server"
local tab = require "moonbeam.table"

local KV = {}

-- ---- the server -------------------------------------------------------------

function KV.init(initial)
  local t = tab.new()   -- protected: this process writes, every process reads
  for k, v in pairs(initial or {}) do tab.insert(t, k, v) end
  return "ok", t
end

function KV.handle_call(req, _from, t)
  local op = req[1]
  if op == "put" then
    tab.insert(t, req[2], req[3])
  elseif op == "delete" then
    tab.delete(t, req[2])
  elseif op == "table" then
    return "reply", t, t
  end
  return "reply", true, t
end

-- ---- the client -------------------------------------------------------------

-- The table of each server (pid or name) this process has read from.
local known = {}

local function table_of(server, fresh)
  if known[server] and not fresh then return known[server] end
  known[server] = gen.call(server, { "table" })
  return known[server]
end

-- read(server, fn): fn(table) on the server's table; once more with the
-- table asked afresh if the one known was deleted (the server restarted).
local function read(server, fn)
  local ok, v = pcall(fn, table_of(server))
  if ok then return v end
  if not tostring(v):find("deleted", 1, true) then error(v, 0) end
  return fn(table_of(server, true))
end

--- start_link([opts]) -> pid, or nil and why. opts as gen.start_link's, and
-- initial = a table of keys and values to start with.
function KV.start_link(opts)
  opts = opts or {}
  return gen.start_link("examples.kv_store", opts.initial, opts)
end

--- put(server, key, value) -> true, once written.
function KV.put(server, key, value)
  if key == nil or value == nil then error("kv_store.put: key and value must not be nil", 2) end
  return gen.call(server, { "put", key, value })
end

--- get(server, key, [default]) -> the value, or default (nil) when absent.
function KV.get(server, key, default)
  local v = read(server, function(t) return tab.lookup(t, key) end)
  if v == nil then return default end
  return v
end

--- delete(server, key) -> true, once deleted.
function KV.delete(server, key) return gen.call(server, { "delete", key }) end

--- keys(server) -> an array of the keys, sorted by their text.
function KV.keys(server)
  local list = read(server, tab.to_list)
  local keys = {}
  for i, kv in ipairs(list) do keys[i] = kv[1] end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

function KV.size(server) return read(server, tab.size) end
function KV.stop(server) return gen.stop(server) end

-- ---- the demo: moonbeam run examples/kv_store.lua ----------------------------

function KV.demo()
  local mb = require "moonbeam"
  local pid = assert(KV.start_link({ name = "kv", initial = { lang = "lua" } }))
  print("started a store registered as \"kv\":", pid)
  print("get lang               ->", KV.get("kv", "lang"))
  KV.put("kv", "runtime", "moonbeam")
  KV.put("kv", "answer", 42)
  KV.put("kv", "config", { retries = 3, hosts = { "a", "b" } })
  print("put runtime, answer, config (calls to the server, the table's writer)")
  print("get answer             ->", KV.get("kv", "answer"))
  local cfg = KV.get("kv", "config")
  print("get config             ->", ("{retries = %d, hosts = {%s}}"):format(cfg.retries, table.concat(cfg.hosts, ", ")))
  print("get missing, \"none\"    ->", KV.get("kv", "missing", "none"))
  print("keys                   ->", table.concat(KV.keys("kv"), ", "))
  KV.delete("kv", "lang")
  print("delete lang; size      ->", KV.size("kv"))

  -- Other processes see the same store through its name.
  local me = mb.self()
  mb.spawn(function(parent)
    local kv = require "examples.kv_store"
    kv.put("kv", "from", tostring(require("moonbeam").self()))
    require("moonbeam").send(parent, "written")
  end, me)
  assert(mb.receive(2000) == "written")
  print("another process wrote  ->", "from = " .. KV.get("kv", "from"))
  KV.stop("kv")
end

if arg and arg[0] and arg[0]:match("kv_store%.lua$") and (...) ~= "examples.kv_store" then
  KV.demo()
end

return KV
