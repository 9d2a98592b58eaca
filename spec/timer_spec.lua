-- Timers: send_after, cancel_timer, receive timeouts, sleep.

local mb = require "moonbeam"
local h = require "spec.support.helpers"
local U = require "spec.support.sup_util"   -- rss_kb, sanitized

describe("mb.send_after", function()
  before_each(h.before)
  after_each(h.after)

  it("delivers the message to a pid after the delay, not before", function()
    local tag = mb.make_ref()
    local t0 = h.now_ms()
    local tref = mb.send_after(50, mb.self(), { "timer", tag })
    assert.is_true(h.is_ref(tref))
    local m = h.expect(h.tuple("timer", tag), "the timer's message")
    local elapsed = h.now_ms() - t0
    assert.same({ "timer", tag }, m)
    assert.is_true(elapsed >= 40, "delivered after " .. elapsed .. " ms")
  end)

  it("delivers the message as it is", function()
    local msg = { "timer", { nested = { 1, 2, 3 } }, pid = mb.self() }
    mb.send_after(0, mb.self(), msg)
    assert.same(msg, h.expect(h.tuple("timer"), "the timer's message"))
  end)

  it("accepts 0 ms", function()
    mb.send_after(0, mb.self(), "now")
    assert.equal("now", mb.receive(h.TIMEOUT))
  end)

  it("delivers to another process", function()
    local a = h.echo(mb.self())
    mb.send_after(10, a, "from a timer")
    assert.equal("from a timer", h.relayed(a))
  end)

  it("delivers to a registered name", function()
    local name = h.name("timer")
    mb.register(name, mb.self())
    mb.send_after(10, name, "to a name")
    assert.equal("to a name", mb.receive(h.TIMEOUT))
  end)

  it("resolves a name when it fires, not when it is set", function()
    local name = h.name("later")
    local tref = mb.send_after(100, name, "resolved late")
    assert.is_true(h.is_ref(tref))
    mb.register(name, mb.self())
    assert.equal("resolved late", mb.receive(h.TIMEOUT))
  end)

  it("follows a name that moved to another process before it fired", function()
    local name = h.name("moved")
    local a, b = h.echo(mb.self()), h.echo(mb.self())
    mb.register(name, a)
    mb.send_after(100, name, "for whoever has the name")
    mb.unregister(name)
    mb.register(name, b)
    assert.equal("for whoever has the name", h.relayed(b))
    -- a relays what it gets in order: a copy for it would come before the pong.
    assert.is_true(h.ping(a))
    assert.is_nil(mb.receive(h.tuple("relay", a), 0))
  end)

  it("drops the message silently when the name is unregistered at firing", function()
    local name = h.name("nobody")
    local tref = mb.send_after(10, name, "lost")
    assert.is_true(h.is_ref(tref))
    h.timers_fired(10)
    assert.is_true(h.ping(h.echo()), "the host keeps running")
    assert.is_nil(mb.receive(function(m) return m == "lost" end, 0))
  end)

  it("to a dead pid is harmless", function()
    local ok, err = pcall(mb.send_after, 10, h.dead_pid(), "void")
    assert.is_true(ok, h.text(err))
    h.timers_fired(10)
    assert.is_true(h.ping(h.echo()))
  end)

  it("to a pid is cancelled when that process exits", function()
    local a = h.echo()
    local tref = mb.send_after(1000, a, "for a dead process")
    local ref = mb.monitor(a)
    mb.exit(a, "kill")
    h.down(ref)
    assert.is_false(mb.cancel_timer(tref))
  end)

  it("to a name is not cancelled when the process that had the name exits", function()
    local name = h.name("kept")
    local a = h.echo()
    mb.register(name, a)
    local tref = mb.send_after(150, name, "for the name")   -- after the name is this process's
    local ref = mb.monitor(a)
    mb.exit(a, "kill")
    h.down(ref)
    mb.register(name, mb.self())
    assert.equal("for the name", mb.receive(h.TIMEOUT))
    assert.is_false(mb.cancel_timer(tref))
  end)

  it("raises \"send_after: ms must be a finite number >= 0\" for NaN, a negative delay, math.huge or a non-number", function()
    for _, bad in ipairs({ -1, -1000, 0 / 0, math.huge, -math.huge, "10" }) do
      assert.equal("send_after: ms must be a finite number >= 0",
        h.usage_error("send_after", mb.send_after, bad, mb.self(), "x"))
    end
    assert.is_nil(mb.receive(50))
  end)

  it("refuses a delay no timer can be set for (2^64, 1e300), and takes one of 2^53 ms", function()
    for _, bad in ipairs({ 2 ^ 64, 1e300, 2 ^ 53 + 2 }) do
      assert.matches("at most 2^53", h.usage_error("send_after", mb.send_after, bad, mb.self(), "x"), 1, true)
    end
    local tref = mb.send_after(2 ^ 53, mb.self(), "in 285,000 years")
    assert.is_true(h.is_ref(tref))
    -- the timer thread's clock is set no further than it can count: it does
    -- not wake over and over for such a timer
    local cpu, got = h.cpu_ms(mb.receive, 100)
    assert.is_nil(got)
    assert.is_true(cpu < 60, "waiting 100 ms beside the timer cost " .. cpu .. " ms of CPU")
    assert.is_true(mb.cancel_timer(tref) > 2 ^ 52)
  end)

  it("refuses an empty name, or one with a NUL byte (which would deliver to the name before it)", function()
    local name = h.name("nul")
    mb.register(name, mb.self())
    h.usage_error("send_after", mb.send_after, 0, name .. "\0tail", "misdelivered")
    h.usage_error("send_after", mb.send_after, 0, "", "x")
    assert.is_nil(mb.receive(50))
  end)

  it("raises for a message that cannot be sent", function()
    local x = 1
    h.error_of(mb.send_after, 10, mb.self(), { f = function() return x end })
    h.error_of(mb.send_after, 10, mb.self(), nil)
  end)

  it("keeps the order of timers with increasing delays", function()
    -- Timers fire in the order of their time: the order below holds when the
    -- three were set within 30 ms of each other.
    h.unless_held_up(function()
      local tag, t0 = mb.make_ref(), h.now_ms()
      mb.send_after(60, mb.self(), { tag, 3 })
      mb.send_after(0, mb.self(), { tag, 1 })
      mb.send_after(30, mb.self(), { tag, 2 })
      local set_within = h.now_ms() - t0
      local got = {}
      for i = 1, 3 do got[i] = h.expect(h.tuple(tag), "timer " .. i)[2] end
      if set_within >= 30 then return false end
      assert.same({ 1, 2, 3 }, got)
      return true
    end, "three timers set within 30 ms")
  end)

  it("fires timers of the same delay, set one after another, in the order they were set", function()
    local tag = mb.make_ref()
    for i = 1, 50 do mb.send_after(20, mb.self(), { tag, i }) end
    for i = 1, 50 do assert.equal(i, h.expect(h.tuple(tag), "timer " .. i)[2]) end
  end)

  it("returns a distinct ref for each timer", function()
    local r1 = mb.send_after(1000, mb.self(), "a")
    local r2 = mb.send_after(1000, mb.self(), "b")
    assert.are_not.equal(r1, r2)
    mb.cancel_timer(r1)
    mb.cancel_timer(r2)
  end)

  it("works from inside a process", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.send_after(10, parent, "from the child's timer")
    end, mb.self())
    h.expect(function(m) return m == "from the child's timer" end, "the child's timer")
  end)
end)

-- A timer to a pid ends with the pid (OTP-SEMANTICS D 30): it delivered
-- nothing, but it and its message stayed on the heap until due (20,000
-- processes that set an hour's timeout to themselves held 196 MB).
describe("a timer to a process that ended", function()
  before_each(h.before)
  after_each(h.after)

  it("lets its message go, well before it is due", function()
    local rss0 = U.rss_kb()
    for _ = 1, 8000 do
      local _, ref = mb.spawn_monitor(function()
        local mb = require "moonbeam"
        mb.send_after(3600 * 1000, mb.self(), string.rep("x", 10000))
      end)
      h.down(ref)
    end
    local grown = U.rss_kb() - rss0
    if not U.sanitized() then   -- (freed memory sits in a sanitizer's quarantine)
      assert.is_true(grown < 40 * 1024, "the host grew by " .. grown .. " KB for 78 MB of messages")
    end
  end)
end)

describe("mb.cancel_timer", function()
  before_each(h.before)
  after_each(h.after)

  it("returns the whole milliseconds left", function()
    local tref = mb.send_after(1000, mb.self(), "cancelled")
    local left = mb.cancel_timer(tref)
    assert.is_number(left)
    assert.equal(math.floor(left), left)
    assert.is_true(left >= 0 and left <= 1000, "left " .. left)
  end)

  it("means the message is never delivered", function()
    local tref = mb.send_after(100, mb.self(), "cancelled")
    mb.cancel_timer(tref)
    h.timers_fired(100)
    assert.is_nil(mb.receive(function(m) return m == "cancelled" end, 0))
  end)

  it("returns false the second time", function()
    local tref = mb.send_after(1000, mb.self(), "x")
    assert.is_number(mb.cancel_timer(tref))
    assert.is_false(mb.cancel_timer(tref))
  end)

  it("returns false for a timer that already fired and was received", function()
    local tref = mb.send_after(0, mb.self(), "fired")
    assert.equal("fired", mb.receive(h.TIMEOUT))
    assert.is_false(mb.cancel_timer(tref))
  end)

  it("returns false for a timer that fired; its message stays queued", function()
    local tref = mb.send_after(10, mb.self(), "fired")
    h.timers_fired(10)
    assert.is_false(mb.cancel_timer(tref))
    assert.equal("fired", mb.receive(0))
  end)

  it("cancels many timers, none of which delivers", function()
    -- Each cancel finds its timer armed when all ran within 300 ms.
    h.unless_held_up(function()
      local refs, tag, t0 = {}, mb.make_ref(), h.now_ms()
      for i = 1, 200 do refs[i] = mb.send_after(300 + i, mb.self(), { "many", tag, i }) end
      local left = {}
      for i = 1, 200 do left[i] = mb.cancel_timer(refs[i]) end
      local held_up = h.now_ms() - t0 >= 300
      h.timers_fired(500)
      if held_up then return false end
      for i = 1, 200 do assert.is_number(left[i]) end
      assert.is_nil(mb.receive(h.tuple("many", tag), 0))
      return true
    end, "200 timers armed and cancelled within 300 ms")
  end)

  it("cancels timers armed in the same slice, a thousand at a time", function()
    -- Inside a process, starts are batched until the slice ends: a cancel
    -- may reach the timer thread before the start it follows.
    local _, ref = mb.spawn_monitor(function()
      local mb = require "moonbeam"
      for round = 1, 20 do
        for i = 1, 1000 do
          if type(mb.cancel_timer(mb.send_after(1000, mb.self(), i))) ~= "number" then
            mb.exit("a timer was not pending")
          end
        end
      end
      mb.exit(mb.receive(50) == nil and "none_delivered" or "delivered")
    end)
    assert.equal("none_delivered", h.reason(ref))
  end)

  it("raises for something that is not a timer ref", function()
    h.error_of(mb.cancel_timer, "nope")
    h.error_of(mb.cancel_timer, nil)
  end)

  it("returns false for a ref that is not a timer", function()
    assert.is_false(mb.cancel_timer(mb.make_ref()))
  end)
end)

describe("receive timeouts", function()
  before_each(h.before)
  after_each(h.after)

  it("return nil after about the timeout", function()
    local t0 = h.now_ms()
    assert.is_nil(mb.receive(50))
    local elapsed = h.now_ms() - t0
    assert.is_true(elapsed >= 40 and elapsed < 2000, "returned after " .. elapsed .. " ms")
  end)

  it("of a selective receive return nil after about the timeout", function()
    mb.send(mb.self(), "not this")
    local t0 = h.now_ms()
    assert.is_nil(mb.receive(function(m) return m == "that" end, 50))
    local elapsed = h.now_ms() - t0
    assert.is_true(elapsed >= 40 and elapsed < 2000, "returned after " .. elapsed .. " ms")
    assert.equal("not this", mb.receive(0))
  end)

  it("do not leave a late wake-up behind", function()
    assert.is_nil(mb.receive(20))
    mb.sleep(40)
    mb.send(mb.self(), "real")
    assert.equal("real", mb.receive(h.TIMEOUT))
    assert.is_nil(mb.receive(0))
  end)

  it("work in spawned processes", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.send(parent, { "timed out", mb.receive(30) == nil })
    end, mb.self())
    assert.same({ "timed out", true }, h.expect(h.tuple("timed out"), "the child's report"))
  end)

  -- docs/reference.md ("Timeouts, counts and names"): math.huge is
  -- "infinity", and so is a timeout longer than the runtime can schedule; it
  -- never fires early.
  local INFINITE = { { "math.huge", math.huge }, { "2^64", 2 ^ 64 }, { "1e300", 1e300 }, { "\"infinity\"", "infinity" } }
  for _, case in ipairs(INFINITE) do
    it("of " .. case[1] .. " never fire: a message sent 100 ms later is what returns, and waiting costs no CPU", function()
      local pid = mb.spawn(function(parent, t)
        local mb = require "moonbeam"
        mb.send(parent, { "got", mb.receive(t) })
        mb.send(parent, { "got", mb.receive(function(m) return m == "second" end, t) })
      end, mb.self(), case[2])
      mb.send_after(100, pid, "late")
      local cpu, m = h.cpu_ms(h.expect, h.tuple("got"), "the child's plain receive")
      assert.equal("late", m[2])
      assert.is_true(cpu < 60, "waiting 100 ms cost " .. cpu .. " ms of CPU")
      mb.send(pid, "first")
      mb.send_after(100, pid, "second")
      cpu, m = h.cpu_ms(h.expect, h.tuple("got"), "the child's selective receive")
      assert.equal("second", m[2])
      assert.is_true(cpu < 60, "waiting 100 ms cost " .. cpu .. " ms of CPU")
    end)
  end

  it("of math.huge in the host's own process wait for the message, without spinning", function()
    mb.send_after(100, mb.self(), "late")
    local cpu, m = h.cpu_ms(mb.receive, math.huge)
    assert.equal("late", m)
    assert.is_true(cpu < 60, "waiting 100 ms cost " .. cpu .. " ms of CPU")
  end)

  it("raise \"receive: timeout must be ...\" for NaN, a negative number or a non-number", function()
    local match = function() return true end
    for _, bad in ipairs({ 0 / 0, -1, -math.huge, "10", true, {} }) do
      assert.equal("receive: timeout must be a number >= 0 or \"infinity\"", h.usage_error("receive", mb.receive, bad))
      h.usage_error("receive", mb.receive, match, bad)
    end
  end)
end)

describe("mb.sleep", function()
  before_each(h.before)
  after_each(h.after)

  it("raises inside a coroutine of the process's own, naming itself; sleep(0) does not", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      local zero = { coroutine.resume(coroutine.create(function() mb.sleep(0) return "slept" end)) }
      local ok, err = coroutine.resume(coroutine.create(function() mb.sleep(10) end))
      mb.send(parent, { "in coroutine", zero[1], zero[2], ok, err })
    end, mb.self())
    local m = h.expect(h.tuple("in coroutine"), "the sleeper's report")
    assert.same({ true, "slept", false }, { m[2], m[3], m[4] })
    assert.matches("sleep: cannot wait inside a coroutine of your own; sleep from the process's body", m[5], 1, true)
  end)

  it("waits about the given time", function()
    local t0 = h.now_ms()
    mb.sleep(50)
    local elapsed = h.now_ms() - t0
    assert.is_true(elapsed >= 40 and elapsed < 2000, "slept " .. elapsed .. " ms")
  end)

  it("is cut short by an exit signal", function()
    local pid, ref = mb.spawn_monitor(function()
      local mb = require "moonbeam"
      mb.sleep(60000)
    end)
    assert.is_true(h.wait_until(function() return mb.info(pid).status == "waiting" end))
    mb.exit(pid, "wake up")
    assert.equal("wake up", h.reason(ref))
  end)

  it("raises \"sleep: ms must be ...\" for NaN, a negative or a non-number duration", function()
    for _, bad in ipairs({ -1, 0 / 0, -math.huge, "10" }) do
      assert.equal("sleep: ms must be a number >= 0 or \"infinity\"", h.usage_error("sleep", mb.sleep, bad))
    end
    h.usage_error("sleep", mb.sleep)
  end)

  for _, case in ipairs({ { "math.huge", math.huge }, { "\"infinity\"", "infinity" }, { "2^64", 2 ^ 64 } }) do
    it("of " .. case[1] .. " never returns, and costs no CPU", function()
      local pid, ref = mb.spawn_monitor(function(parent, t)
        local mb = require "moonbeam"
        mb.send(parent, "sleeping")
        mb.sleep(t)
        mb.send(parent, "woke")
      end, mb.self(), case[2])
      h.expect(function(m) return m == "sleeping" end, "the sleeper")
      local cpu, woke = h.cpu_ms(mb.receive, function(m) return m == "woke" end, 300)
      assert.is_nil(woke, "the sleep returned")
      assert.is_true(cpu < 100, "300 ms of sleep cost " .. cpu .. " ms of CPU")
      local info = mb.info(pid)
      assert.is_table(info, "the sleeper ended: " .. h.text(mb.receive(h.tuple("DOWN", ref), 0)))
      assert.equal("waiting", info.status)
      mb.exit(pid, "kill")
      assert.equal("killed", h.reason(ref))
    end)
  end

  it("leaves the mailbox alone", function()
    mb.send(mb.self(), "kept")
    mb.sleep(10)
    assert.equal("kept", mb.receive(0))
  end)

  it("blocks only the sleeping process", function()
    for _ = 1, 8 do
      mb.spawn(function(parent)
        local mb = require "moonbeam"
        mb.sleep(1500)
        mb.send(parent, "woke")
      end, mb.self())
    end
    local a = h.echo()
    local tag = mb.make_ref()
    mb.send(a, { "ping", mb.self(), tag })
    local first = mb.receive(function(m)
      return m == "woke" or (type(m) == "table" and m[1] == "reply" and m[2] == tag)
    end, 5000)
    assert.is_table(first, "the ping was answered only after a sleeper woke")
  end)
end)

describe("mb.send_interval", function()
  before_each(h.before)
  after_each(h.after)

  local function tick(tag) return function(m) return type(m) == "table" and m[1] == "tick" and m[2] == tag end end

  it("delivers the message every ms until cancel_timer, and none after", function()
    local tag = mb.make_ref()
    local t0 = h.now_ms()
    local tref = mb.send_interval(20, mb.self(), { "tick", tag })
    assert.is_true(h.is_ref(tref))
    for _ = 1, 4 do assert.same({ "tick", tag }, mb.receive(tick(tag), h.TIMEOUT)) end
    local elapsed = h.now_ms() - t0
    assert.is_true(elapsed >= 70, "four ticks after " .. elapsed .. " ms")
    local left = mb.cancel_timer(tref)
    assert.is_number(left)
    assert.is_true(left >= 0 and left <= 20, "left " .. tostring(left))
    -- Those sent before the cancel are queued already (a tick is sent under
    -- the lock cancel_timer takes): one or more, when this process ran late.
    while mb.receive(tick(tag), 0) do end
    assert.is_nil(mb.receive(tick(tag), 100))
    assert.is_false(mb.cancel_timer(tref))
  end)

  it("of less than a microsecond counts as one: other timers go on, and cancel_timer ends it", function()
    -- to a name nobody has: each message is dropped where it would go
    local tref = mb.send_interval(1e-12, h.name("nobody"), "t")
    mb.send_after(1, mb.self(), "other")
    assert.equal("other", mb.receive(h.TIMEOUT))
    assert.is_number(mb.cancel_timer(tref))
  end)

  it("delivers to a registered name, resolved at each message", function()
    local name, tag = h.name("interval"), mb.make_ref()
    local a = h.echo(mb.self())
    mb.register(name, a)
    local tref = mb.send_interval(10, name, { "tick", tag })
    assert.same({ "tick", tag }, h.relayed(a, tick(tag)))
    mb.unregister(name)
    mb.register(name, mb.self())
    assert.same({ "tick", tag }, mb.receive(tick(tag), h.TIMEOUT))
    assert.is_number(mb.cancel_timer(tref))
  end)

  it("ends when the destination pid exits", function()
    local a = h.echo()
    local tref = mb.send_interval(10, a, "tick")
    local ref = mb.monitor(a)
    mb.exit(a, "kill")
    h.down(ref)
    h.timers_fired(30)
    assert.is_false(mb.cancel_timer(tref))
  end)

  it("ends when the process that set it exits", function()
    local tag = mb.make_ref()
    local setter, ref = mb.spawn_monitor(function(to, tag)
      local mb = require "moonbeam"
      mb.send(to, { "set", mb.send_interval(10, to, { "tick", tag }) })
      mb.receive()
    end, mb.self(), tag)
    local set = h.expect(h.tuple("set"), "the timer's ref")
    assert.same({ "tick", tag }, mb.receive(tick(tag), h.TIMEOUT))
    mb.exit(setter, "kill")
    h.down(ref)
    h.timers_fired(30)
    while mb.receive(tick(tag), 0) do end
    assert.is_nil(mb.receive(tick(tag), 60))
    assert.is_false(mb.cancel_timer(set[2]))
  end)

  it("raises \"send_interval: ms must be a finite number > 0\" for 0, NaN, negatives, math.huge or a non-number", function()
    for _, bad in ipairs({ 0, -1, 0 / 0, math.huge, "10" }) do
      assert.equal("send_interval: ms must be a finite number > 0",
        h.usage_error("send_interval", mb.send_interval, bad, mb.self(), "x"))
    end
    h.usage_error("send_interval", mb.send_interval, 10, 42, "x")
    h.usage_error("send_interval", mb.send_interval, 10, mb.self(), nil)
    assert.is_nil(mb.receive(50))
  end)
end)
