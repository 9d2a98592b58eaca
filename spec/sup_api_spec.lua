-- The supervisor API on static supervisors: docs/reference.md ("supervisor":
-- flags and child specs, checked at start; start_child, terminate_child,
-- restart_child, delete_child, which_children newest first, count_children,
-- calls to a missing supervisor) and the restart backoff moonbeam adds
-- (docs/semantics.md, "Backoff and failed restarts"): a flapping child is
-- restarted after a delay and shows pid "restarting" meanwhile.

local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local sup = require "moonbeam.supervisor"
local h = require "spec.support.helpers"
local U = require "spec.support.sup_util"
local G = require "spec.support.gs_util"

describe("start_child(sup, spec)", function()
  before_each(h.before)
  after_each(h.after)

  it("starts the child and returns its pid; which_children lists it first", function()
    local s = U.start({ U.worker("a") })
    U.event("a", "init")
    local pid, err = sup.start_child(s, U.worker("b"))
    assert.is_nil(err)
    assert.is_true(h.is_pid(pid))
    assert.equal(pid, U.event("b", "init")[4])
    assert.same({ "b", "a" }, U.ids(s))
    assert.equal(pid, sup.which_children(s)[1].pid)
    assert.is_true(h.contains(mb.info(pid).links, s))
  end)

  it("gives {\"already_started\", pid} for the id of a running child", function()
    local s = U.start({ U.worker("a") })
    local a = U.event("a", "init")[4]
    local pid, err = sup.start_child(s, U.worker("a"))
    assert.is_nil(pid)
    assert.same({ "already_started", a }, err)
    assert.equal(1, #sup.which_children(s))
  end)

  it("gives \"already_present\" for the id of a stopped child", function()
    local s = U.start({ U.worker("a") })
    U.event("a", "init")
    assert.is_true(sup.terminate_child(s, "a"))
    local pid, err = sup.start_child(s, U.worker("a"))
    assert.is_nil(pid)
    assert.equal("already_present", err)
  end)

  it("gives the child's start failure and keeps no spec", function()
    local s = U.start({ U.worker("a") })
    local pid, err = sup.start_child(s, U.worker("b", { init_stop = "nope" }))
    assert.is_nil(pid)
    assert.equal("nope", err)
    assert.same({ "a" }, U.ids(s))
    -- the same id can then be used again
    assert.is_true(h.is_pid(sup.start_child(s, U.worker("b"))))
  end)

  it("gives {\"bad_spec\", field, detail} for a bad spec and starts nothing", function()
    local s = U.start({ U.worker("a") })
    local pid, err = sup.start_child(s, { id = "b", module = U.CHILD, restart = "sometimes" })
    assert.is_nil(pid)
    assert.equal("bad_spec", err[1])
    assert.matches("restart", err[2])
    assert.same({ "a" }, U.ids(s))
  end)

  it("gives bad_spec for an arg that cannot be sent, and names a bad id among its own arguments", function()
    local s = U.start({ U.worker("a") })
    local pid, err = sup.start_child(s, { id = "b", module = U.CHILD, arg = print })
    assert.is_nil(pid)
    assert.same({ "bad_spec", "spec[b].arg", "cannot send a C function" }, err)
    assert.equal("supervisor.terminate_child: id: cannot send a C function",
                 h.usage_error("supervisor.terminate_child", sup.terminate_child, s, print))
    assert.same({ "a" }, U.ids(s))
  end)

  it("gives bad_spec for a tree of supervisors nested deeper than a message can be", function()
    local spec = U.worker("leaf")
    for i = 1, 40 do spec = { id = "s" .. i, type = "supervisor", children = { spec } } end
    local pid, err = sup.start_link({ spec })
    assert.is_nil(pid)
    assert.same({ "bad_spec", "children", "cannot send tables nested deeper than 100 levels" }, err)
  end)

  it("starts a nested supervisor", function()
    local s = U.start({})
    local pid = sup.start_child(s, { id = "inner", type = "supervisor", children = { U.worker("x") } })
    assert.is_true(h.is_pid(pid))
    U.event("x", "init")
    assert.same({ "x" }, U.ids(pid))
    assert.equal("supervisor", sup.which_children(s)[1].type)
  end)
end)

describe("terminate_child(sup, id)", function()
  before_each(h.before)
  after_each(h.after)

  it("stops the child with \"shutdown\", keeps its spec and does not restart it", function()
    local s = U.start({ U.worker("a", { trap = true }), U.worker("b") })
    local a = U.event("a", "init")[4]
    local a_reason = U.watch(a)
    assert.is_true(sup.terminate_child(s, "a"))
    assert.equal("shutdown", a_reason())
    assert.equal("shutdown", U.event("a", "terminate")[5])
    U.no_event_by_call(s, "a", "init")
    local map = U.by_id(s)
    assert.is_not_nil(map.a)
    assert.is_nil(map.a.pid)
    assert.same({ specs = 2, active = 1, supervisors = 0, workers = 2 }, sup.count_children(s))
  end)

  it("returns true for a child already stopped", function()
    local s = U.start({ U.worker("a") })
    assert.is_true(sup.terminate_child(s, "a"))
    assert.is_true(sup.terminate_child(s, "a"))
  end)

  it("removes a temporary child's spec", function()
    local s = U.start({ U.worker("a", nil, { restart = "temporary" }), U.worker("b") })
    assert.is_true(sup.terminate_child(s, "a"))
    assert.same({ "b" }, U.ids(s))
  end)

  it("gives \"not_found\" for an unknown id, and for a pid on a static supervisor", function()
    local s = U.start({ U.worker("a") })
    local a = U.event("a", "init")[4]
    local ok, err = sup.terminate_child(s, "zz")
    assert.is_nil(ok)
    assert.equal("not_found", err)
    ok, err = sup.terminate_child(s, a)
    assert.is_nil(ok)
    assert.equal("not_found", err)
    assert.is_true(mb.alive(a))
  end)
end)

describe("restart_child(sup, id)", function()
  before_each(h.before)
  after_each(h.after)

  it("starts a stopped child again and returns its new pid", function()
    local s = U.start({ U.worker("a") })
    local a = U.event("a", "init")[4]
    sup.terminate_child(s, "a")
    local pid, err = sup.restart_child(s, "a")
    assert.is_nil(err)
    assert.is_true(h.is_pid(pid))
    assert.are_not.equal(a, pid)
    assert.equal(pid, U.event("a", "init")[4])
    assert.equal(pid, U.pid_of(s, "a"))
  end)

  it("gives \"running\" for a running child and \"not_found\" for an unknown id", function()
    local s = U.start({ U.worker("a") })
    local ok, err = sup.restart_child(s, "a")
    assert.is_nil(ok)
    assert.equal("running", err)
    ok, err = sup.restart_child(s, "zz")
    assert.is_nil(ok)
    assert.equal("not_found", err)
  end)

  it("gives the start failure and leaves the child stopped", function()
    local flag = h.name("fail")
    local s = U.start({ U.worker("a", { fail_when = flag, fail_reason = "not_now" }) })
    sup.terminate_child(s, "a")
    mb.register(flag, mb.self())
    local pid, err = sup.restart_child(s, "a")
    assert.is_nil(pid)
    assert.equal("not_now", err)
    local map = U.by_id(s)
    assert.is_not_nil(map.a)
    assert.is_nil(map.a.pid)
    mb.unregister(flag)
    assert.is_true(h.is_pid(sup.restart_child(s, "a")))
  end)
end)

describe("delete_child(sup, id)", function()
  before_each(h.before)
  after_each(h.after)

  it("removes a stopped child's spec", function()
    local s = U.start({ U.worker("a"), U.worker("b") })
    sup.terminate_child(s, "a")
    assert.is_true(sup.delete_child(s, "a"))
    assert.same({ "b" }, U.ids(s))
    assert.equal(1, sup.count_children(s).specs)
    -- the id is free again
    assert.is_true(h.is_pid(sup.start_child(s, U.worker("a"))))
  end)

  it("gives \"running\" for a running child and \"not_found\" for an unknown id", function()
    local s = U.start({ U.worker("a") })
    local ok, err = sup.delete_child(s, "a")
    assert.is_nil(ok)
    assert.equal("running", err)
    ok, err = sup.delete_child(s, "zz")
    assert.is_nil(ok)
    assert.equal("not_found", err)
  end)
end)

describe("which_children and count_children", function()
  before_each(h.before)
  after_each(h.after)

  it("list the children newest first as {id=, pid=, type=, restart=}", function()
    local s = U.start({
      U.worker("a"),
      U.worker("b", nil, { restart = "transient" }),
      { id = "inner", type = "supervisor", children = {} },
      U.worker("c", nil, { restart = "temporary" }),
    })
    local list = sup.which_children(s)
    assert.equal(4, #list)
    assert.same({ "c", "inner", "b", "a" }, { list[1].id, list[2].id, list[3].id, list[4].id })
    local want = { c = { "worker", "temporary" }, inner = { "supervisor", "permanent" },
                   b = { "worker", "transient" }, a = { "worker", "permanent" } }
    for _, c in ipairs(list) do
      assert.is_true(h.is_pid(c.pid))
      assert.is_true(mb.alive(c.pid))
      assert.same(want[c.id], { c.type, c.restart })
    end
  end)

  it("count specs, live children, supervisors and workers (process children are workers)", function()
    local s = U.start({
      U.worker("a"),
      U.process("p", "loop"),
      { id = "inner", type = "supervisor", children = { U.worker("x") } },
      U.worker("b"),
    })
    assert.same({ specs = 4, active = 4, supervisors = 1, workers = 3 }, sup.count_children(s))
    sup.terminate_child(s, "b")
    sup.terminate_child(s, "inner")
    assert.same({ specs = 4, active = 2, supervisors = 1, workers = 3 }, sup.count_children(s))
  end)

  it("show a child started later first, and keep start order across restarts", function()
    local s = U.start({ U.worker("a"), U.worker("b") })
    sup.start_child(s, U.worker("c"))
    local b = U.pid_of(s, "b")
    mb.exit(b, "kill")
    U.event("b", "init")
    assert.same({ "c", "b", "a" }, U.ids(s))
  end)

  it("work on a registered name", function()
    local name = h.name("sup")
    U.start({ U.worker("a") }, { name = name })
    assert.same({ "a" }, U.ids(name))
    assert.equal(1, sup.count_children(name).active)
  end)
end)

describe("a supervisor API call to a missing supervisor", function()
  before_each(h.before)
  after_each(h.after)

  it("raises {\"noproc\"}", function()
    local dead = h.dead_pid()
    for _, call in ipairs({
      function() return sup.which_children(dead) end,
      function() return sup.count_children(dead) end,
      function() return sup.start_child(dead, U.worker("a")) end,
      function() return sup.terminate_child(dead, "a") end,
      function() return sup.which_children(h.name("nobody")) end,
    }) do
      local err = G.raised(call)
      assert.same({ "noproc" }, err)
    end
  end)
end)

describe("a supervisor API call to what is no supervisor", function()
  before_each(h.before)
  after_each(h.after)

  it("raises, named after the call: a gen_server that is none, a bad name, an unsendable stop reason", function()
    local agent = require("moonbeam.agent").start_link(function() return 0 end)
    for fn, call in pairs({
      start_child = function() return sup.start_child(agent, U.worker("x")) end,
      terminate_child = function() return sup.terminate_child(agent, "x") end,
      which_children = function() return sup.which_children(agent) end,
    }) do
      local ok, err = pcall(call)
      assert.is_false(ok)
      local want = "supervisor." .. fn .. ": " .. tostring(agent) .. " is not a supervisor"
      assert.equal(want, tostring(err):sub(1, #want))
    end
    assert.equal("supervisor.which_children: sup must be a non-empty string without NUL bytes",
                 h.usage_error("supervisor.which_children", sup.which_children, ""))
    local s = U.start({})
    assert.equal("supervisor.stop: reason: cannot send a userdata",
                 h.usage_error("supervisor.stop", sup.stop, s, io.stdout))
  end)
end)

describe("a child calling its supervisor", function()
  before_each(h.before)
  after_each(h.after)

  -- Its init's ack is already sent: the supervisor no longer waits on it,
  -- so there is no cycle (OTP: the call is served once the start is done).
  it("from handle_continue, just after init, is answered", function()
    local s = U.start({ U.worker("a"), U.worker("b", { ask_parent = true }) })
    local asked = U.event("b", "asked")[5]
    assert.is_true(asked[1], "which_children failed: " .. h.text(asked[2]))
    assert.equal(2, #asked[2])
    assert.same({ "b", "a" }, U.ids(s))
  end)
end)

describe("unexpected input", function()
  before_each(h.before)
  after_each(h.after)

  it("is ignored: stray messages and EXITs from unknown pids change nothing", function()
    local s = U.start({ U.worker("a") })
    local a = U.event("a", "init")[4]
    mb.send(s, "hello")
    mb.send(s, { "EXIT", h.dead_pid(), "killed" })
    mb.send(s, { "$gen_call", "not a from", "which_children" })
    mb.send(s, { 1, 2, 3 })
    -- exit signals from a process that is neither its parent nor a child
    local other = h.echo()
    h.call(other, "exit_signal", s, "normal")
    h.call(other, "exit_signal", s, "some_reason")
    U.no_event_by_call(s, "a", "init")
    assert.is_true(mb.alive(s))
    assert.equal(a, U.pid_of(s, "a"))
    assert.equal(0, mb.info(s).message_queue_len)
  end)
end)

describe("a named nested supervisor", function()
  before_each(h.before)
  after_each(h.after)

  it("is registered under its spec's name", function()
    local name = h.name("inner")
    local s = U.start({ { id = "inner", type = "supervisor", name = name, children = { U.worker("x") } } })
    local inner = U.pid_of(s, "inner")
    assert.is_true(h.is_pid(inner))
    assert.equal(inner, mb.whereis(name))
    assert.same({ "x" }, U.ids(name))
  end)
end)

describe("bad specs", function()
  before_each(h.before)
  after_each(h.after)

  -- start_link(children, flags) must fail with {"bad_spec", field, detail},
  -- field naming want (a Lua pattern), and start no process.
  local function refused(want, children, flags)
    local before = G.snapshot()
    local s, err = sup.start_link(children, flags)
    assert.is_nil(s)
    assert.equal("table", type(err))
    assert.equal("bad_spec", err[1])
    assert.equal("string", type(err[2]))
    assert.matches(want, err[2])
    assert.equal("string", type(err[3]))
    assert.same({}, G.new_processes(before))
    U.no_event(nil, "init", 0)
    return err
  end

  it("an unknown strategy", function()
    refused("strategy", { U.worker("a") }, { strategy = "one_for_some" })
  end)

  it("a refusal prints as words, so assert(sup.start_link(...)) reads in a plain luajit", function()
    local err = refused("strategy", { { id = "a", module = "m" } }, { strategy = "one_for_some" })
    assert.equal('bad_spec: supervisor.start_link({{id = "a", module = "m"}}, {strategy = "one_for_some"}): ' ..
                 "strategy, unknown strategy one_for_some", tostring(err))
  end)

  it("an unknown child type", function()
    refused("type$", { U.worker("a", nil, { type = "daemon" }) })
  end)

  it("false where a word is expected: no default taken for it", function()
    refused("strategy", { U.worker("a") }, { strategy = false })
    refused("type$", { U.worker("a", nil, { type = false }) })
    refused("restart$", { U.worker("a", nil, { restart = false }) })
  end)

  it("an id, a module or a process's start with a NUL byte, or empty (require would read it cut)", function()
    refused("id$", { { id = "a\0one", module = "spec.support.counter" }, { id = "a\0two", module = "spec.support.counter" } })
    refused("module$", { { id = "a", module = "spec.support.counter\0x" } })
    refused("module$", { { id = "a", module = "" } })
    refused("start$", { { id = "a", type = "process", start = { "spec.support.nap:main\0x" } } })
  end)

  it("a name on a simple_one_for_one template, whose children are many", function()
    refused("name$", { { id = "t", module = "spec.support.counter", name = "one" } }, { strategy = "simple_one_for_one" })
  end)

  it("an unknown restart type", function()
    refused("restart$", { U.worker("a", nil, { restart = "sometimes" }) })
  end)

  it("a negative intensity, or one that is not an integer", function()
    refused("intensity", { U.worker("a") }, { intensity = -1 })
    refused("intensity", { U.worker("a") }, { intensity = 1.5 })
    refused("intensity", { U.worker("a") }, { intensity = "infinity" })
  end)

  it("an intensity that is NaN or beyond 2^31-1 (a count), never wrapped", function()
    for _, bad in ipairs({ 0 / 0, 2 ^ 31, 1e10, -math.huge }) do
      refused("intensity", { U.worker("a") }, { intensity = bad })
    end
    refused("intensity", { { id = "inner", type = "supervisor", intensity = 1e10, children = {} } })
  end)

  it("a NaN period", function()
    refused("period", { U.worker("a") }, { period = 0 / 0 })
  end)

  it("a shutdown that is NaN", function()
    refused("shutdown", { U.worker("a", nil, { shutdown = 0 / 0 }) })
    refused("shutdown", { U.worker("a", nil, { shutdown = -math.huge }) })
  end)

  it("a child name or a supervisor name that is empty or has a NUL byte", function()
    refused("name", { U.worker("a", nil, { name = "" }) })
    refused("name", { U.worker("a", nil, { name = "spec_nul\0name" }) })
    refused("name", { U.worker("a") }, { name = "spec_nul\0name" })
    refused("name", { U.worker("a") }, { name = "" })
    refused("name", { { id = "inner", type = "supervisor", name = "spec_nul\0name", children = {} } })
  end)

  it("a zero or negative period", function()
    refused("period", { U.worker("a") }, { period = 0 })
    refused("period", { U.worker("a") }, { period = -100 })
  end)

  it("duplicate ids", function()
    local err = refused("id", { U.worker("a"), U.worker("b"), U.worker("a") })
    assert.matches("a", err[3])
  end)

  it("a worker without a module", function()
    refused("module", { U.worker("a"), { id = "b", arg = {} } })
  end)

  it("a process without start", function()
    refused("start", { { id = "p", type = "process" } })
  end)

  it("a child without an id", function()
    refused("id", { { module = U.CHILD } })
  end)

  it("a negative shutdown", function()
    refused("shutdown", { U.worker("a", nil, { shutdown = -10 }) })
  end)

  it("a bad spec inside a nested supervisor", function()
    refused("type$", { { id = "inner", type = "supervisor", children = { U.worker("x", nil, { type = "nope" }) } } })
    refused("intensity", { { id = "inner", type = "supervisor", intensity = -2, children = {} } })
  end)

  it("a bad backoff", function()
    refused("backoff", { U.worker("a", nil, { backoff = -5 }) })
    refused("backoff", { U.worker("a", nil, { backoff = { initial = 100, max = 50 } }) })
  end)

  -- docs/reference.md ("Timeouts, counts and names"): a backoff is a delay,
  -- finite and > 0; math.huge and NaN are refused (a NaN max used to leave
  -- the child never restarted).
  for _, case in ipairs({
    { "math.huge", math.huge }, { "NaN", 0 / 0 }, { "0", 0 }, { "1e300", 1e300 },
    { "{initial = math.huge}", { initial = math.huge } },
    { "{initial = NaN}", { initial = 0 / 0 } },
    { "{max = NaN}", { initial = 100, max = 0 / 0 } },
    { "{max = math.huge}", { initial = 100, max = math.huge } },
    { "{factor = NaN}", { initial = 100, factor = 0 / 0 } },
    { "{factor = math.huge}", { initial = 100, factor = math.huge } },
  }) do
    it("a backoff of " .. case[1], function()
      refused("backoff", { U.worker("a", nil, { backoff = case[2] }) })
    end)
  end

  it("a bad backoff given to start_child, with nil, {\"bad_spec\", ...}", function()
    local s = U.start({ U.worker("a") })
    for _, bad in ipairs({ math.huge, 0 / 0, { initial = 100, max = 0 / 0 } }) do
      local pid, err = sup.start_child(s, U.worker("b", nil, { backoff = bad }))
      assert.is_nil(pid)
      assert.equal("bad_spec", err[1])
      assert.matches("backoff", err[2])
    end
    assert.same({ "a" }, U.ids(s))
  end)
end)

describe("restart backoff", function()
  before_each(h.before)
  after_each(h.after)

  it("restarts a flapping child after the delay, showing it \"restarting\" meanwhile", function()
    local s = U.start({ U.worker("a", { crash_after = 20 }, { backoff = 300 }), U.worker("b") },
                      { intensity = 100, period = 60000 })
    -- Times as the child took them when it started (ev[6]): this process may
    -- see an event late on a busy machine.
    local t_prev = U.event("a", "init")[6]
    for i = 1, 3 do
      -- between a crash and the next start, which_children says "restarting"
      assert.is_true(h.wait_until(function() return U.pid_of(s, "a") == "restarting" end, 2000),
        "never seen restarting, round " .. i)
      assert.equal(1, sup.count_children(s).active)   -- a restarting child is not active
      local t = U.event("a", "init", 2000)[6]
      -- no sooner than its 20 ms of life plus the 300 ms delay
      assert.is_true(t - t_prev >= 250, "restart " .. i .. " came after " .. (t - t_prev) .. " ms")
      t_prev = t
    end
    assert.is_true(mb.alive(s))
  end)

  it("grows the delay by factor up to max", function()
    local s = U.start({ U.worker("a", { crash_after = 10 }, { backoff = { initial = 100, factor = 2, max = 400 } }) },
                      { intensity = 100, period = 60000 })
    local t0, last = U.event("a", "init")[6], nil
    for _ = 1, 4 do last = U.event("a", "init", 3000)[6] end
    -- delays 100 + 200 + 400 + 400, plus each run's 10 ms (the child's times)
    local took = last - t0
    assert.is_true(took >= 900, "4 restarts took " .. took .. " ms")
    assert.is_true(mb.alive(s))
  end)

  it("refuses restart_child and delete_child of a restarting child with \"restarting\"", function()
    local s = U.start({ U.worker("a", nil, { backoff = 1000 }) }, { intensity = 100 })
    local a = U.event("a", "init")[4]
    mb.exit(a, "kill")
    assert.is_true(h.wait_until(function() return U.pid_of(s, "a") == "restarting" end))
    local ok, err = sup.restart_child(s, "a")
    assert.is_nil(ok)
    assert.equal("restarting", err)
    ok, err = sup.delete_child(s, "a")
    assert.is_nil(ok)
    assert.equal("restarting", err)
  end)

  it("is cancelled by terminate_child: the child stays stopped", function()
    local s = U.start({ U.worker("a", nil, { backoff = 300 }) }, { intensity = 100 })
    local a = U.event("a", "init")[4]
    mb.exit(a, "kill")
    assert.is_true(h.wait_until(function() return U.pid_of(s, "a") == "restarting" end))
    assert.is_true(sup.terminate_child(s, "a"))
    U.no_event("a", "init", 600)
    local map = U.by_id(s)
    assert.is_not_nil(map.a)
    assert.is_nil(map.a.pid)
  end)

  it("does not stop the supervisor from stopping", function()
    local s = U.start({ U.worker("a", nil, { backoff = 5000 }) }, { intensity = 100 })
    local a = U.event("a", "init")[4]
    mb.exit(a, "kill")
    assert.is_true(h.wait_until(function() return U.pid_of(s, "a") == "restarting" end))
    local ok = U.bounded(2000, function(s) return require("moonbeam.supervisor").stop(s) end, s)
    assert.is_true(ok)
    assert.is_false(mb.alive(s))
  end)
end)

describe("a supervisor sent a malformed request", function()
  before_each(h.before)
  after_each(h.after)

  it("answers unknown_request and goes on serving", function()
    local s = U.start({ U.worker("a") })
    U.event("a", "init")
    for _, req in ipairs({ "not a table", 42, true, {}, { 7 }, { {} }, { "start_child" },
                           { "terminate_child" }, { "restart_child" }, { "delete_child" },
                           { "start_child", "no spec" }, { x = 1 } }) do
      for _ = 1, 20 do
        local r, err = gen.try_call(s, req, 1000)
        assert.is_nil(err)   -- answered, with an error of its own
        assert.equal("table", type(r))
        assert.is_string(r.err)
      end
    end
    assert.same({ "a" }, U.ids(s))
    assert.is_true(mb.alive(s))
  end)

  it("answers a malformed system request and goes on serving", function()
    local s = U.start({ U.worker("a") })
    for _, req in ipairs({ "x", {}, { 1 }, { "stop" } }) do
      mb.send(s, { "$gen_sys", { mb.self(), mb.make_ref() }, req })
    end
    assert.same({ "a" }, U.ids(s))
    assert.is_true(mb.alive(s))
  end)
end)

-- The supervisor in C reads the spec supervisor.lua normalised, and fills in
-- nothing itself: a spec that reaches it short of a field is refused.
describe("the core's supervisor, given a spec directly", function()
  before_each(h.before)
  after_each(h.after)

  local core = require "moonbeam.core"
  local flags = { strategy = "one_for_one", intensity = 3, period = 5000, max_children = math.huge }
  local function with(t)
    local spec = {}
    for k, v in pairs(flags) do spec[k] = v end
    for k, v in pairs(t) do spec[k] = v end
    return spec
  end

  it("refuses a missing flag or child field instead of assuming one", function()
    for _, missing in ipairs { "strategy", "intensity", "period", "max_children" } do
      local spec = with { children = {} }
      spec[missing] = nil
      local ok, err = pcall(core.sup_start, spec, false, "t")
      assert.is_false(ok, missing)
      assert.matches("^supervisor: " .. missing, err)
    end
    local child = { id = "a", type = "worker", restart = "permanent", shutdown = 5000, module = U.CHILD }
    for _, missing in ipairs { "type", "restart", "shutdown" } do
      local c = {}
      for k, v in pairs(child) do c[k] = v end
      c[missing] = nil
      local ok, err = pcall(core.sup_start, with { children = { c } }, false, "t")
      assert.is_false(ok, missing)
      assert.matches("^supervisor: child 'a': " .. missing, err)
    end
    local pid = core.sup_start(with { children = { child } }, false, "t")
    assert.is_true(h.is_pid(pid))
    mb.exit(pid, "kill")
  end)
end)
