-- Supervisor restart strategies: docs/semantics.md ("Supervisors",
-- "Restarts": one_for_one, one_for_all, rest_for_one, and temporary
-- bystanders that are not restarted).
--
-- Children are spec/support/sup_child.lua servers that tell the test of
-- their init and terminate ({"sup_ev", id, what, pid, detail}); with
-- trap = true they run terminate when their supervisor stops them, so the
-- order in which they are stopped can be seen.

local mb = require "moonbeam"
local sup = require "moonbeam.supervisor"
local h = require "spec.support.helpers"
local U = require "spec.support.sup_util"

-- Starts a supervisor over trapping workers ids... with strategy; consumes
-- their init events; returns the supervisor and a map id -> first pid.
local function tree(strategy, ids, restart_of)
  local children = {}
  for i, id in ipairs(ids) do
    children[i] = U.worker(id, { trap = true }, { restart = restart_of and restart_of[id] })
  end
  local s = U.start(children, { strategy = strategy, intensity = 10 })
  local pids = {}
  for _, id in ipairs(ids) do pids[id] = U.event(id, "init")[4] end
  return s, pids
end

describe("one_for_one", function()
  before_each(h.before)
  after_each(h.after)

  it("restarts only the child that died; its siblings keep their pids", function()
    local s, pids = tree("one_for_one", { "a", "b", "c" })
    mb.exit(pids.b, "kill")
    local new_b = U.event("b", "init")[4]
    assert.are_not.equal(pids.b, new_b)
    assert.is_true(mb.alive(new_b))
    U.no_event_by_call(s, "a", "terminate")
    U.no_event("c", "terminate", 0)
    U.no_event(nil, "init", 0)
    local now = U.by_id(s)
    assert.equal(pids.a, now.a.pid)
    assert.equal(new_b, now.b.pid)
    assert.equal(pids.c, now.c.pid)
    assert.is_true(mb.alive(pids.a) and mb.alive(pids.c))
  end)

  it("restarts a crashed child (a Lua error) with its spec's arg", function()
    local s, pids = tree("one_for_one", { "a", "b" })
    local gen = require "moonbeam.gen_server"
    gen.cast(pids.a, "crash")
    local ev = U.event("a", "init")
    assert.are_not.equal(pids.a, ev[4])
    assert.equal("a", ev[5].id)
    assert.is_true(ev[5].trap)
    assert.equal("pong", gen.call(ev[4], "ping"))
    assert.equal(ev[4], U.pid_of(s, "a"))
  end)

  it("restarts each child as often as it dies, within the intensity", function()
    local s, pids = tree("one_for_one", { "a" })
    local last = pids.a
    for _ = 1, 5 do
      mb.exit(last, "kill")
      local pid = U.event("a", "init")[4]
      assert.are_not.equal(last, pid)
      last = pid
    end
    assert.equal(last, U.pid_of(s, "a"))
  end)
end)

describe("one_for_all", function()
  before_each(h.before)
  after_each(h.after)

  it("stops the others in reverse start order, then restarts all in start order", function()
    local s, pids = tree("one_for_all", { "a", "b", "c", "d" })
    mb.exit(pids.b, "kill")
    -- b is already dead: d, c, a are stopped, last started first
    assert.same({ "d", "c", "a" }, U.order("terminate", 3))
    assert.same({ "a", "b", "c", "d" }, U.order("init", 4))
    U.no_event_by_call(s, nil, "terminate")
  end)

  it("stops the siblings with reason \"shutdown\" and leaves no old pid alive", function()
    local s, pids = tree("one_for_all", { "a", "b", "c" })
    local a_reason, c_reason = U.watch(pids.a), U.watch(pids.c)
    mb.exit(pids.b, "kill")
    assert.equal("shutdown", a_reason())
    assert.equal("shutdown", c_reason())
    local term = {}
    for _ = 1, 2 do
      local ev = U.event(nil, "terminate")
      term[ev[2]] = ev[5]
    end
    assert.same({ a = "shutdown", c = "shutdown" }, term)
    U.order("init", 3)
    local now = U.by_id(s)
    for _, id in ipairs({ "a", "b", "c" }) do
      assert.is_true(h.is_pid(now[id].pid))
      assert.are_not.equal(pids[id], now[id].pid)
      assert.is_false(mb.alive(pids[id]))
      assert.is_true(mb.alive(now[id].pid))
    end
  end)

  it("restarts the whole group when the first or the last child dies", function()
    local s, pids = tree("one_for_all", { "a", "b", "c" })
    mb.exit(pids.a, "kill")
    assert.same({ "c", "b" }, U.order("terminate", 2))
    assert.same({ "a", "b", "c" }, U.order("init", 3))
    local now = U.by_id(s)
    mb.exit(now.c.pid, "kill")
    assert.same({ "b", "a" }, U.order("terminate", 2))
    assert.same({ "a", "b", "c" }, U.order("init", 3))
  end)
end)

describe("rest_for_one", function()
  before_each(h.before)
  after_each(h.after)

  it("stops the children started after the dead one, in reverse order, and restarts them in order", function()
    local s, pids = tree("rest_for_one", { "a", "b", "c", "d" })
    mb.exit(pids.b, "kill")
    assert.same({ "d", "c" }, U.order("terminate", 2))
    assert.same({ "b", "c", "d" }, U.order("init", 3))
    U.no_event_by_call(s, "a", "terminate")
    U.no_event("a", "init", 0)
    local now = U.by_id(s)
    assert.equal(pids.a, now.a.pid)
    for _, id in ipairs({ "b", "c", "d" }) do
      assert.are_not.equal(pids[id], now[id].pid)
      assert.is_false(mb.alive(pids[id]))
    end
  end)

  it("restarts only the last child when it is the one that died", function()
    local s, pids = tree("rest_for_one", { "a", "b", "c" })
    mb.exit(pids.c, "kill")
    assert.equal(U.event("c", "init")[2], "c")
    U.no_event_by_call(s, nil, "terminate")
    U.no_event(nil, "init", 0)
    local now = U.by_id(s)
    assert.equal(pids.a, now.a.pid)
    assert.equal(pids.b, now.b.pid)
  end)

  it("restarts everything when the first child dies", function()
    local s, pids = tree("rest_for_one", { "a", "b", "c" })
    mb.exit(pids.a, "kill")
    assert.same({ "c", "b" }, U.order("terminate", 2))
    assert.same({ "a", "b", "c" }, U.order("init", 3))
  end)
end)

describe("temporary bystanders", function()
  before_each(h.before)
  after_each(h.after)

  for _, strategy in ipairs({ "one_for_all", "rest_for_one" }) do
    it("under " .. strategy .. " are stopped and removed, not restarted", function()
      local s, pids = tree(strategy, { "a", "t", "c" }, { t = "temporary" })
      local t_reason = U.watch(pids.t)
      mb.exit(pids.a, "kill")
      assert.equal("shutdown", t_reason())
      -- a and c come back; t does not
      assert.same({ "a", "c" }, U.order("init", 2))
      U.no_event_by_call(s, "t", "init")
      assert.same({ "c", "a" }, U.ids(s))
      assert.is_true(mb.alive(s))
      local counts = sup.count_children(s)
      assert.equal(2, counts.specs)
      assert.equal(2, counts.active)
    end)
  end

  it("under rest_for_one, a temporary child before the dead one keeps running", function()
    local s, pids = tree("rest_for_one", { "t", "a", "c" }, { t = "temporary" })
    mb.exit(pids.a, "kill")
    assert.same({ "a", "c" }, U.order("init", 2))
    assert.equal(pids.t, U.pid_of(s, "t"))
    assert.is_true(mb.alive(pids.t))
  end)

  it("a temporary child that dies itself under one_for_all restarts nobody", function()
    local s, pids = tree("one_for_all", { "a", "t", "c" }, { t = "temporary" })
    local t_reason = U.watch(pids.t)
    mb.exit(pids.t, "kill")
    t_reason()
    U.no_event_by_call(s, nil, "terminate")
    U.no_event(nil, "init", 0)
    assert.same({ "c", "a" }, U.ids(s))
    assert.equal(pids.a, U.pid_of(s, "a"))
    assert.equal(pids.c, U.pid_of(s, "c"))
  end)
end)

describe("process children under a strategy", function()
  before_each(h.before)
  after_each(h.after)

  it("are restarted by one_for_all like workers", function()
    local s = U.start({
      U.process("p", "loop"),
      U.worker("w", { trap = true }),
    }, { strategy = "one_for_all" })
    local p = U.event("p", "init")[4]
    local w = U.event("w", "init")[4]
    mb.send(p, "crash")
    U.event("w", "terminate")
    -- Restarted in order, p then w; but p's start is its spawn (no ack, as
    -- OTP's for a plain process), so its body, which tells "init", may run
    -- after w's init on another scheduler: the two come in either order.
    local inits = U.order("init", 2)
    table.sort(inits)
    assert.same({ "p", "w" }, inits)
    local now = U.by_id(s)
    assert.are_not.equal(p, now.p.pid)
    assert.are_not.equal(w, now.w.pid)
  end)
end)
