-- examples/ttl_lru_cache.lua: the seeds' ConfigurableCache, a cache whose
-- options say how many entries it keeps (the least recently used goes
-- first when it is full) and how long an entry lives (TTL, from when it was
-- written; one put may give its own). (examples/app/cache.lua is the
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
-- How it works: the entries live in a shared table (moonbeam.table) that
-- the server owns, as in examples/kv_store.lua. A get reads the table
-- directly, from any process, without waiting for the server: the table's
-- own per-entry TTL (tab.insert(t, k, v, ttl_ms)) makes an expired entry
-- invisible at once. The get then casts {"hit", key} or {"miss", key} to
-- the server, which keeps the use order and the counts; a process's cast
-- reaches the server before that process's next call, so a get counts as a
-- use for the put that follows it. Writes (put, delete) are calls to the
-- server, the table's only writer: when one returns, every process's next
-- get sees it. The server evicts the least recently used key when a new
-- one would pass max_size; a timer it sends itself sweeps out the keys
-- whose TTL passed (a miss on such a key drops it at once), counting them
-- as expirations. A reader learns the table's handle once (a call) and asks
-- again if the table is gone (the server was restarted).
--
-- Keys are strings or numbers. The server's bookkeeping is O(1) a key: the
-- use order is a doubly linked list threaded through two tables of keys
-- (newer[k], older[k]) rather than through nodes, so the state holds no
-- cycles and gen.get_state can still copy it out. The counts are as exact
-- as casts are: a server whose mailbox is full drops them.
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local tab = require "moonbeam.table"

local Cache = {}

Cache.DEFAULT_MAX_SIZE = 1000

-- ---- the server -------------------------------------------------------------

function Cache.init(opts)
  local st = {
    table = tab.new(),                        -- protected: the server writes, every process reads
    max_size = opts.max_size or Cache.DEFAULT_MAX_SIZE,
    ttl = opts.ttl_ms,                        -- nil: entries never expire
    every = opts.cleanup_ms or opts.ttl_ms,   -- nil: no sweeps
    expires = {},                             -- key -> ms (math.huge: never); the keys held
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
  st.expires[k] = nil
  tab.delete(st.table, k)
  st.size = st.size - 1
end

local function is_expired(st, k, now)
  local e = st.expires[k]
  return e ~= nil and e <= now
end

function Cache.handle_call(req, _from, st)
  local op, key = req[1], req[2]
  if op == "put" then
    local ttl = req[4] or st.ttl
    if st.expires[key] ~= nil then
      unlink(st, key)
    else
      if st.size >= st.max_size then      -- full: the least recently used goes
        remove(st, st.oldest)
        st.evictions = st.evictions + 1
      end
      st.size = st.size + 1
    end
    -- The time is taken before the insert, so the table's expiry is never
    -- earlier than the server's: a get that misses finds the key expired here too.
    st.expires[key] = ttl and mb.now() + ttl or math.huge
    tab.insert(st.table, key, req[3], ttl)
    push_newest(st, key)
    return "reply", true, st
  elseif op == "delete" then
    if st.expires[key] == nil then return "reply", false, st end
    local live = tab.member(st.table, key)
    if not live then st.expirations = st.expirations + 1 end
    remove(st, key)
    return "reply", live, st
  elseif op == "table" then
    return "reply", st.table, st
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

-- What the readers tell the server after reading the table.
function Cache.handle_cast(msg, st)
  local what, key = msg[1], msg[2]
  if what == "hit" then
    st.hits = st.hits + 1
    if st.expires[key] ~= nil then        -- not evicted or deleted since the read
      unlink(st, key)
      push_newest(st, key)
    end
  elseif what == "miss" then
    st.misses = st.misses + 1
    if is_expired(st, key, mb.now()) then
      remove(st, key)
      st.expirations = st.expirations + 1
    end
  end
  return "noreply", st
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

-- The table of each server (pid or name) this process has read from.
local tables = {}

-- lookup(server, key): the key's value in the server's table, read directly;
-- once more with the handle asked afresh if the one known was deleted (the
-- server restarted).
local function lookup(server, key)
  local t = tables[server]
  if t == nil then
    t = gen.call(server, { "table" })
    tables[server] = t
  end
  local ok, v = pcall(tab.lookup, t, key)
  if ok then return v end
  if not tostring(v):find("does not exist", 1, true) then error(v, 0) end
  tables[server] = gen.call(server, { "table" })
  return tab.lookup(tables[server], key)
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

--- put(server, key, value, [ttl_ms]) -> true, once written.
function Cache.put(server, key, value, ttl_ms)
  check_key(key, "put")
  if value == nil then error("ttl_lru_cache.put: value must not be nil", 2) end
  return gen.call(server, { "put", key, value, ttl_ms })
end

--- get(server, key) -> the value, or nil (never put, evicted or expired),
-- read from the table; the server hears of the hit or miss by a cast.
function Cache.get(server, key)
  check_key(key, "get")
  local v = lookup(server, key)
  gen.cast(server, { v ~= nil and "hit" or "miss", key })
  return v
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

--- delete(server, key) -> whether it was there (and not expired), once deleted.
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
  say("a cache of at most 3 entries, living 300 ms, swept every 100 ms; gets read its shared table")
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
