-- simple_one_for_one supervisors: docs/reference.md ("supervisor": exactly
-- one child spec, the template; start_child(sup, arg) starts a worker with
-- arg as its init argument, or a process with arg's elements appended to the
-- template's args; max_children; children are ended by pid), and
-- docs/semantics.md ("Supervisors").

local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local sup = require "moonbeam.supervisor"
local h = require "spec.support.helpers"
local U = require "spec.support.sup_util"

-- A simple_one_for_one supervisor over sup_child workers.
local function pool(flags, spec_extra)
  flags = flags or {}
  flags.strategy = "simple_one_for_one"
  local spec = { id = "w", module = U.CHILD, arg = { id = "template", watcher = mb.self() } }
  for k, v in pairs(spec_extra or {}) do spec[k] = v end
  return U.start({ spec }, flags)
end

local function arg(id, extra)
  local a = { id = id, watcher = mb.self() }
  for k, v in pairs(extra or {}) do a[k] = v end
  return a
end

describe("a simple_one_for_one supervisor", function()
  before_each(h.before)
  after_each(h.after)

  it("starts with no children", function()
    local s = pool()
    assert.same({}, sup.which_children(s))
    assert.same({ specs = 0, active = 0, supervisors = 0, workers = 0 }, sup.count_children(s))
    U.no_event(nil, "init", 0)   -- s answered: a child it started has reported
  end)

  it("start_child(sup, arg) starts a worker with arg as its init argument", function()
    local s = pool()
    local pid = sup.start_child(s, arg("one", { extra = "x" }))
    assert.is_true(h.is_pid(pid))
    local ev = U.event("one", "init")
    assert.equal(pid, ev[4])
    assert.equal("x", ev[5].extra)
    assert.equal("x", gen.call(pid, "arg").extra)
    assert.is_true(h.contains(mb.info(pid).links, s))
  end)

  it("takes an arg that looks like a child spec as it is, even one no static supervisor would take", function()
    local s = pool()
    -- an id and a module field: what a static supervisor reads as a spec
    local pid = assert(sup.start_child(s, arg("one", { module = "m", extra = "x" })))
    assert.same(arg("one", { module = "m", extra = "x" }), U.event("one", "init")[5])
    assert.equal(pid, gen.call(pid, "self"))
    -- a spec a static supervisor refuses ({"bad_spec", ...}), an arg here
    local two = assert(sup.start_child(s, { id = "two", watcher = mb.self(), start = 42, restart = "never" }))
    assert.same({ id = "two", watcher = mb.self(), start = 42, restart = "never" }, gen.call(two, "arg"))
  end)

  it("start_child(sup) with no arg starts a worker with the template's arg", function()
    local s = pool()
    local pid = sup.start_child(s)
    assert.is_true(h.is_pid(pid))
    local ev = U.event("template", "init")
    assert.equal(pid, ev[4])
  end)

  it("starts as many children as asked, listed newest first", function()
    local s = pool()
    local pids = {}
    for i = 1, 5 do pids[i] = sup.start_child(s, arg("c" .. i)) end
    local listed = sup.which_children(s)
    assert.equal(5, #listed)
    for i = 1, 5 do
      assert.equal(pids[6 - i], listed[i].pid)
      assert.equal("worker", listed[i].type)
      assert.equal("permanent", listed[i].restart)
    end
    assert.same({ specs = 5, active = 5, supervisors = 0, workers = 5 }, sup.count_children(s))
  end)

  it("returns the child's start failure from start_child and keeps nothing", function()
    local s = pool()
    local pid, err = sup.start_child(s, arg("bad", { init_stop = "no_way" }))
    assert.is_nil(pid)
    assert.equal("no_way", err)
    assert.same({}, sup.which_children(s))
    assert.is_true(h.is_pid(sup.start_child(s, arg("good"))))
  end)

  it("keeps nothing of a child whose init returns \"ignore\"", function()
    local s = pool()
    assert.same({ nil, "ignore" }, { sup.start_child(s, arg("shy", { ignore = true })) })
    assert.same({}, sup.which_children(s))
    assert.same({ specs = 0, active = 0, supervisors = 0, workers = 0 }, sup.count_children(s))
  end)

  it("restarts a permanent child with the arg it was started with", function()
    local s = pool()
    local pid = sup.start_child(s, arg("one", { extra = 42 }))
    U.event("one", "init")
    mb.exit(pid, "kill")
    local ev = U.event("one", "init")
    assert.are_not.equal(pid, ev[4])
    assert.equal(42, ev[5].extra)
    assert.equal(ev[4], sup.which_children(s)[1].pid)
  end)

  it("forgets a transient child that exits normally", function()
    local s = pool(nil, { restart = "transient" })
    local pid = sup.start_child(s, arg("one"))
    U.event("one", "init")
    local reason = U.watch(pid)
    gen.cast(pid, { "exit", "normal" })
    assert.equal("normal", reason())
    U.no_event_by_call(s, "one", "init")
    assert.same({}, sup.which_children(s))
    assert.equal(0, sup.count_children(s).specs)
  end)

  describe("max_children", function()
    it("refuses a start beyond the limit with \"max_children\"", function()
      local s = pool({ max_children = 2 })
      assert.is_true(h.is_pid(sup.start_child(s, arg("a"))))
      local b = sup.start_child(s, arg("b"))
      assert.is_true(h.is_pid(b))
      local pid, err = sup.start_child(s, arg("c"))
      assert.is_nil(pid)
      assert.equal("max_children", err)
      U.no_event("c", "init", 0)   -- a start is awaited: it would have reported
      -- room again once one is gone
      assert.is_true(sup.terminate_child(s, b))
      assert.is_true(h.is_pid(sup.start_child(s, arg("c"))))
    end)

    it("of 0 refuses every start", function()
      local s = pool({ max_children = 0 })
      local pid, err = sup.start_child(s, arg("a"))
      assert.is_nil(pid)
      assert.equal("max_children", err)
      U.no_event("a", "init", 0)
    end)

    it("of math.huge means no limit", function()
      local s = pool({ max_children = math.huge })
      for i = 1, 5 do assert.is_true(h.is_pid(sup.start_child(s, arg("c" .. i)))) end
      assert.equal(5, sup.count_children(s).active)
    end)

    it("refuses a max_children that is not a count with {\"bad_spec\", ...}", function()
      for _, bad in ipairs({ -1, 1.5, 0 / 0, 2 ^ 31, 1e10, -math.huge, "10" }) do
        local s, err = sup.start_link({ U.worker("t") }, { strategy = "simple_one_for_one", max_children = bad })
        assert.is_nil(s, "max_children = " .. tostring(bad) .. " was taken")
        assert.equal("bad_spec", err[1])
        assert.equal("max_children", err[2])
      end
    end)

    it("counts a child waiting to be restarted", function()
      local s = pool({ max_children = 1, intensity = 100 }, { backoff = 1000 })
      local a = sup.start_child(s, arg("a"))
      U.event("a", "init")
      mb.exit(a, "kill")
      assert.is_true(h.wait_until(function()
        local c = sup.which_children(s)[1]
        return c and c.pid == "restarting"
      end))
      local pid, err = sup.start_child(s, arg("b"))
      assert.is_nil(pid)
      assert.equal("max_children", err)
    end)
  end)

  describe("terminate_child(sup, pid)", function()
    it("stops that child with \"shutdown\" and forgets it; the others stay", function()
      local s = pool()
      local a = sup.start_child(s, arg("a", { trap = true }))
      local b = sup.start_child(s, arg("b"))
      U.order("init", 2)
      local a_reason = U.watch(a)
      assert.is_true(sup.terminate_child(s, a))
      assert.equal("shutdown", a_reason())
      assert.equal("shutdown", U.event("a", "terminate")[5])
      U.no_event_by_call(s, "a", "init")
      local listed = sup.which_children(s)
      assert.equal(1, #listed)
      assert.equal(b, listed[1].pid)
      assert.same({ specs = 1, active = 1, supervisors = 0, workers = 1 }, sup.count_children(s))
    end)

    it("returns true again for a child already gone", function()
      local s = pool()
      local a = sup.start_child(s, arg("a"))
      assert.is_true(sup.terminate_child(s, a))
      assert.is_true(sup.terminate_child(s, a))
    end)

    -- OTP keeps such a child as {restarting, OldPid}: the pid it ran as is
    -- the only handle its starter has. It said true and restarted it.
    it("forgets a child waiting out its backoff, named by the pid it ran as: it does not come back", function()
      local s = pool({}, { backoff = 200 })
      local a = sup.start_child(s, arg("a"))
      U.order("init", 1)
      mb.exit(a, "kill")
      assert.is_true(h.wait_until(function()
        local l = sup.which_children(s)
        return l[1] ~= nil and l[1].pid == "restarting"
      end))
      assert.is_true(sup.terminate_child(s, a))
      assert.same({}, sup.which_children(s))
      U.no_event(nil, "init", 400)
    end)

    it("forgets a child whose restarts keep failing, named by the pid it last ran as", function()
      local s = pool({ intensity = math.huge })
      local a = sup.start_child(s, arg("a", { fail_when = "sup_dynamic_flag" }))
      U.order("init", 1)
      local flag = mb.spawn(function() require("moonbeam").receive() end)
      mb.register("sup_dynamic_flag", flag)
      mb.exit(a, "kill")
      U.event("a", "init_failed")
      U.event("a", "init_failed")   -- a restart failed, and the next too
      assert.is_true(sup.terminate_child(s, a))
      assert.same({}, sup.which_children(s))
      mb.exit(flag, "kill")   -- its starts would succeed now
      U.no_event(nil, "init", 200)
      assert.same({}, sup.which_children(s))
    end)

    it("returns nil, \"not_found\" for a live process that is not its child", function()
      local s = pool()
      local ok, err = sup.terminate_child(s, mb.self())
      assert.is_nil(ok)
      assert.equal("not_found", err)
    end)

    it("returns nil, \"simple_one_for_one\" for an id", function()
      local s = pool()
      sup.start_child(s, arg("a"))
      local ok, err = sup.terminate_child(s, "w")
      assert.is_nil(ok)
      assert.equal("simple_one_for_one", err)
    end)
  end)

  it("refuses restart_child and delete_child with \"simple_one_for_one\"", function()
    local s = pool()
    sup.start_child(s, arg("a"))
    local ok, err = sup.restart_child(s, "w")
    assert.is_nil(ok)
    assert.equal("simple_one_for_one", err)
    ok, err = sup.delete_child(s, "w")
    assert.is_nil(ok)
    assert.equal("simple_one_for_one", err)
  end)

  it("stops all its children when it stops", function()
    local s = pool()
    local reasons = {}
    for i = 1, 4 do reasons[i] = U.watch(sup.start_child(s, arg("c" .. i))) end
    assert.is_true(sup.stop(s))
    for i = 1, 4 do assert.equal("shutdown", reasons[i]()) end
  end)

  it("refuses a spec list that is not exactly one template", function()
    local s, err = sup.start_link({ U.worker("a"), U.worker("b") }, { strategy = "simple_one_for_one" })
    assert.is_nil(s)
    assert.equal("bad_spec", err[1])
    s, err = sup.start_link({}, { strategy = "simple_one_for_one" })
    assert.is_nil(s)
    assert.equal("bad_spec", err[1])
  end)
end)

describe("a simple_one_for_one process template", function()
  before_each(h.before)
  after_each(h.after)

  it("appends start_child's arg elements to the template's args", function()
    local s = U.start({ { id = "p", type = "process", start = { U.PROC .. ":loop", mb.self(), "p", "t1", 2 } } },
                      { strategy = "simple_one_for_one" })
    local pid = sup.start_child(s, { "x", { y = 3 } })
    assert.is_true(h.is_pid(pid))
    local ev = U.event("p", "init")
    assert.equal(pid, ev[4])
    -- loop(watcher, id, ...) reports ...: the template's rest, then arg's elements
    assert.same({ n = 4, "t1", 2, "x", { y = 3 } }, ev[5])
  end)

  it("starts with the template's args alone when given none", function()
    local s = U.start({ { id = "p", type = "process", start = { U.PROC .. ":loop", mb.self(), "p", "t1" } } },
                      { strategy = "simple_one_for_one" })
    local pid = sup.start_child(s, {})
    assert.is_true(h.is_pid(pid))
    assert.same({ n = 1, "t1" }, U.event("p", "init")[5])
  end)

  -- A string was dropped unseen: the child started with the template's args.
  it("refuses an arg that is not a table with a bad_spec naming arg, and starts nothing", function()
    local s = U.start({ { id = "p", type = "process", start = { U.PROC .. ":loop", mb.self(), "p", "t1" } } },
                      { strategy = "simple_one_for_one" })
    for _, x in ipairs({ "D", 3, true }) do
      local ok, err = sup.start_child(s, x)
      assert.is_nil(ok)
      assert.same({ "bad_spec", "arg", "must be a table of arguments for a process template" }, err)
    end
    assert.same({}, sup.which_children(s))
    U.no_event(nil, "init", 0)
  end)

  it("restarts a process child with the same args", function()
    local s = U.start({ { id = "p", type = "process", start = { U.PROC .. ":loop", mb.self(), "p" } } },
                      { strategy = "simple_one_for_one" })
    local pid = sup.start_child(s, { "a1" })
    U.event("p", "init")
    mb.send(pid, "crash")
    local ev = U.event("p", "init")
    assert.are_not.equal(pid, ev[4])
    assert.same({ n = 1, "a1" }, ev[5])
  end)
end)
