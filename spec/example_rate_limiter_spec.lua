-- examples/rate_limiter.lua: a token bucket per key in one gen_server.

local mb = require "moonbeam"
local h = require "spec.support.helpers"
local limiter = require "examples.rate_limiter"

local function pack(...) return { ... } end

describe("examples.rate_limiter", function()
  before_each(h.before)
  after_each(h.after)

  it("allows limit requests at once, saying how many are left, then refuses with the wait", function()
    local l = assert(limiter.start_link({ limit = 3, per_ms = 3000 }))
    local t0 = h.now_ms()
    assert.same({ true, 2 }, pack(limiter.allow(l, "k")))
    assert.same({ true, 1 }, pack(limiter.allow(l, "k")))
    assert.same({ true, 0 }, pack(limiter.allow(l, "k")))
    local ok, wait = limiter.allow(l, "k")
    assert.is_false(ok)
    -- one token comes back every 1000 ms, counted from the first take (a
    -- loaded machine may take a while over the four)
    local took = h.now_ms() - t0
    assert.is_true(wait > 900 - took and wait <= 1000, "wait " .. wait .. " after " .. took .. " ms")
  end)

  it("keeps a bucket per key", function()
    local l = assert(limiter.start_link({ limit = 1, per_ms = 60000 }))
    assert.is_true(limiter.allow(l, "alice"))
    assert.is_false(limiter.allow(l, "alice"))
    assert.is_true(limiter.allow(l, "bob"))
  end)

  it("allows again once the wait it gave has passed", function()
    local l = assert(limiter.start_link({ limit = 2, per_ms = 200 }))
    limiter.allow(l, "k")
    limiter.allow(l, "k")
    local ok, wait = limiter.allow(l, "k")
    assert.is_false(ok)
    mb.sleep(wait + 5)
    assert.is_true((limiter.allow(l, "k")))
  end)

  it("counts a request for cost tokens", function()
    local l = assert(limiter.start_link({ limit = 10, per_ms = 60000 }))
    assert.same({ true, 3 }, pack(limiter.allow(l, "k", 7)))
    assert.is_false((limiter.allow(l, "k", 4)))
    assert.same({ true, 0 }, pack(limiter.allow(l, "k", 3)))
  end)

  it("resets a key's bucket", function()
    local l = assert(limiter.start_link({ limit = 1, per_ms = 60000 }))
    limiter.allow(l, "k")
    assert.is_false((limiter.allow(l, "k")))
    assert.is_true(limiter.reset(l, "k"))
    assert.is_true((limiter.allow(l, "k")))
  end)

  it("shares the limit between processes that use the same name", function()
    local name = h.name("limiter")
    assert(limiter.start_link({ limit = 5, per_ms = 60000, name = name }))
    local me = mb.self()
    for _ = 1, 8 do
      mb.spawn(function(parent, name)
        local ok = require("examples.rate_limiter").allow(name, "shared")
        require("moonbeam").send(parent, { "allowed", ok })
      end, me, name)
    end
    local allowed = 0
    for _ = 1, 8 do
      if h.expect(h.tuple("allowed"), "an answer")[2] then allowed = allowed + 1 end
    end
    assert.equal(5, allowed)
    local st = limiter.stats(name)
    assert.equal(5, st.allowed)
    assert.equal(3, st.refused)
  end)

  it("forgets buckets that have filled up again", function()
    local l = assert(limiter.start_link({ limit = 2, per_ms = 100 }))
    -- Both buckets are held when the look comes within 100 ms of the first.
    h.unless_held_up(function()
      local t0 = h.now_ms()
      limiter.allow(l, "a")
      limiter.allow(l, "b")
      local keys = limiter.stats(l).keys
      local looked_within = h.now_ms() - t0 < 100
      assert.is_true(h.wait_until(function() return limiter.stats(l).keys == 0 end), "buckets kept")
      if not looked_within and keys ~= 2 then return false end
      assert.equal(2, keys)
      return true
    end, "two allows and a look within 100 ms")
  end)

  it("refuses bad options and a nil key", function()
    assert.matches("limit", h.error_of(limiter.start_link, { limit = 0, per_ms = 10 }))
    assert.matches("per_ms", h.error_of(limiter.start_link, { limit = 1 }))
    local l = assert(limiter.start_link({ limit = 1, per_ms = 10 }))
    assert.matches("key", h.error_of(limiter.allow, l, nil))
  end)
end)
