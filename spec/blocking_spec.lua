-- mb.blocking: a blocking call runs on a pool thread, in the calling
-- process's own state, and no scheduler waits for it (docs/semantics.md,
-- "Blocking calls"). The pool's size and a host's scheduler count, set from the
-- command line or the environment, are in cli_spec and require_spec.

local mb = require "moonbeam"
local h = require "spec.support.helpers"
local nap = require "spec.support.nap"
local meet = require "spec.support.meet"

-- Threads in the blocking pool: MOONBEAM_BLOCKING_THREADS, or the default.
local function pool_size()
  local n = tonumber(os.getenv("MOONBEAM_BLOCKING_THREADS"))
  if n and n > 0 then return n end
  return math.max(4, h.schedulers())
end

-- Runs body(parent) in a process of its own and returns what it sends back.
local function in_process(body)
  mb.spawn(function(parent, body)
    local mb = require "moonbeam"
    local ok, err = pcall(body, parent)
    if not ok then mb.send(parent, { "body failed", tostring(err) }) end
  end, mb.self(), body)
end

describe("mb.blocking", function()
  before_each(h.before)
  after_each(h.after)

  it("returns every result of fn, nils included", function()
    in_process(function(parent)
      local mb = require "moonbeam"
      local function pack(...) return { n = select("#", ...), ... } end
      local r = pack(mb.blocking(function(a, b) return a + b, nil, "three", nil end, 1, 2))
      mb.send(parent, { "results", r })
    end)
    local m = h.expect(function(m) return m[1] == "results" or m[1] == "body failed" end, "the results")
    assert.equal("results", m[1], m[2])
    assert.equal(4, m[2].n)
    assert.equal(3, m[2][1])
    assert.is_nil(m[2][2])
    assert.equal("three", m[2][3])
  end)

  it("raises fn's error value itself", function()
    in_process(function(parent)
      local mb = require "moonbeam"
      local t = { "mine" }
      local ok, e = pcall(mb.blocking, function() error(t) end)
      local ok2, e2 = pcall(mb.blocking, function() error("plain", 0) end)
      local function positioned() error("with a position") end
      local ok3, e3 = pcall(mb.blocking, positioned)
      local _, direct = pcall(positioned)
      mb.send(parent, { "errors", ok or ok2 or ok3, rawequal(e, t), e2, e3, direct })
    end)
    local m = h.expect(function(m) return m[1] == "errors" or m[1] == "body failed" end, "the errors")
    assert.equal("errors", m[1], m[2])
    assert.is_false(m[2])
    assert.is_true(m[3], "the same table")
    assert.equal("plain", m[4])
    assert.matches(":%d+: with a position$", m[5])
    assert.equal(m[6], m[5])
  end)

  it("sees fn's upvalues, and what fn does to them stays done", function()
    in_process(function(parent)
      local mb = require "moonbeam"
      local count, seen = 41, nil
      local log = {}
      mb.blocking(function()
        seen = count
        count = count + 1
        log[#log + 1] = "ran"
      end)
      mb.send(parent, { "upvalues", seen, count, log[1] })
    end)
    local m = h.expect(function(m) return m[1] == "upvalues" or m[1] == "body failed" end, "the upvalues")
    assert.same({ "upvalues", 41, 42, "ran" }, m)
  end)

  it("charges the CPU time fn used on its pool thread to the process's runtime", function()
    -- The monitor samples only the schedulers: fn's 300 ms of CPU once
    -- showed as a runtime of 0.
    local pid = mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.blocking(function()
        local stop = os.clock() + 0.3   -- this thread's CPU time
        while os.clock() < stop do end
      end)
      mb.send(parent, "returned")
      mb.receive()
    end, mb.self())
    h.expect(function(m) return m == "returned" end, "the blocking call's end")
    local runtime = mb.info(pid).runtime
    -- os.clock counts the whole host's CPU: at least half of it is fn's here.
    assert.is_true(runtime >= 150, "runtime " .. tostring(runtime) .. " ms after 300 ms of CPU in fn")
    mb.exit(pid, "kill")
  end)

  it("keeps the schedulers serving others while every one of them has a process in a blocking call", function()
    local pinger = mb.spawn("spec.support.pingpong")
    assert.is_true(h.ping(mb.spawn("spec.support.echo")), "the host answers at all")
    -- Each call says it is in, and stays until told to go: the pongs are
    -- counted over a time that all of them are known to span, 600 ms or
    -- more, until a loaded machine has run the pair enough (30 s at most).
    local n, place, marks = h.schedulers(), meet.place(), { "go" }
    for i = 1, n do
      marks[#marks + 1] = "in" .. i
      mb.spawn(function(parent, place, i)
        local mb = require "moonbeam"
        local meet = require "spec.support.meet"
        mb.send(parent, { "blocked", mb.blocking(function()
          meet.mark(place, "in" .. i)
          return meet.wait(place, "go", 60000)
        end) })
      end, mb.self(), place, i)
    end
    assert.is_true(h.wait_until(function()
      for i = 1, n do
        if not meet.seen(place, "in" .. i) then return false end
      end
      return true
    end), "the blocking calls never were all in")
    local from = mb.now()
    mb.sleep(600)
    local pongs, to, give_up = 0, nil, h.now_ms() + 30000
    repeat
      to = mb.now()
      mb.send(pinger, { "peek", from, to, mb.self() })
      pongs = h.expect(h.tuple("pongs"), "the pong count")[2]
      if pongs < 100 then mb.sleep(100) end
    until pongs >= 100 or h.now_ms() > give_up
    meet.mark(place, "go")
    for _ = 1, n do assert.is_true(h.expect(h.tuple("blocked"), "the end of a blocking call")[2]) end
    meet.clear(place, unpack(marks))
    mb.exit(pinger, "kill")
    -- Some thousands on two cores; none when the schedulers wait.
    assert.is_true(pongs >= 100, pongs .. " pongs in " .. (to - from) .. " ms")
  end)

  it("runs calls side by side", function()
    -- Each call waits (5 s at most) to see the other in its call.
    local place = meet.place()
    for i = 1, 2 do
      mb.spawn(function(parent, place, i)
        local mb = require "moonbeam"
        mb.send(parent, { "met", mb.blocking(require("spec.support.meet").at, place, i, 3 - i, 5000) })
      end, mb.self(), place, i)
    end
    local a = h.expect(h.tuple("met"), "the first call", 10000)[2]
    local b = h.expect(h.tuple("met"), "the second call", 10000)[2]
    meet.clear(place, "1.in", "1.done", "2.in", "2.done")
    assert.is_true(a or b, "the two calls never ran at the same time")
  end)

  it("ends a process killed during the call once fn returns; its monitor fires after", function()
    local pid, ref = mb.spawn_monitor(function(parent)
      local mb = require "moonbeam"
      local nap = require "spec.support.nap"
      mb.blocking(function()
        mb.send(parent, "inside")
        nap(300)
        mb.send(parent, "returning")
      end)
      mb.send(parent, "after")
    end, mb.self())
    h.expect(function(m) return m == "inside" end, "the call to start")
    mb.exit(pid, "kill")
    -- Gone to the killer at once, as Erlang's is_process_alive after the
    -- caller's own exit signal; its state ends once fn returns, and
    -- in the order they were sent come fn's last message, then the DOWN.
    assert.is_false(mb.alive(pid))
    assert.equal("returning", mb.receive(h.TIMEOUT))
    local down = mb.receive(h.TIMEOUT)
    assert.is_true(h.tuple("DOWN", ref)(down), h.text(down))
    assert.equal("killed", down[5])
    assert.is_nil(mb.receive(100), "nothing after fn returned")
  end)

  it("ends a process killed while it waits for a pool thread at once, without running fn", function()
    -- More calls than the pool has threads: the last ones wait their turn.
    local n = pool_size() + 2
    local pids = {}
    for i = 1, n do
      pids[i] = mb.spawn(function(parent, i)
        local mb = require "moonbeam"
        local nap = require "spec.support.nap"
        mb.blocking(function()
          mb.send(parent, { "ran", i })
          nap(3000)
          mb.send(parent, { "done", i })
        end)
      end, mb.self(), i)
    end
    local ran = {}
    for _ = 1, n - 2 do ran[h.expect(h.tuple("ran"), "the calls that got a thread")[2]] = true end
    local refs = {}
    for i = 1, n do
      if not ran[i] then
        refs[#refs + 1] = mb.monitor(pids[i])
        mb.exit(pids[i], "kill")
      end
    end
    for _, ref in ipairs(refs) do assert.equal("killed", h.reason(ref)) end
    -- Not once a thread was free: the calls that have one still run.
    assert.is_nil(mb.receive(h.tuple("done"), 0), "the DOWN waited for a pool thread")
    assert.is_nil(mb.receive(h.tuple("ran"), 500), "a killed process's fn ran")
  end)

  it("delivers what fn sends at once, and fn can spawn", function()
    in_process(function(parent)
      local mb = require "moonbeam"
      local nap = require "spec.support.nap"
      mb.blocking(function()
        mb.send(parent, "from fn")
        mb.spawn(function(parent) require("moonbeam").send(parent, "from fn's child") end, parent)
        nap(1000)
      end)
    end)
    local t0 = h.now_ms()
    h.expect(function(m) return m == "from fn" end, "fn's message", 800)
    h.expect(function(m) return m == "from fn's child" end, "the child's message", 800)
    assert.is_true(h.now_ms() - t0 < 800)
  end)

  it("lets fn take a queued message with receive(0) but not wait", function()
    in_process(function(parent)
      local mb = require "moonbeam"
      mb.send(mb.self(), "queued")
      local got = mb.blocking(function() return mb.receive(0) end)
      local ok, err = pcall(mb.blocking, function() return mb.receive(50) end)
      local ok2, err2 = pcall(mb.blocking, function() mb.sleep(10) end)
      mb.send(parent, { "waits", got, ok or ok2, err, err2 })
    end)
    local m = h.expect(function(m) return m[1] == "waits" or m[1] == "body failed" end, "the outcome")
    assert.equal("waits", m[1], m[2])
    assert.equal("queued", m[2])
    assert.is_false(m[3])
    assert.equal("receive: cannot wait inside mb.blocking; receive or sleep after it returns", m[4])
    assert.matches("sleep: cannot wait inside mb.blocking; sleep after it returns", m[5], 1, true)
  end)

  -- The request would go and its server act on it, and then the wait for
  -- the reply would raise: refused before it goes.
  it("refuses a call of a server inside fn before the request goes", function()
    in_process(function(parent)
      local mb = require "moonbeam"
      local gen = require "moonbeam.gen_server"
      local srv = assert(gen.start("spec.support.counter", 0))
      local ok, err = pcall(mb.blocking, function() return gen.call(srv, "increment") end)
      mb.send(parent, { "call in blocking", ok, tostring(err), gen.call(srv, "get") })
      gen.stop(srv)
    end)
    local m = h.expect(function(m) return m[1] == "call in blocking" or m[1] == "body failed" end, "the outcome")
    assert.equal("call in blocking", m[1], m[2])
    assert.is_false(m[2])
    assert.equal("gen_server.call: cannot wait inside mb.blocking; call after it returns", m[3])
    assert.equal(0, m[4])
  end)

  it("runs fn as a plain call inside another blocking call", function()
    in_process(function(parent)
      local mb = require "moonbeam"
      local r = mb.blocking(function()
        return mb.blocking(function(x) return x * 2 end, 21)
      end)
      mb.send(parent, { "nested", r })
    end)
    assert.equal(42, h.expect(function(m) return m[1] == "nested" or m[1] == "body failed" end, "the result")[2])
  end)

  it("runs fn as a plain call in the host's own process", function()
    local up = 1
    local a, b = mb.blocking(function(x)
      up = up + x
      return up, "b"
    end, 2)
    assert.equal(3, a)
    assert.equal("b", b)
    assert.equal(3, up)
    local t = {}
    local ok, e = pcall(mb.blocking, function() error(t) end)
    assert.is_false(ok)
    assert.is_true(rawequal(t, e))
  end)

  it("raises inside a coroutine of the process's own", function()
    in_process(function(parent)
      local mb = require "moonbeam"
      local co = coroutine.create(function() return mb.blocking(function() return 1 end) end)
      local ok, err = coroutine.resume(co)
      mb.send(parent, { "coroutine", ok, err })
    end)
    local m = h.expect(function(m) return m[1] == "coroutine" or m[1] == "body failed" end, "the outcome")
    assert.equal("coroutine", m[1], m[2])
    assert.is_false(m[2])
    assert.matches("^blocking: cannot leave the schedulers inside a coroutine of your own", m[3])
  end)

  it("refuses a non-function", function()
    h.usage_error("blocking", mb.blocking, 42)
    h.usage_error("blocking", mb.blocking)
  end)

  it("ends a process that crashes or exits inside fn, with links and monitors firing", function()
    local _, ref = mb.spawn_monitor(function()
      local mb = require "moonbeam"
      mb.blocking(function() mb.exit("from fn") end)
      mb.exit("not reached")
    end)
    assert.equal("from fn", h.reason(ref))
    local _, ref2 = mb.spawn_monitor(function()
      local mb = require "moonbeam"
      mb.blocking(function() error("crash in fn") end)
    end)
    local reason = h.reason(ref2)
    assert.equal("error", reason[1])
    assert.matches("crash in fn", reason[2])
  end)

  it("survives many short calls from many processes", function()
    local n, calls = 20, 10
    for i = 1, n do
      mb.spawn(function(parent, i, calls)
        local mb = require "moonbeam"
        local sum = 0
        for k = 1, calls do
          sum = sum + mb.blocking(function(a, b)
            mb.send(parent, { "tick" })
            return a * b
          end, i, k)
          mb.send(parent, { "tock" })
        end
        mb.send(parent, { "sum", i, sum })
      end, mb.self(), i, calls)
    end
    local got = 0
    for _ = 1, n do
      local m = h.expect(h.tuple("sum"), "a sum", 10000)
      assert.equal(m[2] * calls * (calls + 1) / 2, m[3])
      got = got + 1
    end
    assert.equal(n, got)
  end)
end)
