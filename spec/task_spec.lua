-- moonbeam.task: docs/reference.md ("task") and docs/semantics.md ("Task and
-- agent").
--
-- The busted process traps exits (helpers.before), so a crashing task linked
-- to it arrives as an EXIT message; what a crash does to a non-trapping owner
-- is observed on a child process that plays the owner, through a monitor.
-- Task targets live in spec/support/task_fns.lua. Every function handed to
-- task.* or mb.spawn here is upvalue-free (it runs in another Lua state).

local mb = require "moonbeam"
local task = require "moonbeam.task"
local h = require "spec.support.helpers"

local FNS = "spec.support.task_fns"

-- The error a call raised (the raw value, not its text).
local function raised(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error, the call returned " .. h.text(err))
  return err
end

-- Whether v is, or holds (up to a few levels deep), the value x.
local function holds(v, x, depth)
  if v == x then return true end
  if type(v) ~= "table" or (depth or 0) > 4 then return false end
  for _, e in pairs(v) do
    if holds(e, x, (depth or 0) + 1) then return true end
  end
  return false
end

-- The messages in the mailbox that mention task t (its pid, ref or a value).
local function about(t, value)
  local found = {}
  for _, m in ipairs(h.drain()) do
    if holds(m, t.pid) or holds(m, t.ref) or (value ~= nil and holds(m, value)) then
      found[#found + 1] = m
    end
  end
  return found
end

local function gone(pid, timeout)
  return h.wait_until(function() return not mb.alive(pid) end, timeout)
end

describe("task.async / task.await", function()
  before_each(h.before)
  after_each(h.after)

  it("returns a task {pid=, ref=} and await returns its result", function()
    local t = task.async(FNS .. ":double", 21)
    assert.is_table(t)
    assert.is_true(h.is_pid(t.pid))
    assert.is_true(h.is_ref(t.ref))
    assert.equal(42, task.await(t))
  end)

  it("names an argument that cannot be sent among its own (async, start, async_stream)", function()
    local id = function(x) return x end
    assert.equal("task.async: argument #3.f: cannot send a C function",
                 h.usage_error("task.async", task.async, id, 1, { f = print }))
    assert.equal("task.start: argument #2: cannot send a C function",
                 h.usage_error("task.start", task.start, id, print))
    assert.matches("^task.async_stream: list%[3%]: cannot send a C function",
                   h.usage_error("task.async_stream", task.async_stream, { 1, 2, print }, id))
  end)

  it("runs an upvalue-free function with its arguments", function()
    local t = task.async(function(a, b) return a + b end, 2, 3)
    assert.equal(5, task.await(t))
  end)

  it("runs \"module:fn\" and \"module\" (its main) targets", function()
    assert.equal(14, task.await(task.async(FNS .. ":double", 7)))
    assert.same({ "main", "x" }, task.await(task.async(FNS, "x")))
  end)

  it("passes every argument, nil ones included, with their count", function()
    local r = task.await(task.async(FNS .. ":args", 1, nil, "three", nil))
    assert.equal(4, r.n)
    assert.equal(1, r[1])
    assert.is_nil(r[2])
    assert.equal("three", r[3])
    assert.is_nil(r[4])
  end)

  it("returns table results intact", function()
    local r = task.await(task.async(function()
      return { a = 1, list = { 1, 2, 3 }, nested = { deep = "yes" } }
    end))
    assert.same({ a = 1, list = { 1, 2, 3 }, nested = { deep = "yes" } }, r)
  end)

  it("returns nil for a task that returns nothing", function()
    local t = task.async(FNS .. ":nothing")
    assert.is_nil(task.await(t))
    assert.same({}, about(t))
  end)

  it("runs the task in another process", function()
    local t = task.async(function() return require("moonbeam").self() end)
    local pid = task.await(t)
    assert.equal(t.pid, pid)
    assert.not_equal(mb.self(), pid)
  end)

  it("links the task to its owner", function()
    local t = task.async(FNS .. ":on_go", "v")
    assert.is_true(h.contains(mb.info(mb.self()).links, t.pid))
    assert.is_true(h.contains(mb.info(t.pid).links, mb.self()))
    mb.send(t.pid, "go")
    assert.equal("v", task.await(t))
  end)

  it("runs tasks concurrently and awaits them in any order", function()
    -- All ten have started before any may end: run one at a time, the
    -- first would wait for its "go" for ever.
    local ts = {}
    for i = 1, 10 do ts[i] = task.async(FNS .. ":started_then_go", mb.self(), i) end
    for i = 1, 10 do h.expect(h.tuple("started"), "ten tasks running at once, " .. (i - 1) .. " started") end
    for i = 1, 10 do mb.send(ts[i].pid, "go") end
    for i = 10, 1, -1 do assert.equal(i, task.await(ts[i])) end
  end)

  it("leaves no DOWN, EXIT or result message in the owner's mailbox", function()
    local t = task.async(FNS .. ":sleep_then", 20, "clean-result")
    assert.equal("clean-result", task.await(t))
    assert.is_true(gone(t.pid))
    mb.sleep(50)
    assert.same({}, h.drain())
  end)

  it("leaves nothing behind for a result that was already queued", function()
    local t = task.async(FNS .. ":double", 1)
    assert.is_true(gone(t.pid))
    mb.sleep(20)
    assert.equal(2, task.await(t, 0))
    mb.sleep(20)
    assert.same({}, h.drain())
  end)

  it("leaves other messages alone, in order", function()
    mb.send(mb.self(), "before")
    local t = task.async(function()
      return "r"
    end)
    mb.send(mb.self(), "after")
    assert.equal("r", task.await(t))
    assert.equal("before", mb.receive(0))
    assert.equal("after", mb.receive(0))
  end)

  it("raises {\"timeout\"} when the task runs past the timeout", function()
    local t = task.async(FNS .. ":sleep_then", 1000, "late")
    local t0 = h.now_ms()
    local err = raised(task.await, t, 50)
    local elapsed = h.now_ms() - t0
    assert.same({ "timeout" }, err)
    assert.is_true(elapsed >= 40, "await gave up after " .. elapsed .. " ms")
    assert.is_true(elapsed < 800, "await took " .. elapsed .. " ms")
  end)

  it("after a timeout, neither the result nor a DOWN arrives later", function()
    local t = task.async(FNS .. ":on_go", "late-value")
    assert.same({ "timeout" }, raised(task.await, t, 10))
    mb.send(t.pid, "go")   -- the result comes after the await gave up
    assert.is_true(gone(t.pid))
    mb.sleep(50)
    local left = {}
    for _, m in ipairs(about(t, "late-value")) do
      -- an EXIT from the link may still come (OTP does not unlink on timeout)
      if not (type(m) == "table" and m[1] == "EXIT") then left[#left + 1] = m end
    end
    assert.same({}, left)
  end)

  it("has a default timeout of 5000 ms, task.DEFAULT_TIMEOUT, read at each await", function()
    assert.equal(5000, task.DEFAULT_TIMEOUT)
    local t = task.async(FNS .. ":on_go", "never")
    local t0 = h.now_ms()
    local err = h.with_default_timeout(task, 100, raised, task.await, t)
    local elapsed = h.now_ms() - t0
    assert.same({ "timeout" }, err)
    assert.is_true(elapsed >= 90, "default timeout fired after " .. elapsed .. " ms")
    assert.is_true(elapsed < 2000, "default timeout fired after " .. elapsed .. " ms")
  end)

  it("accepts \"infinity\" as the timeout", function()
    assert.equal(6, task.await(task.async(FNS .. ":double", 3), "infinity"))
  end)

  it("raises {\"exit\", reason} when the task crashed (a trapping owner)", function()
    local t = task.async(FNS .. ":crash", "task went wrong")
    local err = raised(task.await, t, h.TIMEOUT)
    assert.equal("exit", err[1])
    assert.is_table(err[2])
    assert.equal("error", err[2][1])
    assert.matches("task went wrong", err[2][2])
  end)

  it("names a result that cannot be sent after the task, not the send under it", function()
    local t = task.async(function() return { x = coroutine.create(print) } end)
    local err = raised(task.await, t, h.TIMEOUT)
    assert.equal("exit", err[1])
    assert.equal("error", err[2][1])
    assert.equal("task: result.x: cannot send a coroutine", err[2][2])
  end)

  it("raises {\"exit\", reason} with exactly the reason of mb.exit in the task", function()
    local t = task.async(FNS .. ":exit_with", { "custom", 7 })
    assert.same({ "exit", { "custom", 7 } }, raised(task.await, t, h.TIMEOUT))
  end)

  it("raises {\"exit\", \"normal\"} when the task exits normally without a result", function()
    local t = task.async(FNS .. ":exit_with", "normal")
    assert.same({ "exit", "normal" }, raised(task.await, t, h.TIMEOUT))
  end)

  it("raises {\"exit\", reason} when the task is killed", function()
    local t = task.async(FNS .. ":sleep_then", 5000, "x")
    mb.exit(t.pid, "kill")
    assert.same({ "exit", "killed" }, raised(task.await, t, h.TIMEOUT))
  end)

  it("raises {\"exit\", reason} for a target module that cannot be loaded", function()
    local t = task.async("spec.support.no_such_module_here:fn")
    local err = raised(task.await, t, h.TIMEOUT)
    assert.equal("exit", err[1])
    assert.equal("error", err[2][1])
    assert.matches("no_such_module_here", h.text(err[2]))
  end)

  it("raises {\"exit\", reason} for a target function the module lacks", function()
    local t = task.async(FNS .. ":no_such_function")
    local err = raised(task.await, t, h.TIMEOUT)
    assert.equal("exit", err[1])
    assert.equal("error", err[2][1])
    assert.matches("no_such_function", h.text(err[2]))
  end)

  it("brings down a non-trapping owner when the task crashes, with the task's reason", function()
    local owner, ref = mb.spawn_monitor(function()
      local task = require "moonbeam.task"
      task.async("spec.support.task_fns:crash", "crash reaches owner")
      require("moonbeam").receive(5000)
      require("moonbeam").exit("owner survived")
    end)
    local reason = h.reason(ref)
    assert.is_table(reason)
    assert.equal("error", reason[1])
    assert.matches("crash reaches owner", reason[2])
    assert.is_false(mb.alive(owner))
  end)

  it("brings down a non-trapping owner with the reason of mb.exit in the task", function()
    local _, ref = mb.spawn_monitor(function()
      local task = require "moonbeam.task"
      task.async("spec.support.task_fns:exit_with", "task_said_so")
      require("moonbeam").receive(5000)
      require("moonbeam").exit("owner survived")
    end)
    assert.equal("task_said_so", h.reason(ref))
  end)

  it("kills the task when its owner dies (the link goes both ways)", function()
    local owner = mb.spawn(function()
      local mb = require "moonbeam"
      local task = require "moonbeam.task"
      local parent = mb.receive(2000)
      local t = task.async("spec.support.task_fns:sleep_then", 10000, "x")
      mb.send(parent, { "task", t.pid })
      mb.receive(5000)
      mb.exit("owner_down")
    end)
    mb.send(owner, mb.self())
    local pid = h.expect(h.tuple("task"), "the task's pid")[2]
    local ref = mb.monitor(pid)
    mb.send(owner, "go")
    assert.equal("owner_down", h.reason(ref))
  end)

  it("is awaited only by its owner: another process's await raises", function()
    local owner = mb.spawn(function()
      local mb = require "moonbeam"
      local task = require "moonbeam.task"
      local parent = mb.receive(2000)
      local t = task.async("spec.support.task_fns:on_go", "mine")
      mb.send(parent, { "task", t })
      local ok, v = pcall(task.await, t, 2000)
      mb.send(parent, { "owner_got", ok, v })
      mb.receive(5000)
    end)
    mb.send(owner, mb.self())
    local t = h.expect(h.tuple("task"), "the task")[2]
    local err = raised(task.await, t, 100)
    assert.is_false(type(err) == "table" and (err[1] == "timeout" or err[1] == "exit"),
      "a non-owner's await should raise an argument error, got " .. h.text(err))
    assert.is_not_nil(raised(task.yield, t, 100))
    assert.is_not_nil(raised(task.shutdown, t))
    -- the owner still gets its result
    mb.send(t.pid, "go")
    local m = h.expect(h.tuple("owner_got"), "the owner's result")
    assert.is_true(m[2])
    assert.equal("mine", m[3])
  end)

  it("raises for a function with upvalues, saying so", function()
    local captured = 1
    local msg = h.error_of(task.async, function() return captured end)
    assert.matches("upvalue", msg)
  end)

  it("raises for a target that is neither a function nor a string", function()
    h.error_of(task.async, 42)
    h.error_of(task.async, nil)
    h.error_of(task.async, { "spec.support.task_fns" })
  end)

  it("raises \"task.await: timeout must be ...\" for a bad timeout", function()
    local t = task.async(FNS .. ":double", 1)
    for _, bad in ipairs({ -1, "soon", 0 / 0, -math.huge }) do
      h.usage_error("task.await", task.await, t, bad)
      h.usage_error("task.yield", task.yield, t, bad)
    end
    assert.equal(2, task.await(t))
  end)

  -- In a spawned process (where an infinite wait used to end at once), with
  -- the default timeout cut to 25 ms: an infinite one must outlast it.
  for _, case in ipairs({ { "math.huge", math.huge }, { "\"infinity\"", "infinity" }, { "2^64", 2 ^ 64 } }) do
    it("of " .. case[1] .. " waits for a task slower than the default timeout", function()
      mb.spawn(function(parent, t, fns)
        local mb, task = require "moonbeam", require "moonbeam.task"
        task.DEFAULT_TIMEOUT = 25
        local awaited = task.async(fns .. ":sleep_then", 125, "awaited")
        local yielded = task.async(fns .. ":sleep_then", 125, "yielded")
        local ok, v = pcall(task.await, awaited, t)
        local kind, y = task.yield(yielded, t)
        mb.send(parent, { "done", ok, v, kind, y })
      end, mb.self(), case[2], FNS)
      assert.same({ "done", true, "awaited", "ok", "yielded" }, h.expect(h.tuple("done"), "the owner's report"))
    end)
  end

  it("raises for something that is not a task", function()
    h.error_of(task.await, "nope")
    h.error_of(task.await, {})
    h.error_of(task.await, mb.self())
  end)
end)

describe("task.yield", function()
  before_each(h.before)
  after_each(h.after)

  it("returns \"ok\", result", function()
    local t = task.async(FNS .. ":double", 4)
    local kind, v = task.yield(t, h.TIMEOUT)
    assert.equal("ok", kind)
    assert.equal(8, v)
  end)

  it("returns \"ok\", nil for a task that returned nothing", function()
    local t = task.async(FNS .. ":nothing")
    local r = { task.yield(t, h.TIMEOUT) }
    assert.equal("ok", r[1])
    assert.is_nil(r[2])
  end)

  it("returns nil on timeout, and can be called again", function()
    local t = task.async(FNS .. ":on_go", "second time")
    local t0 = h.now_ms()
    assert.is_nil(task.yield(t, 20))
    assert.is_true(h.now_ms() - t0 >= 15)
    assert.is_true(mb.alive(t.pid))
    assert.is_nil(task.yield(t, 0))
    mb.send(t.pid, "go")
    local kind, v = task.yield(t, h.TIMEOUT)
    assert.equal("ok", kind)
    assert.equal("second time", v)
  end)

  it("leaves no DOWN, EXIT or result message in the owner's mailbox", function()
    local t = task.async(FNS .. ":sleep_then", 50, "r")
    assert.is_nil(task.yield(t, 0))
    assert.equal("ok", (task.yield(t, h.TIMEOUT)))
    assert.is_true(gone(t.pid))
    mb.sleep(30)
    assert.same({}, h.drain())
  end)

  it("returns \"exit\", reason when the task crashed", function()
    local t = task.async(FNS .. ":crash", "yield sees it")
    local kind, reason = task.yield(t, h.TIMEOUT)
    assert.equal("exit", kind)
    assert.equal("error", reason[1])
    assert.matches("yield sees it", reason[2])
  end)

  it("returns \"exit\", reason for mb.exit in the task", function()
    local t = task.async(FNS .. ":exit_with", "bye")
    assert.same({ "exit", "bye" }, { task.yield(t, h.TIMEOUT) })
  end)

  it("returns \"exit\", \"normal\" when the task exited normally without a result", function()
    local t = task.async(FNS .. ":exit_with", "normal")
    assert.same({ "exit", "normal" }, { task.yield(t, h.TIMEOUT) })
  end)

  it("waits without an explicit timeout", function()
    local t = task.async(FNS .. ":sleep_then", 40, "quick")
    local kind, v = task.yield(t)
    assert.equal("ok", kind)
    assert.equal("quick", v)
  end)
end)

describe("task.shutdown", function()
  before_each(h.before)
  after_each(h.after)

  it("returns nil for a task that already ended by shutdown or kill, whether looked at before or not", function()
    for _, reason in ipairs({ "shutdown", "killed" }) do
      local t = task.async(FNS .. ":exit_with", reason)
      mb.sleep(50)   -- ended, its outcome not taken yet
      local kind, v = task.shutdown(t)
      assert.is_nil(kind, h.text(v))
      local u = task.async(FNS .. ":exit_with", reason)
      mb.sleep(50)
      task.yield(u, 0)   -- its outcome taken first
      assert.is_nil(task.shutdown(u))
    end
  end)

  it("stops a running task and returns nil; the task is gone", function()
    local t = task.async(FNS .. ":sleep_then", 10000, "never")
    local watch = mb.monitor(t.pid)
    local r = { task.shutdown(t) }
    assert.is_nil(r[1])
    assert.is_nil(r[2])
    assert.is_false(mb.alive(t.pid))
    assert.equal("shutdown", h.reason(watch))
  end)

  it("returns nil for a running task, leaving no DOWN, EXIT or result behind", function()
    local t = task.async(FNS .. ":sleep_then", 10000, "never")
    assert.is_nil(task.shutdown(t))
    assert.is_false(mb.alive(t.pid))
    mb.sleep(30)
    assert.same({}, about(t, "never"))
  end)

  it("does not take a non-trapping owner down", function()
    local owner, ref = mb.spawn_monitor(function()
      local mb = require "moonbeam"
      local task = require "moonbeam.task"
      local t = task.async("spec.support.task_fns:sleep_then", 10000, "x")
      local r = task.shutdown(t)
      mb.sleep(50)
      mb.exit({ "owner_alive", r == nil, mb.alive(t.pid) })
    end)
    assert.same({ "owner_alive", true, false }, h.reason(ref))
    assert.is_false(mb.alive(owner))
  end)

  it("returns \"ok\", result when the task finished meanwhile", function()
    local t = task.async(FNS .. ":double", 50)
    assert.is_true(gone(t.pid))
    mb.sleep(20)
    local kind, v = task.shutdown(t)
    assert.equal("ok", kind)
    assert.equal(100, v)
    mb.sleep(20)
    assert.same({}, h.drain())
  end)

  it("returns \"exit\", reason when the task had crashed", function()
    local t = task.async(FNS .. ":crash", "crashed before shutdown")
    assert.is_true(gone(t.pid))
    mb.sleep(20)
    local kind, reason = task.shutdown(t)
    assert.equal("exit", kind)
    assert.is_table(reason)
    assert.equal("error", reason[1])
    assert.matches("crashed before shutdown", reason[2])
  end)

  it("can only be called by the owner", function()
    local owner = mb.spawn(function()
      local mb = require "moonbeam"
      local task = require "moonbeam.task"
      local parent = mb.receive(2000)
      local t = task.async("spec.support.task_fns:sleep_then", 10000, "x")
      mb.send(parent, { "task", t })
      mb.receive(5000)
    end)
    mb.send(owner, mb.self())
    local t = h.expect(h.tuple("task"), "the task")[2]
    h.error_of(task.shutdown, t)
    assert.is_true(mb.alive(t.pid))
  end)
end)

describe("task.start", function()
  before_each(h.before)
  after_each(h.after)

  it("returns a pid and runs the target", function()
    local pid = task.start(FNS .. ":notify", mb.self(), "started")
    assert.is_true(h.is_pid(pid))
    assert.same({ "ran", "started" }, h.expect(h.tuple("ran"), "the started task's message"))
  end)

  it("runs an upvalue-free function", function()
    task.start(function(to) require("moonbeam").send(to, { "ran", "fn" }) end, mb.self())
    assert.same({ "ran", "fn" }, h.expect(h.tuple("ran"), "the started task's message"))
  end)

  it("is not linked to the caller", function()
    local pid = task.start(FNS .. ":sleep_then", 500, "x")
    assert.is_true(mb.alive(pid))
    assert.is_false(h.contains(mb.info(mb.self()).links, pid))
    assert.same({}, mb.info(pid).links)
  end)

  it("sends the caller no result, DOWN or EXIT", function()
    local pid = task.start(FNS .. ":notify", mb.self(), "only-this")
    h.expect(h.tuple("ran"), "the started task's message")
    assert.is_true(gone(pid))
    mb.sleep(30)
    assert.same({}, h.drain())
  end)

  it("does not take a non-trapping caller down when it crashes", function()
    local _, ref = mb.spawn_monitor(function()
      local mb = require "moonbeam"
      local task = require "moonbeam.task"
      local pid = task.start("spec.support.task_fns:crash_on_go", "started task crash")
      local watch = mb.monitor(pid)   -- before the crash: its DOWN carries the error
      mb.send(pid, "go")
      local down = mb.receive(function(m) return type(m) == "table" and m[2] == watch end, 2000)
      mb.sleep(30)
      mb.exit({ "caller_alive", down ~= nil and down[5][1] })
    end)
    assert.same({ "caller_alive", "error" }, h.reason(ref))
  end)

  it("is not awaitable", function()
    local pid = task.start(FNS .. ":sleep_then", 200, "x")
    h.error_of(task.await, pid, 100)
    h.error_of(task.yield, pid, 100)
  end)

  it("raises for a function with upvalues, saying so", function()
    local captured = {}
    assert.matches("upvalue", h.error_of(task.start, function() return captured end))
  end)
end)

describe("task.async_stream", function()
  before_each(h.before)
  after_each(h.after)

  it("returns {\"ok\", v} for each element, in input order", function()
    local r = task.async_stream({ 1, 2, 3, 4, 5 }, FNS .. ":double", { max_concurrency = 2 })
    assert.same({ { "ok", 2 }, { "ok", 4 }, { "ok", 6 }, { "ok", 8 }, { "ok", 10 } }, r)
  end)

  it("keeps input order when later elements finish first", function()
    local list = {}
    for i = 1, 6 do list[i] = { ms = (7 - i) * 15, v = i } end
    local r = task.async_stream(list, FNS .. ":work", { max_concurrency = 6 })
    assert.same({ { "ok", 1 }, { "ok", 2 }, { "ok", 3 }, { "ok", 4 }, { "ok", 5 }, { "ok", 6 } }, r)
  end)

  it("ends its tasks when the caller ends before the stream is done", function()
    for round = 1, 6 do
      local caller, ref = mb.spawn_monitor(function(parent)
        local task, mb = require "moonbeam.task", require "moonbeam"
        task.async_stream({ parent, parent, parent, parent }, function(parent)
          local mb = require "moonbeam"
          mb.send(parent, { "worker", mb.self() })
          mb.receive()
        end, { max_concurrency = 4, timeout = 60000 })
      end, mb.self())
      local workers = {}
      for i = 1, 4 do workers[i] = h.expect(h.tuple("worker"), "worker " .. i)[2] end
      mb.exit(caller, round % 2 == 0 and "kill" or "shutdown")
      h.reason(ref)
      for i = 1, 4 do
        assert.is_true(h.wait_until(function() return not mb.alive(workers[i]) end), "worker " .. i .. " lives on")
      end
    end
  end)

  it("runs an upvalue-free function target", function()
    local r = task.async_stream({ "a", "b" }, function(s) return s .. s end, { max_concurrency = 2 })
    assert.same({ { "ok", "aa" }, { "ok", "bb" } }, r)
  end)

  it("returns an empty array for an empty list", function()
    assert.same({}, task.async_stream({}, FNS .. ":double", { max_concurrency = 2 }))
  end)

  it("works without options", function()
    assert.same({ { "ok", 2 }, { "ok", 4 } }, task.async_stream({ 1, 2 }, FNS .. ":double"))
  end)

  it("never runs more than max_concurrency workers at once, and reaches it", function()
    local counter = mb.spawn(FNS .. ":counter")
    local list = {}
    for i = 1, 12 do list[i] = { counter = counter, ms = 20, v = i } end
    local t0 = h.now_ms()
    local r = task.async_stream(list, FNS .. ":work", { max_concurrency = 3 })
    local elapsed = h.now_ms() - t0
    for i = 1, 12 do assert.same({ "ok", i }, r[i]) end
    mb.send(counter, { "peak", mb.self() })
    local m = h.expect(h.tuple("peak"), "the counter's peak")
    assert.equal(3, m[2])
    assert.equal(0, m[3])
    -- 12 elements of 20 ms, 3 at a time: at least 4 rounds
    assert.is_true(elapsed >= 75, "12 x 20 ms at 3 at a time took only " .. elapsed .. " ms")
  end)

  it("runs one at a time with max_concurrency = 1", function()
    local counter = mb.spawn(FNS .. ":counter")
    local list = {}
    for i = 1, 5 do list[i] = { counter = counter, ms = 10, v = i } end
    local r = task.async_stream(list, FNS .. ":work", { max_concurrency = 1 })
    assert.equal(5, #r)
    mb.send(counter, { "peak", mb.self() })
    assert.equal(1, h.expect(h.tuple("peak"), "the counter's peak")[2])
  end)

  it("never has more than max_concurrency worker processes alive", function()
    -- Each worker counts the live workers as it starts: a slot freed
    -- before its worker was gone shows there as one too many.
    local list = {}
    for i = 1, 10 do list[i] = { census = mb.self(), ms = 5, v = i } end
    local r = task.async_stream(list, FNS .. ":work", { max_concurrency = 2 })
    assert.equal(10, #r)
    for i = 1, 10 do
      local n = h.expect(h.tuple("census"), "census " .. i)[2]
      assert.is_true(n >= 1 and n <= 2, "worker " .. i .. " saw " .. n .. " workers alive")
    end
  end)

  it("keeps a timed-out worker's slot until it is gone", function()
    local list = {}
    -- Odd elements outlive the timeout; even ones end at once (the timeout
    -- is generous so that a loaded machine still runs them in time).
    for i = 1, 4 do list[i] = { census = mb.self(), ms = i % 2 == 1 and 60000 or nil, v = i } end
    local r = task.async_stream(list, FNS .. ":work", { max_concurrency = 2, timeout = 500 })
    assert.same({ "exit", "timeout" }, r[1])
    assert.same({ "ok", 2 }, r[2])
    assert.same({ "exit", "timeout" }, r[3])
    assert.same({ "ok", 4 }, r[4])
    for i = 1, 4 do
      local n = h.expect(h.tuple("census"), "census " .. i)[2]
      assert.is_true(n >= 1 and n <= 2, "worker " .. i .. " saw " .. n .. " workers alive")
    end
  end)

  it("gives {\"exit\", reason} for an element whose worker crashed, and goes on", function()
    local r = task.async_stream({ { v = 1 }, { crash = "element two" }, { v = 3 } },
      FNS .. ":work", { max_concurrency = 3 })
    assert.equal(3, #r)
    assert.same({ "ok", 1 }, r[1])
    assert.equal("exit", r[2][1])
    assert.equal("error", r[2][2][1])
    assert.matches("element two", r[2][2][2])
    assert.same({ "ok", 3 }, r[3])
  end)

  it("gives {\"exit\", reason} with the exact mb.exit reason", function()
    local r = task.async_stream({ { exit = "custom_reason" }, { exit = "normal" }, { v = "fine" } },
      FNS .. ":work", { max_concurrency = 1 })
    assert.same({ { "exit", "custom_reason" }, { "exit", "normal" }, { "ok", "fine" } }, r)
  end)

  it("does not take a non-trapping caller down when a worker crashes", function()
    local _, ref = mb.spawn_monitor(function()
      local task = require "moonbeam.task"
      local r = task.async_stream({ { crash = "x" }, { v = 2 } }, "spec.support.task_fns:work",
        { max_concurrency = 2 })
      require("moonbeam").sleep(30)
      require("moonbeam").exit({ "caller_alive", r[1][1], r[2][2] })
    end)
    assert.same({ "caller_alive", "exit", 2 }, h.reason(ref))
  end)

  it("gives {\"exit\", \"timeout\"} for an element over its timeout, and kills its worker", function()
    local me = mb.self()
    local r = task.async_stream({ { to = me, v = 1 }, { to = me, ms = 2000, v = 2 }, { to = me, v = 3 } },
      FNS .. ":work", { max_concurrency = 3, timeout = 100 })
    assert.same({ { "ok", 1 }, { "exit", "timeout" }, { "ok", 3 } }, r)
    local slow = h.expect(function(m) return type(m) == "table" and m[1] == "worker" and m[3] == 2 end,
      "the slow worker's pid")[2]
    assert.is_true(gone(slow, 500), "the timed-out worker is still alive")
  end)

  it("applies the timeout to each element, not to the whole stream", function()
    local list = {}
    for i = 1, 4 do list[i] = { ms = 60, v = i } end
    local t0 = h.now_ms()
    local r = task.async_stream(list, FNS .. ":work", { max_concurrency = 1, timeout = 200 })
    assert.same({ { "ok", 1 }, { "ok", 2 }, { "ok", 3 }, { "ok", 4 } }, r)
    assert.is_true(h.now_ms() - t0 >= 200)
  end)

  it("returns promptly when elements time out", function()
    local t0 = h.now_ms()
    local r = task.async_stream({ { ms = 10000 }, { ms = 10000 } }, FNS .. ":work",
      { max_concurrency = 2, timeout = 50 })
    assert.same({ { "exit", "timeout" }, { "exit", "timeout" } }, r)
    assert.is_true(h.now_ms() - t0 < 1500)
  end)

  it("leaves no DOWN, EXIT or result message in the caller's mailbox", function()
    local r = task.async_stream({ { v = 1 }, { crash = "boom" }, { ms = 2000 }, { exit = "bye" } },
      FNS .. ":work", { max_concurrency = 4, timeout = 100 })
    assert.equal(4, #r)
    mb.sleep(50)
    assert.same({}, h.drain())
  end)

  it("leaves no worker behind", function()
    local before = #mb.processes()
    task.async_stream({ { v = 1 }, { crash = "boom" }, { ms = 5000 } }, FNS .. ":work",
      { max_concurrency = 3, timeout = 100 })
    assert.is_true(h.wait_until(function() return #mb.processes() <= before end))
  end)

  it("raises for a function with upvalues, saying so", function()
    local k = 2
    assert.matches("upvalue", h.error_of(task.async_stream, { 1 }, function(x) return x * k end))
  end)

  it("raises for a list that is not a table", function()
    h.error_of(task.async_stream, "1,2,3", FNS .. ":double")
  end)

  -- Checked in a spawned process: with a NaN max_concurrency it used to hang.
  it("raises \"task.async_stream: max_concurrency must be ...\" for 0, NaN, math.huge, a fraction or 2^31", function()
    for _, bad in ipairs({ 0, -1, 0 / 0, math.huge, 1.5, 2 ^ 31, "2" }) do
      mb.spawn(function(parent, bad, fns)
        local mb, task = require "moonbeam", require "moonbeam.task"
        mb.send(parent, { "stream", pcall(task.async_stream, { 1, 2 }, fns .. ":double", { max_concurrency = bad }) })
      end, mb.self(), bad, FNS)
      local m = h.expect(h.tuple("stream"), "the result for max_concurrency = " .. tostring(bad))
      assert.is_false(m[2], "max_concurrency = " .. tostring(bad) .. " was taken")
      assert.equal("task.async_stream: max_concurrency must be an integer from 1 to 2^31-1", m[3])
    end
    assert.same({ { "ok", 2 } }, task.async_stream({ 1 }, FNS .. ":double", { max_concurrency = 2 ^ 31 - 1 }))
  end)

  it("raises \"task.async_stream: timeout must be ...\" for a NaN or negative timeout", function()
    h.usage_error("task.async_stream", task.async_stream, { 1 }, FNS .. ":double", { timeout = 0 / 0 })
    h.usage_error("task.async_stream", task.async_stream, { 1 }, FNS .. ":double", { timeout = -1 })
  end)

  it("takes a timeout of math.huge as \"infinity\"", function()
    mb.spawn(function(parent, fns)
      local mb, task = require "moonbeam", require "moonbeam.task"
      mb.send(parent, { "stream", task.async_stream({ { ms = 100, v = "slow" } }, fns .. ":work", { timeout = math.huge }) })
    end, mb.self(), FNS)
    local cpu, m = h.cpu_ms(h.expect, h.tuple("stream"), "the stream's results")
    assert.same({ "stream", { { "ok", "slow" } } }, m)
    assert.is_true(cpu < 60, "waiting 100 ms for the worker cost " .. cpu .. " ms of CPU")
  end)
end)

describe("task.await after a timeout", function()
  before_each(h.before)
  after_each(h.after)

  it("has shut the task down and unlinked it when it raises", function()
    local t = task.async(FNS .. ":on_go", "never")
    local watch = mb.monitor(t.pid)
    assert.same({ "timeout" }, raised(task.await, t, 20))
    assert.is_false(mb.alive(t.pid))
    assert.equal("killed", h.reason(watch))
    assert.is_false(h.contains(mb.info(mb.self()).links, t.pid))
    assert.same({}, about(t, "never"))   -- no EXIT from the link either
  end)

  it("leaves a non-trapping owner running (the task's end does not reach it)", function()
    local _, ref = mb.spawn_monitor(function()
      local mb = require "moonbeam"
      local task = require "moonbeam.task"
      local t = task.async("spec.support.task_fns:on_go", "x")
      local ok = pcall(task.await, t, 10)
      mb.sleep(20)
      mb.exit({ "owner_alive", ok, mb.alive(t.pid) })
    end)
    assert.same({ "owner_alive", false, false }, h.reason(ref))
  end)

  it("a later yield says how the task ended", function()
    local t = task.async(FNS .. ":on_go", "never")
    raised(task.await, t, 10)
    assert.same({ "exit", "killed" }, { task.yield(t, 0) })
  end)

  -- Its result and DOWN taken from the mailbox by other code (the
  -- console's flush()): await and shutdown waited for that DOWN for good.
  it("raises on time, as shutdown returns, when the task's messages were taken before", function()
    for _, stop in ipairs({ "await", "shutdown" }) do
      local t = task.async(function() return 5 end)
      mb.sleep(50)
      while mb.receive(0) do end
      local t0 = mb.now()
      if stop == "await" then
        assert.same({ "timeout" }, raised(task.await, t, 100))
      else
        task.shutdown(t, 100)
      end
      assert.is_true(mb.now() - t0 < 2000, stop)
    end
  end)
end)

describe("task.yield once the task finished", function()
  before_each(h.before)
  after_each(h.after)

  it("returns the result again, without waiting", function()
    local t = task.async(FNS .. ":double", 21)
    assert.same({ "ok", 42 }, { task.yield(t, h.TIMEOUT) })
    local t0 = h.now_ms()
    assert.same({ "ok", 42 }, { task.yield(t, 5000) })
    assert.is_true(h.now_ms() - t0 < 1000)
    assert.equal(42, task.await(t, 0))
  end)

  it("returns a crash again", function()
    local t = task.async(FNS .. ":exit_with", "bye")
    assert.same({ "exit", "bye" }, { task.yield(t, h.TIMEOUT) })
    assert.same({ "exit", "bye" }, { task.yield(t, 0) })
    assert.same({ "exit", "bye" }, raised(task.await, t, 0))
  end)
end)

describe("task.yield_many", function()
  before_each(h.before)
  after_each(h.after)

  it("returns {task, outcome} in the tasks' order, nil for those still running", function()
    local done = task.async(FNS .. ":double", 3)
    local slow = task.async(FNS .. ":on_go", "later")
    local crashed = task.async(FNS .. ":exit_with", "bye")
    assert.is_true(gone(done.pid) and gone(crashed.pid))
    local r = task.yield_many({ slow, done, crashed }, 50)
    assert.equal(3, #r)
    assert.equal(slow, r[1][1]);    assert.is_nil(r[1][2])
    assert.equal(done, r[2][1]);    assert.same({ "ok", 6 }, r[2][2])
    assert.equal(crashed, r[3][1]); assert.same({ "exit", "bye" }, r[3][2])
    assert.is_true(mb.alive(slow.pid))
    mb.send(slow.pid, "go")
    assert.same({ "ok", "later" }, task.yield_many({ slow })[1][2])
    assert.same({ "ok", "later" }, { task.yield(slow, 0) })
  end)

  it("returns as soon as every task finished", function()
    local ts = {}
    for i = 1, 5 do ts[i] = task.async(FNS .. ":sleep_then", 10, i) end
    local t0 = h.now_ms()
    local r = task.yield_many(ts, 10000)
    assert.is_true(h.now_ms() - t0 < 5000)
    for i = 1, 5 do assert.same({ "ok", i }, r[i][2]) end
    assert.is_true(gone(ts[5].pid))
    mb.sleep(20)
    assert.same({}, h.drain())
  end)

  -- It counted the task twice, and waited out the timeout for the second.
  it("returns as soon as every task finished when a task is listed twice", function()
    local t = task.async(FNS .. ":sleep_then", 10, "twice")
    local t0 = h.now_ms()
    local r = task.yield_many({ t, t }, 10000)
    assert.is_true(h.now_ms() - t0 < 5000)
    assert.same({ "ok", "twice" }, r[1][2])
    assert.same({ "ok", "twice" }, r[2][2])
  end)

  it("returns an empty array for no tasks", function()
    assert.same({}, task.yield_many({}, 0))
  end)

  it("raises for bad arguments", function()
    local t = task.async(FNS .. ":double", 1)
    h.usage_error("task.yield_many", task.yield_many, "x")
    h.usage_error("task.yield_many", task.yield_many, { t, "nope" })
    h.usage_error("task.yield_many", task.yield_many, { t }, -1)
    assert.equal(2, task.await(t))
  end)
end)
