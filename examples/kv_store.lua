-- examples/kv_store.lua: the seeds' KeyValueStore, a gen_server holding a
-- table of keys and values.
--
--   moonbeam run examples/kv_store.lua             the demo (from the repository root)
--
--   local kv = require "examples.kv_store"
--   local pid = kv.start_link({name = "kv"})       -- opts as gen.start_link's
--   kv.put("kv", "lang", "lua")                    -- a cast: returns true at once
--   kv.get("kv", "lang")                           --> "lua"
--   kv.get("kv", "nope", "default")                --> "default"
--   kv.keys("kv")                                  --> {"lang"}, sorted
--
-- Writes (put, delete) are casts: the caller does not wait. Reads are calls.
-- One process's cast and its later call reach the server in that order, so
-- a get after a put from the same process always sees the put.
local gen = require "moonbeam.gen_server"

local KV = {}

-- ---- the server -------------------------------------------------------------

function KV.init(initial)
  local data = {}
  for k, v in pairs(initial or {}) do data[k] = v end
  return "ok", data
end

function KV.handle_call(req, _from, data)
  local op = req[1]
  if op == "get" then
    return "reply", { data[req[2]] }, data   -- wrapped: a missing key is an empty table
  elseif op == "keys" then
    local keys = {}
    for k in pairs(data) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    return "reply", keys, data
  elseif op == "size" then
    local n = 0
    for _ in pairs(data) do n = n + 1 end
    return "reply", n, data
  end
  return "reply", nil, data
end

function KV.handle_cast(msg, data)
  local op = msg[1]
  if op == "put" then
    data[msg[2]] = msg[3]
  elseif op == "delete" then
    data[msg[2]] = nil
  end
  return "noreply", data
end

-- ---- the client -------------------------------------------------------------

--- start_link([opts]) -> pid, or nil and why. opts as gen.start_link's, and
-- initial = a table of keys and values to start with.
function KV.start_link(opts)
  opts = opts or {}
  return gen.start_link("examples.kv_store", opts.initial, opts)
end

--- put(server, key, value) -> true (a cast).
function KV.put(server, key, value)
  if key == nil or value == nil then error("kv_store.put: key and value must not be nil", 2) end
  return gen.cast(server, { "put", key, value })
end

--- get(server, key, [default]) -> the value, or default (nil) when absent.
function KV.get(server, key, default)
  local r = gen.call(server, { "get", key })
  if r[1] == nil then return default end
  return r[1]
end

--- delete(server, key) -> true (a cast).
function KV.delete(server, key) return gen.cast(server, { "delete", key }) end
--- keys(server) -> an array of the keys, sorted by their text.
function KV.keys(server) return gen.call(server, { "keys" }) end
function KV.size(server) return gen.call(server, { "size" }) end
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
  print("put runtime, answer, config (casts; a get after them sees them)")
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
