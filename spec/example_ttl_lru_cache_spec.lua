-- examples/ttl_lru_cache.lua: the seeds' ConfigurableCache (TTL and LRU).

local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local h = require "spec.support.helpers"
local cache = require "examples.ttl_lru_cache"

describe("examples.ttl_lru_cache", function()
  before_each(h.before)
  after_each(h.after)

  it("gets what was put, and nil for what was not", function()
    local c = assert(cache.start_link())
    assert.is_true(cache.put(c, "k", { v = 1 }))
    assert.same({ v = 1 }, cache.get(c, "k"))
    assert.is_nil(cache.get(c, "other"))
    local st = cache.stats(c)
    assert.equal(1, st.hits)
    assert.equal(1, st.misses)
    assert.equal(1000, st.max_size)
  end)

  it("evicts the least recently used entry when full; a get counts as a use", function()
    local c = assert(cache.start_link({ max_size = 3 }))
    cache.put(c, "a", 1)
    cache.put(c, "b", 2)
    cache.put(c, "c", 3)
    assert.equal(1, cache.get(c, "a"))          -- b is now the least recently used
    cache.put(c, "d", 4)
    assert.is_nil(cache.get(c, "b"))
    assert.same({ "d", "a", "c" }, cache.keys(c))
    cache.put(c, "e", 5)                        -- then c
    assert.same({ "e", "d", "a" }, cache.keys(c))
    local st = cache.stats(c)
    assert.equal(3, st.size)
    assert.equal(2, st.evictions)
  end)

  it("replaces a key's value without evicting anything", function()
    local c = assert(cache.start_link({ max_size = 2 }))
    cache.put(c, "a", 1)
    cache.put(c, "b", 2)
    cache.put(c, "a", 10)
    assert.equal(10, cache.get(c, "a"))
    assert.equal(2, cache.get(c, "b"))
    assert.equal(0, cache.stats(c).evictions)
  end)

  it("expires entries ttl_ms after they were put; one put may give its own ttl", function()
    h.unless_held_up(function()
      local c = assert(cache.start_link({ ttl_ms = 150, cleanup_ms = 60000 }))
      local t0 = h.now_ms()
      cache.put(c, "short", 1)
      cache.put(c, "long", 2, 5000)
      local short = cache.get(c, "short")
      if h.now_ms() - t0 >= 150 then return false end   -- held up past the ttl
      assert.equal(1, short)
      mb.sleep(250)
      assert.is_nil(cache.get(c, "short"))
      assert.equal(2, cache.get(c, "long"))
      assert.equal(1, cache.stats(c).expirations)
      return true
    end, "an entry read less than its ttl after it was put")
  end)

  it("never expires entries without a ttl", function()
    local c = assert(cache.start_link({ max_size = 10 }))
    cache.put(c, "k", "v")
    mb.sleep(100)
    assert.equal("v", cache.get(c, "k"))
  end)

  it("sweeps expired entries out every cleanup_ms, with no get needed", function()
    local c = assert(cache.start_link({ ttl_ms = 50, cleanup_ms = 50 }))
    for i = 1, 10 do cache.put(c, i, i) end
    -- On a loaded machine some may already be swept: every entry is either
    -- still held or counted as expired.
    local st = cache.stats(c)
    assert.equal(10, st.size + st.expirations)
    assert.is_true(h.wait_until(function() return cache.stats(c).size == 0 end), "never swept")
    assert.equal(10, cache.stats(c).expirations)
    assert.same({}, cache.keys(c))
  end)

  it("fetch loads a missing value once, in the caller, then serves it from the cache", function()
    local c = assert(cache.start_link())
    local loads = 0
    local function load(x) loads = loads + 1 return x * 2 end
    assert.equal(42, cache.fetch(c, "x", load, 21))
    assert.equal(42, cache.fetch(c, "x", load, 21))
    assert.equal(1, loads)
  end)

  it("deletes", function()
    local c = assert(cache.start_link())
    cache.put(c, "k", 1)
    assert.is_true(cache.delete(c, "k"))
    assert.is_false(cache.delete(c, "k"))
    assert.is_nil(cache.get(c, "k"))
    assert.equal(0, cache.stats(c).size)
  end)

  it("keeps a state without cycles, so gen.get_state can copy it out", function()
    local c = assert(cache.start_link({ max_size = 3 }))
    for i = 1, 5 do cache.put(c, "k" .. i, i) end
    local st = gen.get_state(c)
    assert.equal("k5", st.newest)
    assert.equal("k3", st.oldest)
    assert.equal(3, st.size)
  end)

  it("gets read the shared table without a call, and learn a restarted server's new table", function()
    local c = assert(cache.start_link({ name = "ttl_cache_spec" }))
    cache.put("ttl_cache_spec", "k", 1)
    assert.equal(1, cache.get("ttl_cache_spec", "k"))          -- learns the table
    gen.suspend(c)                                             -- a call would now wait
    assert.equal(1, cache.get("ttl_cache_spec", "k"))
    assert.is_nil(cache.get("ttl_cache_spec", "nope"))
    gen.resume(c)
    local st = cache.stats(c)
    assert.equal(2, st.hits)
    assert.equal(1, st.misses)
    gen.stop(c)
    assert(cache.start_link({ name = "ttl_cache_spec" }))      -- a new server, a new table
    assert.is_nil(cache.get("ttl_cache_spec", "k"))
    cache.put("ttl_cache_spec", "k", 2)
    assert.equal(2, cache.get("ttl_cache_spec", "k"))
    cache.stop("ttl_cache_spec")
  end)

  it("refuses bad keys, nil values and a bad max_size", function()
    local c = assert(cache.start_link())
    assert.matches("key must be a string or a number", h.error_of(cache.put, c, { "t" }, 1))
    assert.matches("key must be a string or a number", h.error_of(cache.get, c, nil))
    assert.matches("value must not be nil", h.error_of(cache.put, c, "k", nil))
    assert.matches("max_size", h.error_of(cache.start_link, { max_size = 0 }))
  end)
end)
