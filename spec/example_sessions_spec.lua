-- examples/sessions.lua: the seeds' SessionStore, with its cleanup timer.

local mb = require "moonbeam"
local h = require "spec.support.helpers"
local sessions = require "examples.sessions"

describe("examples.sessions", function()
  before_each(h.before)
  after_each(h.after)

  it("creates sessions with distinct ids and returns their data", function()
    local s = assert(sessions.start_link())
    local a = sessions.create(s, { user = "alice" })
    local b = sessions.create(s, { user = "bob" })
    assert.is_string(a)
    assert.are_not.equal(a, b)
    assert.same({ user = "alice" }, sessions.get(s, a))
    assert.same({ user = "bob" }, sessions.get(s, b))
    assert.is_nil(sessions.get(s, "no-such-id"))
  end)

  it("deletes a session (a cast)", function()
    local s = assert(sessions.start_link())
    local a = sessions.create(s, "data")
    assert.is_true(sessions.delete(s, a))
    assert.is_nil(sessions.get(s, a))
    assert.equal(0, sessions.stats(s).live)
  end)

  it("expires a session not used for ttl_ms, and keeps one that is used", function()
    local TTL = 300
    h.unless_held_up(function()
      local s = assert(sessions.start_link({ ttl_ms = TTL, cleanup_ms = 10000 }))
      local began = h.now_ms()
      local used = sessions.create(s, "used")
      local idle = sessions.create(s, "idle")
      -- Read every 100 ms, so never TTL unread: unless this process was held
      -- up, a read ending TTL or more after the one before it began.
      local t0, widest, got = began, 0, "used"
      while got == "used" and h.now_ms() - t0 < 2 * TTL do
        mb.sleep(100)
        local b = h.now_ms()
        got = sessions.get(s, used)
        widest, began = math.max(widest, h.now_ms() - began), b
      end
      if widest >= TTL then return false end
      assert.equal("used", got)
      -- 600 ms without a get: gone at once, though no sweep has run yet
      assert.is_nil(sessions.get(s, idle))
      assert.equal(0, sessions.stats(s).sweeps)
      return true
    end, "the used session read less often than its ttl")
  end)

  it("sweeps expired sessions out of memory every cleanup_ms, by a timer it sends itself", function()
    local s = assert(sessions.start_link({ ttl_ms = 100, cleanup_ms = 50 }))
    for i = 1, 5 do sessions.create(s, i) end
    -- On a loaded machine some may already be swept: every session is either
    -- live or counted as expired.
    local before = sessions.stats(s)
    assert.equal(5, before.live + before.expired)
    assert.is_true(h.wait_until(function() return sessions.stats(s).live == 0 end),
      "the sessions were never swept")
    local st = sessions.stats(s)
    assert.equal(5, st.expired)
    assert.equal(5, st.created)
    -- At least the sweep that took them (the first, when a loaded machine
    -- runs it late), and it keeps sweeping.
    assert.is_true(st.sweeps >= 1, "sweeps: " .. st.sweeps)
    assert.is_true(h.wait_until(function() return sessions.stats(s).sweeps >= st.sweeps + 2 end))
  end)

  it("refuses nil data", function()
    local s = assert(sessions.start_link())
    assert.matches("must not be nil", h.error_of(sessions.create, s, nil))
  end)

  it("takes a name", function()
    local name = h.name("sessions")
    local s = assert(sessions.start_link({ name = name }))
    assert.equal(s, mb.whereis(name))
    assert.is_string(sessions.create(name, 1))
  end)
end)
