-- examples/app/cache.lua: a key-value cache as a gen_server, registered as
-- "cache". It holds at most max_size entries and evicts the least recently
-- used one when full. Part of the example tree (examples/app/tree.lua).
--
--   local cache = require "examples.app.cache"
--   cache.put("k", "v")  --> true
--   cache.get("k")       --> "v"
--   cache.stats()        --> {size=, max_size=, hits=, misses=, evictions=}
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"

local Cache = {}

Cache.NAME = "cache"

-- ---- the server ---------------------------------------------------------

-- opts: {max_size = n (default 100), log = bool}
function Cache.init(opts)
  opts = opts or {}
  mb.trap_exit(true)   -- so that terminate runs when our supervisor stops us
  local st = { max_size = opts.max_size or 100, log = opts.log, data = {}, used = {}, size = 0,
               tick = 0, hits = 0, misses = 0, evictions = 0 }
  if st.log then print(("[cache]    up, at most %d entries"):format(st.max_size)) end
  return "ok", st
end

local function touch(st, key)
  st.tick = st.tick + 1
  st.used[key] = st.tick
end

local function evict_one(st)
  local oldest, when
  for k, t in pairs(st.used) do
    if when == nil or t < when then oldest, when = k, t end
  end
  st.data[oldest], st.used[oldest] = nil, nil
  st.size = st.size - 1
  st.evictions = st.evictions + 1
end

function Cache.handle_call(req, _, st)
  local op = req[1]
  if op == "get" then
    local v = st.data[req[2]]
    if v == nil then
      st.misses = st.misses + 1
    else
      st.hits = st.hits + 1
      touch(st, req[2])
    end
    return "reply", v, st
  elseif op == "put" then
    local key, value = req[2], req[3]
    if st.data[key] == nil then
      if st.size >= st.max_size then evict_one(st) end
      st.size = st.size + 1
    end
    st.data[key] = value
    touch(st, key)
    return "reply", true, st
  elseif op == "stats" then
    return "reply", { size = st.size, max_size = st.max_size, hits = st.hits,
                      misses = st.misses, evictions = st.evictions }, st
  end
  return "reply", nil, st
end

function Cache.terminate(reason, st)
  if st.log then print(("[cache]    stopping (%s) with %d entries"):format(tostring(reason), st.size)) end
end

-- ---- the client -----------------------------------------------------------

function Cache.get(key) return gen.call(Cache.NAME, { "get", key }) end
function Cache.put(key, value) return gen.call(Cache.NAME, { "put", key, value }) end
function Cache.stats() return gen.call(Cache.NAME, { "stats" }) end

return Cache
