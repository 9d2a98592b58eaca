-- examples/mailer.lua: replying from a Task with gen.reply, so the server
-- is never blocked (and the blocking version, the pitfall, for contrast).

local mb = require "moonbeam"
local h = require "spec.support.helpers"
local mailer = require "examples.mailer"

-- n processes send one email each at once; returns the ms until all were sent.
local function rush(server, n)
  local me, t0 = mb.self(), h.now_ms()
  for i = 1, n do
    mb.spawn(function(parent, server, i)
      local id, err = require("examples.mailer").send(server, { to = "u" .. i .. "@example.com" }, 10000)
      require("moonbeam").send(parent, { "sent", id, err })
    end, me, server, i)
  end
  for _ = 1, n do
    local m = h.expect(h.tuple("sent"), "a send", 10000)
    assert.is_string(m[2], tostring(m[3]))
  end
  return h.now_ms() - t0
end

describe("examples.mailer", function()
  before_each(h.before)
  after_each(h.after)

  it("sends an email and returns its message id", function()
    local m = assert(mailer.start_link({ latency_ms = 10 }))
    assert.equal("<1.ann@example.com>", mailer.send(m, { to = "ann@example.com", subject = "hi" }))
    assert.equal("<2.bob@example.com>", mailer.send(m, { to = "bob@example.com" }))
  end)

  it("returns nil and why for a bad address", function()
    local m = assert(mailer.start_link({ latency_ms = 10 }))
    local id, err = mailer.send(m, { to = "nobody" })
    assert.is_nil(id)
    assert.equal("invalid address: nobody", err)
    assert.is_true(h.wait_until(function() return mailer.stats(m).failed == 1 end))
  end)

  it("sends from Tasks: emails sent at once overlap, and the server answers meanwhile", function()
    -- Sends long enough that all five are under way together even when a
    -- loaded machine starts them far apart.
    local m = assert(mailer.start_link({ latency_ms = 2000 }))
    local me = mb.self()
    local done = {}
    for i = 1, 5 do
      mb.spawn(function(parent, m, i)
        local id = require("examples.mailer").send(m, { to = "u" .. i .. "@example.com" }, 10000)
        require("moonbeam").send(parent, { "sent", id })
      end, me, m, i)
    end
    -- A stats call answered with all five in flight: the sends overlap, and
    -- the server answers while they go on (not only after, as with blocking).
    assert.is_true(h.wait_until(function() return mailer.stats(m).in_flight == 5 end),
      "the five sends were never in flight at once")
    for _ = 1, 5 do done[#done + 1] = h.expect(h.tuple("sent"), "a send")[2] end
    assert.is_true(h.wait_until(function()
      local s = mailer.stats(m)
      return s.sent == 5 and s.in_flight == 0
    end))
  end)

  it("with blocking = true (the pitfall) makes the sends, and every other call, queue up", function()
    local m = assert(mailer.start_link({ latency_ms = 150, blocking = true }))
    local took = rush(m, 4)
    assert.is_true(took >= 550, "4 blocking sends of 150 ms took only " .. took .. " ms")
  end)

  it("answers the caller with an error when the sending task dies before it answered", function()
    local m = assert(mailer.start_link({ latency_ms = 10000 }))
    local before = {}
    for _, p in ipairs(mb.processes()) do before[p] = true end
    local me = mb.self()
    local caller = mb.spawn(function(parent, m)
      local id, err = require("examples.mailer").send(m, { to = "x@example.com" }, 20000)
      require("moonbeam").send(parent, { "result", id, err })
    end, me, m)
    assert.is_true(h.wait_until(function() return mailer.stats(m).in_flight == 1 end))
    local the_task
    for _, p in ipairs(mb.processes()) do
      if not before[p] and p ~= caller then the_task = p end
    end
    assert.is_not_nil(the_task)
    mb.exit(the_task, "kill")
    local r = h.expect(h.tuple("result"), "the caller's answer")
    assert.is_nil(r[2])
    assert.matches("the sending task died: killed", r[3])
    local s = mailer.stats(m)
    assert.equal(0, s.in_flight)
    assert.equal(1, s.failed)
  end)
end)
