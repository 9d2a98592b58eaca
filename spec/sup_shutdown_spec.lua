-- Supervisor start and shutdown, as docs/semantics.md ("Supervisors") has
-- them. "Start": children start left to right, one at a time; a child that
-- fails to start stops the ones already started, in reverse order, and the
-- start fails with the reason. "Shutdown": children stop in reverse start
-- order, one at a time; "shutdown" then a kill after the timeout,
-- "brutal_kill", "infinity"; waiting by monitor, not link; dynamic children
-- stop concurrently.

local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local sup = require "moonbeam.supervisor"
local h = require "spec.support.helpers"
local U = require "spec.support.sup_util"
local G = require "spec.support.gs_util"

local function trapping(ids)
  local children = {}
  for i, id in ipairs(ids) do children[i] = U.worker(id, { trap = true }) end
  return children
end

describe("supervisor start", function()
  before_each(h.before)
  after_each(h.after)

  it("starts the children in order and returns once all run", function()
    local s = U.start(trapping({ "a", "b", "c", "d" }))
    -- every child has already started when start_link returns
    local inits = {}
    for _, m in ipairs(h.drain()) do
      if U.ev(nil, "init")(m) then inits[#inits + 1] = m[2] end
    end
    assert.same({ "a", "b", "c", "d" }, inits)
    for _, c in ipairs(sup.which_children(s)) do assert.is_true(mb.alive(c.pid)) end
  end)

  it("passes each worker its arg and links it to the supervisor", function()
    local s = U.start({ U.worker("a", { extra = { 1, 2, 3 } }) })
    local ev = U.event("a", "init")
    assert.same({ 1, 2, 3 }, ev[5].extra)
    assert.equal(ev[5].extra[3], gen.call(ev[4], "arg").extra[3])
    assert.is_true(h.contains(mb.info(ev[4]).links, s))
  end)

  it("registers a worker's name", function()
    local name = h.name("w")
    local s = U.start({ U.worker("a", nil, { name = name }) })
    local pid = U.event("a", "init")[4]
    assert.equal(pid, mb.whereis(name))
    assert.equal("pong", gen.call(name, "ping"))
    mb.exit(pid, "kill")
    local new = U.event("a", "init")[4]
    assert.is_true(h.wait_until(function() return mb.whereis(name) == new end))
  end)

  it("registers the supervisor's own name", function()
    local name = h.name("sup")
    local s = U.start({ U.worker("a") }, { name = name })
    assert.equal(s, mb.whereis(name))
    assert.equal(1, #sup.which_children(name))
    local again, err = sup.start_link({ U.worker("b") }, { name = name })
    assert.is_nil(again)
    assert.same({ "already_started", s }, err)
  end)

  local failures = {
    { "init returns \"stop\", reason", { init_stop = "no_config" }, function(r) assert.equal("no_config", r) end },
    { "init raises", { init_error = "boom" }, function(r)
        assert.equal("error", r[1])
        assert.matches("boom", r[2])
      end },
  }
  for _, f in ipairs(failures) do
    it("fails when a child's " .. f[1] .. ", stopping the started ones in reverse order", function()
      local before = G.snapshot()
      local children = trapping({ "a", "b" })
      children[3] = U.worker("c", f[2])
      children[4] = U.worker("d", { trap = true })
      local s, err = sup.start_link(children)
      assert.is_nil(s)
      assert.equal("failed_to_start_child", err[1])
      assert.equal("c", err[2])
      f[3](err[3])
      -- b then a were stopped (and ran terminate), d never started
      assert.same({ "b", "a" }, U.order("terminate", 2))
      local rest = h.drain()
      for _, m in ipairs(rest) do
        assert.is_false(U.ev("d", "init")(m), "d was started")
        -- no EXIT from the failed supervisor is left behind
        assert.is_false(type(m) == "table" and m[1] == "EXIT", "a stray " .. h.text(m))
      end
      assert.is_true(h.wait_until(function() return #G.new_processes(before) == 0 end))
    end)
  end

  it("fails when a worker's module cannot be loaded", function()
    local s, err = sup.start_link({ U.worker("a"), { id = "b", module = "spec.support.no_such_module" } })
    assert.is_nil(s)
    assert.equal("failed_to_start_child", err[1])
    assert.equal("b", err[2])
    assert.equal("error", err[3][1])
    assert.matches("no_such_module", err[3][2])
  end)

  it("fails with {\"already_started\", pid} when a child's name is taken", function()
    local name = h.name("taken")
    mb.register(name, mb.self())
    local s, err = sup.start_link({ U.worker("a", nil, { name = name }) })
    assert.is_nil(s)
    assert.same({ "failed_to_start_child", "a", { "already_started", mb.self() } }, err)
  end)

  it("fails when a nested supervisor's child fails to start, naming both", function()
    local before = G.snapshot()
    local s, err = sup.start_link({
      U.worker("a", { trap = true }),
      { id = "inner", type = "supervisor", children = { U.worker("x", { trap = true }), U.worker("y", { init_stop = "boom" }) } },
    })
    assert.is_nil(s)
    assert.equal("failed_to_start_child", err[1])
    assert.equal("inner", err[2])
    assert.equal("table", type(err[3]))
    assert.equal("failed_to_start_child", err[3][1])
    assert.equal("y", err[3][2])
    assert.equal("boom", err[3][3])
    assert.same({ "x", "a" }, U.order("terminate", 2))
    assert.is_true(h.wait_until(function() return #G.new_processes(before) == 0 end))
  end)

  it("drops a temporary child whose init returns \"ignore\"", function()
    local s = U.start({ U.worker("a", { ignore = true }, { restart = "temporary" }), U.worker("b") })
    assert.same({ "b" }, U.ids(s))
    assert.same({ specs = 1, active = 1, supervisors = 0, workers = 1 }, sup.count_children(s))
  end)

  it("keeps a child whose init returns \"ignore\", not running", function()
    local s = U.start({ U.worker("a", { ignore = true }), U.worker("b") })
    local map = U.by_id(s)
    assert.is_not_nil(map.a)
    assert.is_nil(map.a.pid)
    assert.is_true(h.is_pid(map.b.pid))
    assert.equal(1, sup.count_children(s).active)
  end)

  it("starts nested supervisors depth first, in order", function()
    local s = U.start({
      U.worker("a"),
      { id = "inner", type = "supervisor", children = { U.worker("x"), U.worker("y") } },
      U.worker("b"),
    })
    assert.same({ "a", "x", "y", "b" }, U.order("init", 4))
  end)
end)

describe("supervisor shutdown", function()
  before_each(h.before)
  after_each(h.after)

  it("stops the children in reverse start order, each with \"shutdown\", and exits", function()
    local s = U.start(trapping({ "a", "b", "c", "d" }))
    U.order("init", 4)
    local sup_reason = U.watch(s)
    assert.is_true(sup.stop(s))
    local order, reasons = {}, {}
    for i = 1, 4 do
      local ev = U.event(nil, "terminate")
      order[i], reasons[i] = ev[2], ev[5]
    end
    assert.same({ "d", "c", "b", "a" }, order)
    assert.same({ "shutdown", "shutdown", "shutdown", "shutdown" }, reasons)
    assert.equal("normal", sup_reason())
  end)

  it("stop(sup, reason) exits with that reason after stopping the children", function()
    local s = U.start(trapping({ "a" }))
    local a = U.event("a", "init")[4]
    local sup_reason, a_reason = U.watch(s), U.watch(a)
    assert.is_true(sup.stop(s, { "shutdown", "maintenance" }))
    assert.equal("shutdown", a_reason())
    assert.same({ "shutdown", "maintenance" }, sup_reason())
  end)

  it("stops non-trapping children with reason \"shutdown\"", function()
    local s = U.start({ U.worker("a"), U.process("p", "loop") })
    local a_reason = U.watch(U.event("a", "init")[4])
    local p_reason = U.watch(U.event("p", "init")[4])
    sup.stop(s)
    assert.equal("shutdown", a_reason())
    assert.equal("shutdown", p_reason())
  end)

  it("runs terminate(\"shutdown\", state) of trapping gen_server children when its parent exits", function()
    -- a parent process starts the supervisor linked, then exits "shutdown"
    local parent = mb.spawn(function(spec, me)
      local mb = require "moonbeam"
      local sup = require "moonbeam.supervisor"
      local s = sup.start_link(spec)
      mb.send(me, { "sup_is", s })
      mb.receive()
      mb.exit("shutdown")
    end, trapping({ "a", "b" }), mb.self())
    local s = h.expect(h.tuple("sup_is"), "the supervisor's pid")[2]
    assert.is_true(h.is_pid(s))
    U.order("init", 2)
    local sup_reason = U.watch(s)
    mb.send(parent, "go")
    assert.same({ "b", "a" }, U.order("terminate", 2))
    assert.equal("shutdown", sup_reason())
  end)

  it("stops nested supervisors' children within the same reverse order", function()
    local s = U.start({
      U.worker("a", { trap = true }),
      { id = "inner", type = "supervisor", children = trapping({ "x", "y" }) },
      U.worker("b", { trap = true }),
    })
    U.order("init", 4)
    sup.stop(s)
    assert.same({ "b", "y", "x", "a" }, U.order("terminate", 4))
  end)

  it("waits for a child that takes its time in terminate (within its shutdown time)", function()
    local s = U.start({ U.worker("a", { trap = true, terminate_sleep = 300 }, { shutdown = 3000 }) })
    local a_reason = U.watch(U.event("a", "init")[4])
    local t0 = h.now_ms()
    sup.stop(s)
    assert.is_true(h.now_ms() - t0 >= 250)
    assert.equal("shutdown", a_reason(0))
  end)

  it("kills a child that ignores \"shutdown\" once its shutdown time is up", function()
    local s = U.start({ U.process("p", "stubborn", { shutdown = 300 }) })
    local p = U.event("p", "init")[4]
    local p_reason = U.watch(p)
    local t0 = h.now_ms()
    assert.is_true(sup.stop(s))
    local took = h.now_ms() - t0
    -- it was asked first, then killed
    assert.equal("shutdown", U.event("p", "got_exit")[5])
    assert.equal("killed", p_reason())
    assert.is_true(took >= 250, "stop took " .. took .. " ms")
    assert.is_true(took < 3000, "stop took " .. took .. " ms")
  end)

  it("kills a child that unlinked itself and ignores \"shutdown\": it waits by monitor", function()
    local s = U.start({ U.process("p", "stubborn", { shutdown = 200 }, true) })
    local p = U.event("p", "init")[4]
    assert.is_false(h.contains(mb.info(p).links, s))
    local p_reason = U.watch(p)
    local ok = U.bounded(3000, function(s) return require("moonbeam.supervisor").stop(s) end, s)
    assert.is_true(ok, "stop did not return")
    assert.equal("killed", p_reason())
  end)

  it("\"brutal_kill\" kills the child at once: terminate does not run", function()
    local s = U.start({ U.worker("a", { trap = true, terminate_sleep = 2000 }, { shutdown = "brutal_kill" }) })
    local a_reason = U.watch(U.event("a", "init")[4])
    local t0 = h.now_ms()
    sup.stop(s)
    assert.is_true(h.now_ms() - t0 < 1500)
    assert.equal("killed", a_reason())
    U.no_event("a", "terminate", 100)
  end)

  it("\"infinity\" waits as long as the child takes", function()
    local s = U.start({ U.process("p", "slow", { shutdown = "infinity" }, 600) })
    local p_reason = U.watch(U.event("p", "init")[4])
    local t0 = h.now_ms()
    local ok = U.bounded(5000, function(s) return require("moonbeam.supervisor").stop(s) end, s)
    assert.is_true(ok, "stop did not return")
    assert.is_true(h.now_ms() - t0 >= 500)
    assert.equal("shutdown", p_reason(0))
  end)

  -- docs/reference.md ("Timeouts, counts and names"): math.huge, or a
  -- timeout longer than a timer can be set for, is "infinity": never a kill,
  -- and no supervisor spinning on a timer meanwhile.
  for _, case in ipairs({ { "math.huge", math.huge }, { "1e300", 1e300 }, { "2^64", 2 ^ 64 } }) do
    for _, strategy in ipairs({ "one_for_one", "simple_one_for_one" }) do
      it("of " .. case[1] .. " waits as long as the child takes, costing no CPU (" .. strategy .. ")", function()
        local spec = U.process("p", "slow", { shutdown = case[2] }, 400)
        local s = U.start({ spec }, { strategy = strategy })
        if strategy == "simple_one_for_one" then assert.is_true(h.is_pid(sup.start_child(s, {}))) end
        local p_reason = U.watch(U.event("p", "init")[4])
        local t0 = h.now_ms()
        local cpu, ok = h.cpu_ms(U.bounded, 5000, function(s) return require("moonbeam.supervisor").stop(s) end, s)
        assert.is_true(ok, "stop did not return")
        assert.is_true(h.now_ms() - t0 >= 350)
        assert.equal("shutdown", p_reason(0))
        assert.is_true(cpu < 150, "400 ms of stopping cost " .. cpu .. " ms of CPU")
      end)
    end
  end

  it("the same slow child is killed under a shorter shutdown time", function()
    local s = U.start({ U.process("p", "slow", { shutdown = 100 }, 600) })
    local p_reason = U.watch(U.event("p", "init")[4])
    sup.stop(s)
    assert.equal("killed", p_reason())
  end)

  it("stops dynamic children concurrently, sharing one shutdown time", function()
    local s = U.start({ { id = "p", type = "process", shutdown = 400,
                          start = { U.PROC .. ":stubborn", mb.self(), "p" } } },
                     { strategy = "simple_one_for_one" })
    local reasons = {}
    for i = 1, 5 do
      assert.is_true(h.is_pid(sup.start_child(s, {})))
      reasons[i] = U.watch(U.event("p", "init")[4])
    end
    local t0 = h.now_ms()
    local ok = U.bounded(5000, function(s) return require("moonbeam.supervisor").stop(s) end, s)
    local took = h.now_ms() - t0
    assert.is_true(ok, "stop did not return")
    for i = 1, 5 do assert.equal("killed", reasons[i]()) end
    -- one after the other would take 5 x 400 ms
    assert.is_true(took < 1500, "stop took " .. took .. " ms")
  end)
end)
