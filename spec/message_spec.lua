-- Messages: send, receive, selective receive, and the codec that copies a
-- message from one Lua state into another.

local mb = require "moonbeam"
local ffi = require "ffi"
local h = require "spec.support.helpers"

-- A message goes through the codec even when a process sends to itself;
-- sending through another process also decodes it in a second state.
local routes = {
  {
    "sent to itself",
    function(v)
      local tag = mb.make_ref()
      assert.is_true(mb.send(mb.self(), { "rt", tag, v }))
      return h.expect(h.tuple("rt", tag), "the message back")[3]
    end,
  },
  {
    "sent through another process",
    function(v)
      return (h.call(h.echo(), "echo", v))
    end,
  },
}

for _, route in ipairs(routes) do
  local how, rt = route[1], route[2]

  describe("the codec, a message " .. how, function()
    before_each(h.before)
    after_each(h.after)

    it("keeps booleans", function()
      assert.is_true(rt(true))
      assert.is_false(rt(false))
    end)

    it("keeps integers exact up to 2^53", function()
      for _, n in ipairs({ 0, 1, -1, 255, 256, 65535, 2 ^ 31 - 1, 2 ^ 31, -2 ^ 31, 2 ^ 32 + 1,
                           2 ^ 53 - 1, 2 ^ 53, -(2 ^ 53 - 1), -2 ^ 53 }) do
        local got = rt(n)
        assert.equal(n, got)
        assert.equal(string.format("%.0f", n), string.format("%.0f", got))
      end
    end)

    it("keeps fractions and extreme doubles bit for bit", function()
      for _, x in ipairs({ 0.1, -1.5, math.pi, 1e308, -1e308, 5e-324, 2.2250738585072014e-308, 2 ^ 63, 2 ^ 64 }) do
        assert.equal(string.format("%.17g", x), string.format("%.17g", rt(x)))
      end
    end)

    it("keeps -0.0 (1/x is -inf)", function()
      local z = rt(-0.0)
      assert.equal(0, z)
      assert.equal(-math.huge, 1 / z)
      assert.equal(math.huge, 1 / rt(0))
    end)

    it("keeps NaN", function()
      local nan = rt(0 / 0)
      assert.is_number(nan)
      assert.is_true(nan ~= nan)
    end)

    it("keeps +inf and -inf", function()
      assert.equal(math.huge, rt(math.huge))
      assert.equal(-math.huge, rt(-math.huge))
    end)

    it("keeps binary strings, \\0 included", function()
      local bytes = {}
      for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
      local all = table.concat(bytes)
      assert.equal(all, rt(all))
      assert.equal("a\0b\0", rt("a\0b\0"))
      assert.equal("\0", rt("\0"))
      assert.equal("", rt(""))
      local big = string.rep(all, 256) -- 64 KiB
      assert.equal(big, rt(big))
    end)

    it("keeps nested tables with array and hash parts", function()
      local msg = {
        1, 2, 3, { 4, { 5, { 6 } } },
        a = { b = { c = "d" } },
        [10] = "sparse",
        [0] = "zero",
        [-1] = "negative",
        [1.5] = "fractional key",
        ["with space"] = { "x", y = false },
      }
      assert.same(msg, rt(msg))
    end)

    it("keeps arrays with holes and empty tables", function()
      local got = rt({ [1] = "a", [3] = "c", empty = {} })
      assert.equal("a", got[1])
      assert.is_nil(got[2])
      assert.equal("c", got[3])
      assert.same({}, got.empty)
      assert.same({}, rt({}))
    end)

    it("copies a table referenced twice (not a cycle)", function()
      local shared = { "s", k = 1 }
      local got = rt({ a = shared, b = shared, list = { shared, shared } })
      assert.same(shared, got.a)
      assert.same(shared, got.b)
      assert.same({ shared, shared }, got.list)
    end)

    it("keeps pids: equal after the trip, usable as table keys, printed as <0.N.N>", function()
      local me = mb.self()
      local other = h.echo()
      local got = rt({ me, other })
      assert.equal(me, got[1])
      assert.equal(other, got[2])
      assert.is_true(got[1] ~= got[2])
      local t = { [me] = "me", [other] = "other" }
      assert.equal("me", t[got[1]])
      assert.equal("other", t[got[2]])
      assert.matches("^<0%.%d+%.%d+>$", tostring(got[1]))
      assert.equal(tostring(me), tostring(got[1]))
    end)

    it("keeps refs: equal after the trip, usable as table keys, printed as #Ref<...>", function()
      local r1, r2 = mb.make_ref(), mb.make_ref()
      local got = rt({ r1, r2 })
      assert.equal(r1, got[1])
      assert.equal(r2, got[2])
      assert.is_true(got[1] ~= got[2])
      local t = { [r1] = 1, [r2] = 2 }
      assert.equal(1, t[got[1]])
      assert.equal(2, t[got[2]])
      assert.matches("^#Ref<.*>$", tostring(got[1]))
    end)

    it("keeps keys of every sendable kind", function()
      local me, ref = mb.self(), mb.make_ref()
      local got = rt({ [true] = "t", [false] = "f", [me] = "pid", [ref] = "ref", [2 ^ 40] = "big" })
      assert.equal("t", got[true])
      assert.equal("f", got[false])
      assert.equal("pid", got[me])
      assert.equal("ref", got[ref])
      assert.equal("big", got[2 ^ 40])
    end)

    it("carries an upvalue-free function as bytecode", function()
      local f = rt({ fn = function(a, b) return a * 10 + b end }).fn
      assert.is_function(f)
      assert.equal(42, f(4, 2))
    end)
  end)
end

describe("the codec refuses", function()
  before_each(h.before)
  after_each(h.after)

  -- Sends msg to itself; the send must raise, nothing may arrive, and the
  -- error is returned as text.
  local function refused(msg)
    local err = h.error_of(mb.send, mb.self(), msg)
    assert.is_nil(mb.receive(0), "a refused message was delivered")
    return err
  end

  local function any_of(text, words)
    local lower = text:lower()
    for _, w in ipairs(words) do
      if lower:find(w, 1, true) then return true end
    end
    return false
  end

  it("a function with upvalues, naming its path", function()
    local x = 1
    local err = refused({ job = { callback = function() return x end } })
    assert.is_truthy(err:find("job.callback", 1, true), err)
    assert.is_true(any_of(err, { "upvalue" }), err)
  end)

  it("a function with upvalues as the whole message", function()
    local x = 1
    refused(function() return x end)
  end)

  it("a C function, naming its path", function()
    local err = refused({ lib = { fn = print } })
    assert.is_truthy(err:find("lib.fn", 1, true), err)
  end)

  it("userdata, naming its path", function()
    local err = refused({ data = { handle = io.stdout } })
    assert.is_truthy(err:find("data.handle", 1, true), err)
    assert.is_true(any_of(err, { "userdata" }), err)
  end)

  it("a coroutine, naming its path", function()
    local err = refused({ co = { routine = coroutine.create(function() end) } })
    assert.is_truthy(err:find("co.routine", 1, true), err)
    assert.is_true(any_of(err, { "coroutine", "thread" }), err)
  end)

  it("cdata, naming its path", function()
    local err = refused({ c = { data = ffi.new("int") } })
    assert.is_truthy(err:find("c.data", 1, true), err)
    assert.is_true(any_of(err, { "cdata" }), err)
  end)

  it("a table with a metatable, naming its path (its raw contents would arrive without the behaviour)", function()
    local proxy = setmetatable({}, { __index = { x = 1 } })
    local err = refused({ a = { b = proxy } })
    assert.is_truthy(err:find("send: msg.a.b: cannot send a table with a metatable", 1, true), err)
    err = refused({ list = { 1, setmetatable({ 2 }, {}) } })
    assert.is_truthy(err:find("msg.list[2]", 1, true), err)
  end)

  it("a table with a metatable as the whole message, or as a key", function()
    local obj = setmetatable({ x = 1 }, { __tostring = function() return "obj" end })
    assert.matches("metatable", refused(obj))
    assert.matches("metatable", refused({ [obj] = true }))
  end)

  it("but not pids and refs, which carry the runtime's own metatable", function()
    local me, ref = mb.self(), mb.make_ref()
    assert.is_true(mb.send(me, { pid = me, ref = ref, [me] = ref, [ref] = { me } }))
    assert.same({ pid = me, ref = ref, [me] = ref, [ref] = { me } }, mb.receive(h.TIMEOUT))
  end)

  it("a value that cannot be sent inside an array, naming its index", function()
    local err = refused({ list = { 1, 2, io.stdout } })
    assert.is_truthy(err:find("list", 1, true), err)
    assert.is_truthy(err:find("3", 1, true), err)
  end)

  it("a cycle, naming where it closes", function()
    local t = { name = "loop" }
    t.inner = { back = t }
    local err = refused({ root = t })
    assert.is_truthy(err:find("root.inner.back", 1, true), err)
    assert.is_true(any_of(err, { "cycl" }), err)
  end)

  it("a table that contains itself", function()
    local t = {}
    t[1] = t
    refused(t)
  end)

  -- n tables, each inside the next.
  local function nest(n)
    local t = { "bottom" }
    for _ = 2, n do t = { t } end
    return t
  end

  it("nesting deeper than the limit (100 tables)", function()
    local err = refused({ a = nest(100) })
    assert.is_true(any_of(err, { "deep", "depth", "nest" }), err)
    err = refused(nest(101))
    assert.is_true(any_of(err, { "deep", "depth", "nest" }), err)
  end)

  it("nesting far deeper than the limit, without overflowing a stack", function()
    local deep = {}
    local cur = deep
    for _ = 1, 100000 do
      cur.a = {}
      cur = cur.a
    end
    local err = refused(deep)
    assert.is_true(any_of(err, { "deep", "depth", "nest" }), err)
  end)

  it("but not nesting up to the limit", function()
    local msg = nest(100)
    assert.is_true(mb.send(mb.self(), msg))
    assert.same(msg, mb.receive(h.TIMEOUT))
  end)

  it("a message larger than the size limit (64 MiB by default)", function()
    local limit = mb.max_message_size()
    assert.equal(64 * 1024 * 1024, limit)
    local err = refused(string.rep("x", limit + 1))
    assert.is_true(any_of(err, { "size", "large", "limit", "bytes" }), err)
  end)

  it("a message larger than a limit set with mb.max_message_size(bytes)", function()
    local old = mb.max_message_size(4096)
    finally(function() mb.max_message_size(old) end)
    assert.equal(4096, mb.max_message_size())
    local err = refused({ blob = string.rep("x", 8192) })
    assert.is_true(any_of(err, { "size", "large", "limit", "bytes" }), err)
    err = refused({ parts = { string.rep("x", 3000), string.rep("y", 3000) } })
    assert.is_true(any_of(err, { "size", "large", "limit", "bytes" }), err)
    assert.is_true(mb.send(mb.self(), { blob = string.rep("x", 1000) }))
    assert.equal(1000, #mb.receive(h.TIMEOUT).blob)
    -- Spawn arguments are one message under the same limit, which the error
    -- quotes as it is (not what the arguments before left of it).
    local fn = function(...) return ... end
    for _, args in ipairs({ { string.rep("x", 5000) }, { "a", string.rep("x", 5000) } }) do
      local ok, e = pcall(mb.spawn, fn, unpack(args))
      assert.is_false(ok)
      assert.matches("spawn: argument #" .. (#args + 1) .. ": message larger than the limit of 4096 bytes", e, 1, true)
      ok, e = pcall(mb.spawn, "spec.support.echo", unpack(args))
      assert.is_false(ok)
      assert.matches("spawn: argument #" .. (#args + 1) .. ": message larger than the limit of 4096 bytes", e, 1, true)
    end
  end)

  it("a limit that is not an integer from 64 to 2^31 bytes, raising \"max_message_size: ...\"", function()
    local limit = mb.max_message_size()
    for _, bad in ipairs({ 4096.5, 0 / 0, math.huge, 63, 2 ^ 31 + 1, "4096" }) do
      h.usage_error("max_message_size", mb.max_message_size, bad)
    end
    assert.equal(limit, mb.max_message_size())
  end)

  it("a message over the size limit given to spawn as arguments", function()
    local old = mb.max_message_size(4096)
    finally(function() mb.max_message_size(old) end)
    local before = #mb.processes()
    h.error_of(mb.spawn, "spec.support.echo", string.rep("x", 8192))
    assert.equal(before, #mb.processes())
  end)

  it("and the sender can go on sending", function()
    local x = 1
    pcall(mb.send, mb.self(), { f = function() return x end })
    assert.is_true(mb.send(mb.self(), "after"))
    assert.equal("after", mb.receive(h.TIMEOUT))
  end)
end)

describe("mb.send", function()
  before_each(h.before)
  after_each(h.after)

  it("returns true", function()
    assert.is_true(mb.send(mb.self(), "hello"))
    assert.equal("hello", mb.receive(h.TIMEOUT))
  end)

  it("returns true also from the send after which its slice is used up (it yields there)", function()
    -- a process's thousandth send of a slice yields, and the scheduler's
    -- resume returns its result; in a coroutine of its own it cannot yield
    local pid = mb.spawn(function(parent)
      local mb = require "moonbeam"
      local bad = 0
      for i = 1, 5000 do
        if mb.send(mb.self(), i) ~= true then bad = bad + 1 end
      end
      local inner = coroutine.wrap(function()
        local n = 0
        for i = 1, 3000 do
          if mb.send(mb.self(), i) ~= true then n = n + 1 end
        end
        return n
      end)
      bad = bad + inner()
      mb.send(parent, { "bad", bad, mb.info(mb.self()).message_queue_len })
    end, mb.self())
    assert.same({ "bad", 0, 8000 }, h.expect(h.tuple("bad"), "the sender's count"))
    assert.is_true(mb.is_pid(pid))
  end)

  it("delivers to another process", function()
    local pid = h.echo(mb.self())
    assert.is_true(mb.send(pid, "not a request"))
    assert.equal("not a request", h.relayed(pid))
  end)

  it("delivers to a registered name", function()
    local name = h.name("send")
    local pid = h.echo(mb.self())
    mb.register(name, pid)
    assert.is_true(mb.send(name, "by name"))
    assert.equal("by name", h.relayed(pid))
  end)

  it("to a dead pid is a silent no-op returning true", function()
    local dead = h.dead_pid()
    assert.is_true(mb.send(dead, "into the void"))
    assert.is_true(mb.send(dead, { big = string.rep("x", 1000) }))
  end)

  it("to an unregistered name raises, naming it", function()
    local name = h.name("nobody")
    local err = h.error_of(mb.send, name, "hello")
    assert.is_truthy(err:find(name, 1, true), err)
  end)

  it("of nil raises", function()
    h.error_of(mb.send, mb.self(), nil)
    h.error_of(mb.send, mb.self())
    assert.is_nil(mb.receive(0))
  end)

  it("to nil or to something that is not a pid or a name raises", function()
    h.error_of(mb.send, nil, "x")
    h.error_of(mb.send, 42, "x")
    h.error_of(mb.send, {}, "x")
  end)

  it("keeps the order of messages from one sender", function()
    for i = 1, 1000 do mb.send(mb.self(), i) end
    for i = 1, 1000 do assert.equal(i, mb.receive(h.TIMEOUT)) end
  end)

  it("keeps the order of messages from another process", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      for i = 1, 500 do mb.send(parent, { "seq", i }) end
    end, mb.self())
    for i = 1, 500 do
      assert.equal(i, h.expect(h.tuple("seq"), "message " .. i)[2])
    end
  end)
end)

describe("mb.receive", function()
  before_each(h.before)
  after_each(h.after)

  -- A process waiting in receive() is resumed with a number or a boolean
  -- taken for it by its scheduler (bindings/vm.c); anything else it takes
  -- itself. Either way, what arrives is what was sent, in order.
  it("in a waiting process gets numbers, booleans and the rest as sent, in order", function()
    local values = { 1, -1, 0, -0.0, 2 ^ 53, -2 ^ 53 - 2, 0.5, 1 / 0, -1 / 0, 0 / 0, true, false, { "t" }, "s", 7 }
    local r = mb.spawn(function(parent, n)
      local mb = require "moonbeam"
      local got = {}
      mb.send(parent, "ready")
      for i = 1, n do got[i] = mb.receive() end
      mb.send(parent, { "got", got })
    end, mb.self(), #values)
    h.expect(function(m) return m == "ready" end, "the receiver ready")
    for _, v in ipairs(values) do
      mb.send(r, v)
      mb.sleep(2)   -- so that it waits again before the next
    end
    h.assert_values(values, h.expect(h.tuple("got"), "what it received")[2])
  end)

  it("takes more messages in a row than a slice's budget, in order", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      for i = 1, 2500 do mb.send(mb.self(), i) end
      local ok = true
      for i = 1, 2500 do ok = ok and mb.receive() == i end
      mb.send(parent, { "in a row", ok, mb.receive(0) })
    end, mb.self())
    assert.same({ "in a row", true }, h.expect(h.tuple("in a row"), "the child's report"))
  end)

  it("ends a process whose message, decoded as it waits, would take it past its memory_limit", function()
    local pid, ref = mb.spawn_opt(function(parent)
      local mb = require "moonbeam"
      mb.send(parent, "waiting")
      local ok = pcall(function() return mb.receive() end)
      mb.send(parent, { "went on", ok })
    end, { monitor = true, memory_limit = 1024 * 1024 }, mb.self())
    h.expect(function(m) return m == "waiting" end, "the child waiting")
    mb.sleep(20)
    mb.send(pid, string.rep("x", 700 * 1000))
    assert.equal("memory_limit", h.reason(ref, 10000))
    assert.is_nil(mb.receive(h.tuple("went on"), 0))
  end)

  it("returns nil after the timeout when nothing arrives", function()
    local t0 = h.now_ms()
    assert.is_nil(mb.receive(50))
    local elapsed = h.now_ms() - t0
    assert.is_true(elapsed >= 40, "returned after " .. elapsed .. " ms")
    assert.is_true(elapsed < 2000, "returned after " .. elapsed .. " ms")
  end)

  it("with timeout 0 returns nil at once on an empty mailbox", function()
    local t0 = h.now_ms()
    assert.is_nil(mb.receive(0))
    assert.is_true(h.now_ms() - t0 < 2000)
  end)

  it("with timeout 0 returns a message already queued", function()
    mb.send(mb.self(), "queued")
    assert.equal("queued", mb.receive(0))
  end)

  it("wakes when a message arrives while it waits", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.sleep(50)
      mb.send(parent, "late")
    end, mb.self())
    assert.equal("late", mb.receive(h.TIMEOUT))
  end)

  it("returns false as a message (only nil means timeout)", function()
    mb.send(mb.self(), false)
    assert.is_false(mb.receive(h.TIMEOUT))
  end)
end)

describe("mb.receive(match, timeout)", function()
  before_each(h.before)
  after_each(h.after)

  it("takes the first matching message and leaves the others in order", function()
    for i = 1, 10 do mb.send(mb.self(), i) end
    assert.equal(6, mb.receive(function(m) return m > 5 end, h.TIMEOUT))
    local rest = {}
    for _ = 1, 9 do rest[#rest + 1] = mb.receive(0) end
    assert.same({ 1, 2, 3, 4, 5, 7, 8, 9, 10 }, rest)
    assert.is_nil(mb.receive(0))
  end)

  it("returns nil after the timeout and leaves every message queued in order", function()
    for i = 1, 5 do mb.send(mb.self(), i) end
    local t0 = h.now_ms()
    assert.is_nil(mb.receive(function(m) return m == "never" end, 50))
    local elapsed = h.now_ms() - t0
    assert.is_true(elapsed >= 40 and elapsed < 2000, "returned after " .. elapsed .. " ms")
    for i = 1, 5 do assert.equal(i, mb.receive(0)) end
    assert.is_nil(mb.receive(0))
  end)

  it("in a process, times out on schedule while messages that don't match keep coming", function()
    -- Each non-matching message wakes the receiver, which waits again for
    -- what is left until the same deadline; sleep likewise.
    local got = mb.spawn(function(parent)
      local mb = require "moonbeam"
      local noise = mb.spawn(function(to)
        local mb = require "moonbeam"
        while true do mb.send(to, "noise"); mb.sleep(2) end
      end, mb.self())
      local t0 = mb.now()
      local m = mb.receive(function(x) return x == "never" end, 60)
      local waited = mb.now() - t0
      t0 = mb.now()
      mb.sleep(60)
      local slept = mb.now() - t0
      mb.exit(noise, "kill")
      mb.send(parent, { "done", m == nil, waited, slept })
    end, mb.self())
    assert.is_truthy(got)
    local r = h.expect(h.tuple("done"), "the receiver's report")
    assert.is_true(r[2], "receive returned a message")
    assert.is_true(r[3] >= 59 and r[3] < 2000, "receive returned after " .. r[3] .. " ms")
    assert.is_true(r[4] >= 59 and r[4] < 2000, "sleep returned after " .. r[4] .. " ms")
  end)

  it("in a process, receive(match, 0) answers at once, without waiting on a timer", function()
    -- A poll must not give up the process's turn until the scheduler's next
    -- timer run (about a millisecond): 1000 polls took over a second so.
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.send(mb.self(), "other")
      local t0 = mb.now()
      for _ = 1, 1000 do
        if mb.receive(function(m) return m == "never" end, 0) ~= nil then error("matched") end
      end
      mb.send(parent, { "polled", mb.now() - t0, mb.receive(0) })
    end, mb.self())
    local r = h.expect(h.tuple("polled"), "the poller's report")
    assert.is_true(r[2] < 500, "1000 polls took " .. r[2] .. " ms")
    assert.equal("other", r[3])
  end)

  it("in a process, times each wait by its own timeout after earlier waits ended early", function()
    -- A wait's timer outlives a wait that ended early (the next one may
    -- reuse it): a shorter wait must not wait for the earlier timer, nor a
    -- longer one end when the earlier timer fires.
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      local function timed(ms)
        local t0 = mb.now()
        local m = mb.receive(ms)
        return m, mb.now() - t0
      end
      mb.send(mb.self(), "early")
      local first = timed(5000)
      local _, short = timed(50)        -- after a 5 s wait that ended at once
      mb.send_after(10, mb.self(), "soon")
      local second = timed(60)          -- ends early, its timer due at 60 ms
      local _, long = timed(150)        -- must not end when that timer fires
      mb.send(parent, { "waits", first, short, second, long })
    end, mb.self())
    local r = h.expect(h.tuple("waits"), "the waiter's report")
    assert.equal("early", r[2])
    assert.is_true(r[3] >= 49 and r[3] < 2000, "receive(50) returned after " .. r[3] .. " ms")
    assert.equal("soon", r[4])
    assert.is_true(r[5] >= 149 and r[5] < 2000, "receive(150) returned after " .. r[5] .. " ms")
  end)

  it("waits for a match that arrives later, keeping the others", function()
    mb.send(mb.self(), "a")
    mb.send(mb.self(), "b")
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.sleep(20)
      mb.send(parent, "x")
      mb.sleep(20)
      mb.send(parent, "match")
      mb.send(parent, "y")
    end, mb.self())
    assert.equal("match", mb.receive(function(m) return m == "match" end, h.TIMEOUT))
    assert.equal("a", mb.receive(h.TIMEOUT))
    assert.equal("b", mb.receive(h.TIMEOUT))
    assert.equal("x", mb.receive(h.TIMEOUT))
    assert.equal("y", mb.receive(h.TIMEOUT))
  end)

  -- Each wake ran the match over the whole queue again: with 100,000
  -- messages queued, 200 arrivals made 20 million calls.
  it("runs its match once per message, however often the receiver is woken", function()
    local body = function(parent, spec_process)
      local mb = require "moonbeam"
      for i = 1, 3 do mb.send(mb.self(), i) end
      mb.send(parent, { "ready", mb.self() })
      local seen = {}
      local got = mb.receive(function(m)
        seen[#seen + 1] = m
        return m == "match"
      end, 5000)
      mb.send(parent, { "seen", got, seen })
    end
    for _, where in ipairs({ "a process", "this process" }) do
      local seen, got
      if where == "a process" then
        mb.spawn(body, mb.self())
        local pid = h.expect(h.tuple("ready"), "the receiver")[2]
        for _, m in ipairs({ "x", "y", "match" }) do
          mb.sleep(10)   -- each one wakes it
          mb.send(pid, m)
          mb.info(pid)   -- a look at it too
        end
        local m = h.expect(h.tuple("seen"), "the receiver's report")
        got, seen = m[2], m[3]
      else
        for i = 1, 3 do mb.send(mb.self(), i) end
        mb.spawn(function(parent)
          local mb = require "moonbeam"
          for _, m in ipairs({ "x", "y", "match" }) do
            mb.sleep(10)
            mb.send(parent, m)
          end
        end, mb.self())
        seen = {}
        got = mb.receive(function(m) seen[#seen + 1] = m; return m == "match" end, 5000)
      end
      assert.equal("match", got)
      assert.same({ 1, 2, 3, "x", "y", "match" }, seen, where)
      for _ = 1, 5 do mb.receive(0) end
    end
  end)

  -- A match that flushed the DOWN it looked at left the look holding a
  -- freed message: the host crashed at the next arrival (found by review).
  it("survives a match that takes messages out of the queue itself (a demonitor's flush)", function()
    for _, takes in ipairs({ false, true }) do
      local pid = mb.spawn(function(parent, takes)
        local mb = require "moonbeam"
        local ref = mb.monitor(mb.spawn(function() end))
        mb.sleep(30)   -- its DOWN is queued
        mb.send(parent, "ready")
        local got = mb.receive(function(m)
          if type(m) == "table" and m[1] == "DOWN" then
            mb.demonitor(ref, true)
            return takes   -- what it took is gone then
          end
          return m == "go"
        end, 5000)
        mb.send(parent, { "got", got })
      end, mb.self(), takes)
      h.expect(function(m) return m == "ready" end, "the receiver")
      mb.sleep(20)
      mb.send(pid, "x")
      mb.sleep(20)
      mb.send(pid, "go")
      assert.same({ "got", "go" }, h.expect(h.tuple("got"), "its report"))
    end
    -- One that takes a message out at every call (a DOWN it makes and
    -- flushes) sees each message once: the look started again from the
    -- top at each, and never ended (found by review).
    local pid = mb.spawn(function(parent)
      local mb = require "moonbeam"
      local dead = mb.spawn(function() end)
      mb.sleep(20)
      mb.send(mb.self(), "a")
      mb.send(mb.self(), "b")
      local calls = 0
      local got = mb.receive(function(m)
        calls = calls + 1
        mb.demonitor(mb.monitor(dead), true)
        return m == "never"
      end, 0)
      mb.send(parent, { "looked", got, calls })
    end, mb.self())
    assert.same({ "looked", nil, 2 }, h.expect(h.tuple("looked"), "its report"))
    mb.exit(pid, "kill")
  end)

  it("can be repeated, each time taking the next match in order", function()
    for i = 1, 20 do mb.send(mb.self(), i) end
    for _, want in ipairs({ 2, 4, 6, 8 }) do
      assert.equal(want, mb.receive(function(m) return m % 2 == 0 end, h.TIMEOUT))
    end
    assert.equal(1, mb.receive(0))
    assert.equal(3, mb.receive(0))
    assert.equal(5, mb.receive(0))
    assert.equal(7, mb.receive(0))
    assert.equal(9, mb.receive(0))
    assert.equal(10, mb.receive(0))
  end)

  -- In a spawned process, so that a receive left broken by a failing match
  -- function cannot break the busted process for the specs that follow.
  it("raises the match function's error, leaving the mailbox as it was", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.send(mb.self(), "first")
      mb.send(mb.self(), "second")
      local ok, err = pcall(mb.receive, function(m) error("bad match") end, 1000)
      local ok1, first = pcall(mb.receive, 0)
      local ok2, second = pcall(mb.receive, 0)
      mb.send(parent, { "bad match", ok, tostring(err), ok1, first, ok2, second })
    end, mb.self())
    local m = h.expect(h.tuple("bad match"), "the child's report")
    assert.is_false(m[2])
    assert.matches("bad match", m[3])
    assert.same({ true, "first", true, "second" }, { m[4], m[5], m[6], m[7] })
  end)

  it("still works after a match function raised", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.send(mb.self(), "earlier")
      local raised = not pcall(mb.receive, function(m) error("bad match") end, 0)
      mb.send(mb.self(), "later")
      local ok, got = pcall(mb.receive, function(m) return m == "later" end, 1000)
      mb.send(parent, { "after bad match", raised, ok, ok and got or tostring(got) })
    end, mb.self())
    assert.same({ "after bad match", true, true, "later" },
      h.expect(h.tuple("after bad match"), "the child's report"))
  end)

  -- A receive that waits is finished by the scheduler when a message comes
  -- (bindings/receive_api.c): the match then runs before the receive
  -- returns, and its error is raised where the receive returned to.
  it("raises the match function's error for a message that came while it waited, leaving it queued", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.send(parent, { "waiting", mb.self() })
      local ok, err = pcall(function()
        local got = mb.receive(function(m)
          if m == "bad" then error("bad match") end
          return false
        end, 5000)
        return got
      end)
      local ok2, first = pcall(mb.receive, 0)
      mb.send(parent, { "late bad match", ok, tostring(err), ok2, first })
    end, mb.self())
    local pid = h.expect(h.tuple("waiting"), "the child waiting")[2]
    mb.sleep(20)
    mb.send(pid, "bad")
    local m = h.expect(h.tuple("late bad match"), "the child's report")
    assert.is_false(m[2])
    assert.matches("bad match", m[3])
    assert.same({ true, "bad" }, { m[4], m[5] })
  end)

  it("ends the process with the reason a match function's mb.exit gives, even under a pcall", function()
    local pid, ref = mb.spawn_monitor(function()
      local mb = require "moonbeam"
      mb.send(mb.self(), "x")
      pcall(mb.receive, function() mb.exit("from_match") end, 0)
      mb.exit("went_on")   -- not reached: the exit was the match's
    end)
    assert.equal("from_match", h.reason(ref))
    assert.is_false(mb.alive(pid))
  end)

  it("raises when the match function would wait, at the first look and at a wake", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      local function sleepy() mb.sleep(1) return true end
      mb.send(mb.self(), "queued")
      local ok1, err1 = pcall(mb.receive, sleepy, 0)
      mb.receive(0)
      mb.send(parent, { "waiting", mb.self() })
      local ok2, err2 = pcall(function() local m = mb.receive(sleepy, 5000) return m end)
      mb.send(parent, { "sleepy match", ok1, err1, ok2, err2 })
    end, mb.self())
    local pid = h.expect(h.tuple("waiting"), "the child waiting")[2]
    mb.sleep(20)
    mb.send(pid, "later")
    local m = h.expect(h.tuple("sleepy match"), "the child's report")
    assert.same({ false, "receive: cannot wait inside a match function" }, { m[2], m[3] })
    assert.is_false(m[4])
    assert.matches("receive: cannot wait inside a match function", m[5], 1, true)
  end)

  it("ends a body that returns the waiting receive's result with the match function's error", function()
    local pid, ref = mb.spawn_opt(function()
      local mb = require "moonbeam"
      return mb.receive(function(m) error("bad match at the end") end)
    end, { monitor = true })
    mb.sleep(20)
    mb.send(pid, "any")
    local reason = h.reason(ref)
    assert.equal("table", type(reason))
    assert.equal("error", reason[1])
    assert.matches("bad match at the end", reason[2])
  end)

  -- A wake's look runs on the state's main thread, where no error is
  -- caught: a refused allocation there (the process's queued messages count
  -- against its limit) exited the host. Numbers that the match refuses are
  -- decoded without allocating: the wake's own bookkeeping is what meets
  -- the limit.
  it("ends a process whose mailbox passes its memory_limit while it waits for a match, the host living on", function()
    local pid, ref = mb.spawn_opt(function(parent)
      local mb = require "moonbeam"
      mb.send(parent, "waiting")
      mb.receive(function() return false end)
    end, { monitor = true, memory_limit = 256 * 1024 }, mb.self())
    h.expect(function(m) return m == "waiting" end, "the child waiting")
    local sent = 0
    while mb.alive(pid) and sent < 100000 do
      for _ = 1, 100 do
        sent = sent + 1
        mb.send(pid, sent)
      end
      mb.sleep(1)
    end
    assert.equal("memory_limit", h.reason(ref))
  end)

  -- Once the child said "waiting" and waits, a message that wakes it.
  local function wake_when_waiting(pid)
    h.expect(function(m) return m == "waiting" end, "the child waiting")
    assert.is_true(h.wait_until(function() return mb.info(pid).status == "waiting" end))
    mb.send(pid, "wake")
  end

  -- A match function at a wake can resume the body's own coroutine
  -- (coroutine.running() in the body), and the body can end there. The
  -- scheduler's resume of a coroutine that did not yield makes LuaJIT's
  -- error message outside any protected call: with the memory filled, the
  -- host exited.
  it("ends a process whose body ended inside its match function, at its memory_limit, the host living on", function()
    local pid, ref = mb.spawn_opt(function(parent)
      local mb = require "moonbeam"
      local co = coroutine.running()
      local oops = { "match failed" }   -- raised without allocating
      local hold = {}
      for i = 1, 20000 do hold[i] = false end   -- room made ahead: the fill below grows no table
      mb.send(parent, "waiting")
      mb.receive(function()
        coroutine.resume(co)   -- the body goes on here, fills its memory and ends
        error(oops)
      end)
      -- Short strings, up to the limit's last bytes; again if an error
      -- (the wake's, raised at its next instruction once a preemption sent
      -- it back to the match) cut a fill short.
      for _ = 1, 3 do
        pcall(function() for i = 1, 20000 do hold[i] = tostring(i + 0.5) end end)
      end
      error(oops)
    end, { monitor = true, memory_limit = 512 * 1024 }, mb.self())
    wake_when_waiting(pid)
    assert.equal("memory_limit", h.reason(ref))
  end)

  it("crashes a process whose body ended inside its match function, saying so", function()
    local pid, ref = mb.spawn_opt(function(parent)
      local mb = require "moonbeam"
      local co = coroutine.running()
      mb.send(parent, "waiting")
      mb.receive(function()
        coroutine.resume(co)   -- the body returns here
        return true
      end)
      return "returned"
    end, { monitor = true }, mb.self())
    wake_when_waiting(pid)
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    assert.matches("body's coroutine ended while it waited", reason[2], 1, true)
  end)

  it("skips messages that do not match while it waits, taking the first that does", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.send(parent, { "waiting", mb.self() })
      local got = mb.receive(function(m) return type(m) == "table" and m[1] == "want" end, 5000)
      local rest = {}
      for i = 1, 3 do rest[i] = mb.receive(0) end
      mb.send(parent, { "selected", got, rest })
    end, mb.self())
    local pid = h.expect(h.tuple("waiting"), "the child waiting")[2]
    for _, v in ipairs({ 1, "two", { "three" } }) do
      mb.sleep(5)
      mb.send(pid, v)
    end
    mb.sleep(5)
    mb.send(pid, { "want", 4 })
    local m = h.expect(h.tuple("selected"), "the child's report")
    assert.same({ "want", 4 }, m[2])
    assert.same({ 1, "two", { "three" } }, m[3])
  end)

  it("works inside a spawned process too", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      local me = mb.self()
      for i = 1, 5 do mb.send(me, i) end
      local picked = mb.receive(function(m) return m == 3 end, 2000)
      local rest = {}
      for _ = 1, 4 do rest[#rest + 1] = mb.receive(0) end
      mb.send(parent, { "selective", picked, rest })
    end, mb.self())
    local m = h.expect(h.tuple("selective"), "the child's report")
    assert.equal(3, m[2])
    assert.same({ 1, 2, 4, 5 }, m[3])
  end)
end)

-- Every road a value takes out of a process goes through the codec, so a
-- table with a metatable is refused on each, and a crash whose error value
-- is such a table keeps its printable form.
describe("a table with a metatable", function()
  before_each(h.before)
  after_each(h.after)

  local function obj()
    return setmetatable({ code = 7 }, { __tostring = function(o) return "E" .. o.code end })
  end

  it("is refused as a spawn argument, naming which, and nothing is started", function()
    local before = #mb.processes()
    local err = h.error_of(mb.spawn, "spec.support.echo", "fine", obj())
    -- named among spawn's own arguments: the target is #1
    assert.is_truthy(err:find("spawn: argument #3: cannot send a table with a metatable", 1, true), err)
    assert.equal(before, #mb.processes())
  end)

  it("is refused as the reason of mb.exit(pid, reason); the target lives on", function()
    local a = h.echo()
    local err = h.error_of(mb.exit, a, { "why", obj() })
    assert.is_truthy(err:find("exit: reason[2]: cannot send a table with a metatable", 1, true), err)
    assert.is_true(h.ping(a))
  end)

  it("is refused as the reason of mb.exit(reason), which raises in the caller", function()
    local pid, ref = mb.spawn_monitor(function(parent)
      local mb = require "moonbeam"
      local ok, err = pcall(mb.exit, setmetatable({}, {}))
      mb.send(parent, { "exit raised", not ok, tostring(err) })
    end, mb.self())
    local m = h.expect(h.tuple("exit raised"), "the child's report")
    assert.is_true(m[2])
    assert.matches("metatable", m[3])
    assert.equal("normal", h.reason(ref))
    assert.is_false(mb.alive(pid))
  end)

  it("is refused by send_after", function()
    assert.matches("metatable", h.error_of(mb.send_after, 10, mb.self(), { obj() }))
    assert.is_nil(mb.receive(50))
  end)

  it("raised as an error value ends the process with its __tostring as the message", function()
    local _, ref = mb.spawn_monitor(function()
      error(setmetatable({ code = 7 }, { __tostring = function(o) return "E" .. o.code end }))
    end)
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    assert.equal("E7", reason[2])
    assert.is_string(reason[3])
  end)

  it("raised as an error value without __tostring still ends the process with a string message", function()
    local _, ref = mb.spawn_monitor(function() error(setmetatable({}, {})) end)
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    assert.is_string(reason[2])
  end)

  it("carries int64_t cdata to and from a process that removed the globals require and tonumber", function()
    local big = ffi.new("int64_t", 2) ^ 53 + 1
    local pid = mb.spawn(function(parent)
      local mb = require "moonbeam"
      local tostr = tostring
      require, tonumber = nil, nil
      local v = mb.receive()
      mb.send(parent, { tostr(v), v, -v })
    end, mb.self())
    mb.send(pid, big)
    local m = mb.receive(h.TIMEOUT)
    assert.equal("9007199254740993LL", m[1])
    assert.is_true(m[2] == big)
    assert.is_true(m[3] == -big)
  end)
end)
