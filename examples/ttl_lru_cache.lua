-- examples/ttl_lru_cache.lua: the seeds' ConfigurableCache, a gen_server
-- cache whose options say how many entries it keeps (the least recently
-- used goes first when it is full) and how long an entry lives (TTL, from
-- when it was written; one put may give its own). A timer the server sends
-- itself sweeps out expired entries. (examples/app/cache.lua is the
-- supervision-tree demo's plain LRU cache.)
--
--   moonbeam run examples/ttl_lru_cache.lua        the demo (from the repository root)
--
--   local cache = require "examples.ttl_lru_cache"
--   local pid = cache.start_link({max_size = 1000, ttl_ms = 60000, name = "cache"})
--   cache.put("cache", "user:1", {name = "alice"})       --> true
--   cache.put("cache", "token", "xyz", 5000)             --> true; lives 5 s, not 60
--   cache.get("cache", "user:1")                         --> {name = "alice"}, or nil
--   cache.fetch("cache", "user:2", load_user, 2)         -- get, or load_user(2) and put
--   cache.stats("cache")  --> {size=, max_size=, hits=, misses=, evictions=, expirations=}
--
-- Keys are strings or numbers. get, put and delete are O(1): the use order
-- is a doubly linked list threaded through two tables of keys (newer[k],
-- older[k]) rather than through nodes, so the state holds no cycles and
-- gen.get_state can still copy it out.
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"

local Cache = {}

Cache.DEFAULT_MAX_SIZE = 1000

-- ---- the server -------------------------------------------------------------

function Cache.init(opts)
  local st = {
    max_size = opts.max_size or Cache.DEFAULT_MAX_SIZE,
    ttl = opts.ttl_ms,                        -- nil: entries never expire
    every = opts.cleanup_ms or opts.ttl_ms,   -- nil: no sweeps
    values = {}, expires = {},                -- key -> value, key -> ms (or absent)
    newer = {}, older = {},                   -- key -> the key used just after / before it
    newest = nil, oldest = nil,
    size = 0, hits = 0, misses = 0, evictions = 0, expirations = 0,
  }
  if st.every then mb.send_after(st.every, mb.self(), "sweep") end
  return "ok", st
end

local function unlink(st, k)
  local o, n = st.older[k], st.newer[k]
  if o ~= nil then st.newer[o] = n else st.oldest = n end
  if n ~= nil then st.older[n] = o else st.newest = o end
  st.older[k], st.newer[k] = nil, nil
end

local function push_newest(st, k)
  st.older[k], st.newer[k] = st.newest, nil
  if st.newest ~= nil then st.newer[st.newest] = k else st.oldest = k end
  st.newest = k
end

local function remove(st, k)
  unlink(st, k)
  st.values[k], st.expires[k] = nil, nil
  st.size = st.size - 1
end

local function is_expired(st, k, now)
  local e = st.expires[k]
  return e ~= nil and e <= now
end

function Cache.handle_call(req, _from, st)
  local op, key = req[1], req[2]
  if op == "get" then
    local v = st.values[key]
    if v ~= nil and is_expired(st, key, mb.now()) then
      remove(st, key)
      st.expirations = st.expirations + 1
      v = nil
    end
    if v == nil then
      st.misses = st.misses + 1
      return "reply", nil, st
    end
    st.hits = st.hits + 1
    unlink(st, key)
    push_newest(st, key)
    return "reply", v, st
  elseif op == "put" then
    local ttl = req[4] or st.ttl
    if st.values[key] ~= nil then
      unlink(st, key)
    else
      if st.size >= st.max_size then      -- full: the least recently used goes
        remove(st, st.oldest)
        st.evictions = st.evictions + 1
      end
      st.size = st.size + 1
    end
    st.values[key] = req[3]
    st.expires[key] = ttl and mb.now() + ttl or nil
    push_newest(st, key)
    return "reply", true, st
  elseif op == "delete" then
    local had = st.values[key] ~= nil
    if had then remove(st, key) end
    return "reply", had, st
  elseif op == "keys" then                  -- most recently used first
    local keys, k = {}, st.newest
    while k ~= nil do
      keys[#keys + 1] = k
      k = st.older[k]
    end
    return "reply", keys, st
  elseif op == "stats" then
    return "reply", { size = st.size, max_size = st.max_size, hits = st.hits, misses = st.misses,
                      evictions = st.evictions, expirations = st.expirations }, st
  end
  return "reply", nil, st
end

function Cache.handle_info(msg, st)
  if msg == "sweep" then
    local now, dead = mb.now(), {}
    for k in pairs(st.expires) do
      if is_expired(st, k, now) then dead[#dead + 1] = k end
    end
    for _, k in ipairs(dead) do remove(st, k) end
    st.expirations = st.expirations + #dead
    mb.send_after(st.every, mb.self(), "sweep")
  end
  return "noreply", st
end

-- ---- the client -------------------------------------------------------------

local function check_key(key, fn)
  local t = type(key)
  if t ~= "string" and t ~= "number" then error(("ttl_lru_cache.%s: key must be a string or a number"):format(fn), 3) end
end

--- start_link([opts]) -> pid, or nil and why. opts: max_size (default 1000),
-- ttl_ms (default: never expire), cleanup_ms (how often expired entries are
-- swept out; default ttl_ms), and gen.start_link's (name, ...).
function Cache.start_link(opts)
  opts = opts or {}
  if opts.max_size ~= nil and not (type(opts.max_size) == "number" and opts.max_size >= 1) then
    error("ttl_lru_cache.start_link: max_size must be a number >= 1", 2)
  end
  return gen.start_link("examples.ttl_lru_cache",
    { max_size = opts.max_size, ttl_ms = opts.ttl_ms, cleanup_ms = opts.cleanup_ms }, opts)
end

--- put(server, key, value, [ttl_ms]) -> true.
function Cache.put(server, key, value, ttl_ms)
  check_key(key, "put")
  if value == nil then error("ttl_lru_cache.put: value must not be nil", 2) end
  return gen.call(server, { "put", key, value, ttl_ms })
end

--- get(server, key) -> the value, or nil (never put, evicted or expired).
function Cache.get(server, key)
  check_key(key, "get")
  return gen.call(server, { "get", key })
end

--- fetch(server, key, fn, ...) -> the cached value, or fn(...) put in the
-- cache. fn runs in the caller, not in the server: a slow load never holds
-- up the other clients (two callers missing at once may both load).
function Cache.fetch(server, key, fn, ...)
  local v = Cache.get(server, key)
  if v ~= nil then return v end
  v = fn(...)
  if v ~= nil then Cache.put(server, key, v) end
  return v
end

--- delete(server, key) -> whether it was there.
function Cache.delete(server, key) return gen.call(server, { "delete", key }) end
--- keys(server) -> the keys, most recently used first (expired ones included until swept).
function Cache.keys(server) return gen.call(server, { "keys" }) end
function Cache.stats(server) return gen.call(server, { "stats" }) end
function Cache.stop(server) return gen.stop(server) end

-- ---- the demo: moonbeam run examples/ttl_lru_cache.lua ------------------------

function Cache.demo()
  assert(Cache.start_link({ max_size = 3, ttl_ms = 300, cleanup_ms = 100, name = "cache" }))
  local t0 = mb.now()
  local function say(fmt, ...) print(("[%4d ms] " .. fmt):format(mb.now() - t0, ...)) end
  say("a cache of at most 3 entries, living 300 ms, swept every 100 ms")
  Cache.put("cache", "a", 1)
  Cache.put("cache", "b", 2)
  Cache.put("cache", "c", 3)
  say("put a, b, c       keys, newest first: %s", table.concat(Cache.keys("cache"), " "))
  say("get a -> %s        keys, newest first: %s", Cache.get("cache", "a"), table.concat(Cache.keys("cache"), " "))
  Cache.put("cache", "d", 4)
  say("put d: full, evicts the least recently used (b): get b -> %s", tostring(Cache.get("cache", "b")))
  Cache.put("cache", "session", "s3cr3t", 1000)
  say("put session with its own TTL (1000 ms): evicts c; keys %s", table.concat(Cache.keys("cache"), " "))
  local loads = 0
  local function load(id) loads = loads + 1 return "user #" .. id end
  say("fetch user:7 -> %q (loaded)", Cache.fetch("cache", "user:7", load, 7))
  say("fetch user:7 -> %q (cached; loads: %d); keys %s", Cache.fetch("cache", "user:7", load, 7), loads,
    table.concat(Cache.keys("cache"), " "))
  mb.sleep(500)
  say("500 ms later: the sweeps expired d and user:7; keys %s; get session -> %s",
    table.concat(Cache.keys("cache"), " "), tostring(Cache.get("cache", "session")))
  local s = Cache.stats("cache")
  say("stats: size %d, hits %d, misses %d, evictions %d, expirations %d",
    s.size, s.hits, s.misses, s.evictions, s.expirations)
  Cache.stop("cache")
end

if arg and arg[0] and arg[0]:match("ttl_lru_cache%.lua$") and (...) ~= "examples.ttl_lru_cache" then
  Cache.demo()
end

return Cache
