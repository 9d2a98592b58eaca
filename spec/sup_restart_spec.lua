-- Supervisor restarts: docs/semantics.md ("Supervisors": "Restarts", the
-- restart matrix and what is left after a child is not restarted;
-- "Intensity" and "Backoff and failed restarts") and
-- escalation through nested supervisors: an inner supervisor that gives up
-- exits "shutdown", so its own supervisor restarts it only when its spec is
-- permanent; the one "=SUPERVISOR REPORT====" line names the chain.

local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local sup = require "moonbeam.supervisor"
local h = require "spec.support.helpers"
local U = require "spec.support.sup_util"
local G = require "spec.support.gs_util"
local sh = require "spec.support.shell"

-- The ways a child can end, and how to make it end so.
local ENDINGS = {
  { "normal", function(pid) gen.cast(pid, { "exit", "normal" }) end, "normal" },
  { "shutdown", function(pid) gen.cast(pid, { "exit", "shutdown" }) end, "shutdown" },
  { "{\"shutdown\", x}", function(pid) gen.cast(pid, { "exit", { "shutdown", "x" } }) end, { "shutdown", "x" } },
  -- OTP's {shutdown, _} is a pair: {"shutdown", "a", "b"} is any reason.
  { "{\"shutdown\", a, b}", function(pid) gen.cast(pid, { "exit", { "shutdown", "a", "b" } }) end, { "shutdown", "a", "b" } },
  { "a crash", function(pid) gen.cast(pid, "crash") end, nil },
  { "\"killed\"", function(pid) mb.exit(pid, "kill") end, "killed" },
  { "another reason", function(pid) gen.cast(pid, { "exit", "went_wrong" }) end, "went_wrong" },
}

-- docs/semantics.md, "Restarts": whether each restart type restarts after
-- each ending.
local RESTARTS = {
  permanent = { normal = true, shutdown = true, ["{\"shutdown\", x}"] = true, ["{\"shutdown\", a, b}"] = true, ["a crash"] = true, ["\"killed\""] = true, ["another reason"] = true },
  transient = { normal = false, shutdown = false, ["{\"shutdown\", x}"] = false, ["{\"shutdown\", a, b}"] = true, ["a crash"] = true, ["\"killed\""] = true, ["another reason"] = true },
  temporary = {},
}

describe("the restart matrix", function()
  before_each(h.before)
  after_each(h.after)

  for _, restart in ipairs({ "permanent", "transient", "temporary" }) do
    for _, ending in ipairs(ENDINGS) do
      local how, make_end, want_reason = ending[1], ending[2], ending[3]
      local restarts = RESTARTS[restart][how] == true
      it(("a %s child that exits with %s is %s"):format(restart, how,
        restarts and "restarted" or restart == "transient" and "kept, not running" or "removed"), function()
        local s = U.start({ U.worker("c", nil, { restart = restart }), U.worker("other") }, { intensity = 10 })
        local pid = U.event("c", "init")[4]
        U.event("other", "init")
        local reason = U.watch(pid)
        make_end(pid)
        local got = reason()
        if want_reason ~= nil then assert.same(want_reason, got) end
        if restarts then
          local new = U.event("c", "init")[4]
          assert.are_not.equal(pid, new)
          assert.is_true(mb.alive(new))
          assert.equal(new, U.pid_of(s, "c"))
          assert.same({ specs = 2, active = 2, supervisors = 0, workers = 2 }, sup.count_children(s))
        else
          U.no_event_by_call(s, "c", "init")
          local map = U.by_id(s)
          if restart == "transient" then
            assert.is_not_nil(map.c)
            assert.is_nil(map.c.pid)
            assert.same({ specs = 2, active = 1, supervisors = 0, workers = 2 }, sup.count_children(s))
          else
            assert.is_nil(map.c)
            assert.same({ specs = 1, active = 1, supervisors = 0, workers = 1 }, sup.count_children(s))
          end
        end
        assert.is_true(mb.alive(s))
      end)
    end
  end
end)

describe("after a child is not restarted", function()
  before_each(h.before)
  after_each(h.after)

  it("a transient child's spec stays: start_child gives \"already_present\", restart_child starts it", function()
    local spec = U.worker("t", nil, { restart = "transient" })
    local s = U.start({ spec })
    local pid = U.event("t", "init")[4]
    local reason = U.watch(pid)
    gen.cast(pid, { "exit", "normal" })
    assert.equal("normal", reason())
    U.no_event_by_call(s, "t", "init")
    local p, err = sup.start_child(s, spec)
    assert.is_nil(p)
    assert.equal("already_present", err)
    local new = sup.restart_child(s, "t")
    assert.is_true(h.is_pid(new))
    assert.equal(new, U.event("t", "init")[4])
    assert.equal(new, U.pid_of(s, "t"))
  end)

  it("a temporary child's spec is gone: start_child starts it again", function()
    local spec = U.worker("t", nil, { restart = "temporary" })
    local s = U.start({ spec })
    local pid = U.event("t", "init")[4]
    local reason = U.watch(pid)
    gen.cast(pid, "crash")
    reason()
    U.no_event_by_call(s, "t", "init")
    assert.same({}, sup.which_children(s))
    local new, err = sup.start_child(s, spec)
    assert.is_nil(err)
    assert.is_true(h.is_pid(new))
    assert.equal(new, U.event("t", "init")[4])
  end)

  it("exits that are not restarted do not count toward the intensity", function()
    local s = U.start({
      U.worker("t", nil, { restart = "transient" }),
      U.worker("tmp", nil, { restart = "temporary" }),
    }, { intensity = 0 })
    local t = U.event("t", "init")[4]
    local tmp = U.event("tmp", "init")[4]
    local t_reason, tmp_reason = U.watch(t), U.watch(tmp)
    gen.cast(t, { "exit", "shutdown" })
    mb.exit(tmp, "kill")
    t_reason()
    tmp_reason()
    -- s had both EXITs before this call: had it counted them, it would have
    -- given up (intensity 0) and the call would raise.
    sup.count_children(s)
    assert.is_true(mb.alive(s))
  end)
end)

describe("restart intensity", function()
  before_each(h.before)
  after_each(h.after)

  it("0: the first restart makes the supervisor give up and exit \"shutdown\"", function()
    local s = U.start({ U.worker("a") }, { intensity = 0 })
    local sup_reason = U.watch(s)
    local a = U.event("a", "init")[4]
    mb.exit(a, "kill")
    assert.equal("shutdown", sup_reason())
    -- A restart before it ended would have been awaited, its init here by now.
    U.no_event("a", "init", 0)
    -- its parent (this process, trapping) sees the EXIT with that reason
    local exit = h.expect(h.tuple("EXIT", s), "the supervisor's EXIT")
    assert.equal("shutdown", exit[3])
  end)

  for _, case in ipairs({ { "math.huge (unlimited)", math.huge }, { "2^31-1", 2 ^ 31 - 1 } }) do
    it(case[1] .. ": 20 restarts in a row, and the supervisor keeps going", function()
      local s = U.start({ U.worker("a") }, { intensity = case[2], period = 60000 })
      local a = U.event("a", "init")[4]
      for _ = 1, 20 do
        mb.exit(a, "kill")
        a = U.event("a", "init")[4]
      end
      assert.is_true(mb.alive(s))
      assert.equal(a, U.pid_of(s, "a"))
    end)
  end

  it("2: the third restart within the period, counted over all children, gives up", function()
    local s = U.start({ U.worker("a"), U.worker("b"), U.worker("c") }, { intensity = 2, period = 60000 })
    local sup_reason = U.watch(s)
    local a = U.event("a", "init")[4]
    local b = U.event("b", "init")[4]
    local c = U.event("c", "init")[4]
    mb.exit(a, "kill")
    a = U.event("a", "init")[4]
    mb.exit(b, "kill")
    U.event("b", "init")
    assert.is_true(mb.alive(s))
    local c_reason = U.watch(c)
    mb.exit(a, "kill")
    assert.equal("shutdown", sup_reason())
    -- the others were shut down, and the offending child not restarted
    assert.equal("shutdown", c_reason())
    U.no_event("a", "init", 0)   -- as above: the supervisor has ended
  end)

  it("gives up with the default intensity (3) on the fourth restart within 5 s", function()
    local s = U.start({ U.worker("a") })
    local sup_reason = U.watch(s)
    local a = U.event("a", "init")[4]
    for _ = 1, 3 do
      mb.exit(a, "kill")
      a = U.event("a", "init")[4]
    end
    assert.is_true(mb.alive(s))
    mb.exit(a, "kill")
    assert.equal("shutdown", sup_reason())
  end)

  it("forgets restarts older than the period", function()
    local s = U.start({ U.worker("a") }, { intensity = 1, period = 300 })
    local a = U.event("a", "init")[4]
    for _ = 1, 3 do
      mb.exit(a, "kill")
      a = U.event("a", "init")[4]
      mb.sleep(450)
    end
    assert.is_true(mb.alive(s))
    -- two within the period are one too many
    local sup_reason = U.watch(s)
    mb.exit(a, "kill")
    a = U.event("a", "init")[4]
    mb.exit(a, "kill")
    assert.equal("shutdown", sup_reason())
  end)

  it("stops the other children in reverse order when it gives up", function()
    local s = U.start({
      U.worker("a", { trap = true }), U.worker("b", { trap = true }),
      U.worker("c", { trap = true }), U.worker("d", { trap = true }),
    }, { intensity = 0 })
    local pids = {}
    for _, id in ipairs({ "a", "b", "c", "d" }) do pids[id] = U.event(id, "init")[4] end
    local sup_reason = U.watch(s)
    mb.exit(pids.b, "kill")
    assert.same({ "d", "c", "a" }, U.order("terminate", 3))
    assert.equal("shutdown", sup_reason())
  end)
end)

describe("failed restarts", function()
  before_each(h.before)
  after_each(h.after)

  it("count toward the intensity: a child that cannot restart makes the supervisor give up", function()
    local flag = h.name("fail")
    local s = U.start({ U.worker("a", { fail_when = flag }) }, { intensity = 3 })
    local sup_reason = U.watch(s)
    local a = U.event("a", "init")[4]
    mb.register(flag, mb.self())
    mb.exit(a, "kill")
    assert.equal("shutdown", sup_reason(5000))
    local failures = 0
    while mb.receive(U.ev("a", "init_failed"), 0) do failures = failures + 1 end
    assert.is_true(failures >= 1 and failures <= 4, "restart attempts: " .. failures)
  end)

  it("leave the child \"restarting\" and the supervisor answering calls meanwhile", function()
    local flag = h.name("fail")
    local s = U.start({ U.worker("a", { fail_when = flag }), U.worker("b") }, { intensity = 1000000, period = 60000 })
    local a = U.event("a", "init")[4]
    U.event("b", "init")
    mb.register(flag, mb.self())
    mb.exit(a, "kill")
    U.event("a", "init_failed")
    local answered, ok, children = U.bounded(2000, function(s)
      return require("moonbeam.supervisor").which_children(s)
    end, s)
    assert.is_true(answered, "which_children did not answer within 2 s while a restart kept failing")
    assert.is_true(ok)
    local pid_a
    for _, c in ipairs(children) do if c.id == "a" then pid_a = c.pid end end
    assert.equal("restarting", pid_a)
    -- once it can start again, it runs
    mb.unregister(flag)
    local new = U.event("a", "init", 3000)[4]
    assert.is_true(h.wait_until(function() return U.pid_of(s, "a") == new end))
  end)
end)

describe("a group restart with a child that fails to start", function()
  before_each(h.before)
  after_each(h.after)

  for _, strategy in ipairs({ "one_for_all", "rest_for_one" }) do
    it("under " .. strategy .. " is retried until the group runs, leaving no stray process", function()
      local flag = h.name("fail")
      local base = #mb.processes()
      local s = U.start({ U.worker("a"), U.worker("b", { fail_when = flag }), U.worker("c") },
                        { strategy = strategy, intensity = 1000, period = 60000 })
      local a = U.event("a", "init")[4]
      U.event("b", "init")
      U.event("c", "init")
      mb.register(flag, mb.self())
      mb.exit(a, "kill")
      U.event("b", "init_failed")
      mb.unregister(flag)
      U.event("b", "init", 3000)
      local map
      assert.is_true(h.wait_until(function()
        map = U.by_id(s)
        for _, id in ipairs({ "a", "b", "c" }) do
          if not (h.is_pid(map[id].pid) and mb.alive(map[id].pid)) then return false end
        end
        return true
      end, 3000), "the group did not come back: " .. h.text(map))
      -- exactly the supervisor and its three children: nothing orphaned
      assert.is_true(h.wait_until(function() return #mb.processes() == base + 4 end),
        ("%d processes, want %d"):format(#mb.processes(), base + 4))
      assert.is_true(mb.alive(s))
    end)
  end

  for _, strategy in ipairs({ "one_for_all", "rest_for_one" }) do
    it("under " .. strategy .. " starts none of the children after the failing one until it runs", function()
      local flag = h.name("fail")
      local s = U.start({ U.worker("a"), U.worker("b", { fail_when = flag, fail_once = true }), U.worker("c"),
                          U.worker("d") }, { strategy = strategy, intensity = 1000, period = 60000 })
      local a = U.event("a", "init")[4]
      for _, id in ipairs({ "b", "c", "d" }) do U.event(id, "init") end
      mb.register(flag, mb.self())
      mb.exit(a, "kill")
      U.event("b", "init_failed")   -- once: it unregisters flag
      -- the first starts of c and d after the kill come after b's own, in
      -- order, and they are the ones running (OTP's start stops at the
      -- failure; the retry starts the rest)
      local b, c, d = U.event("b", "init", 3000), U.event("c", "init", 3000), U.event("d", "init", 3000)
      assert.is_true(b[6] <= c[6] and c[6] <= d[6], ("b at %s, c at %s, d at %s"):format(b[6], c[6], d[6]))
      assert.is_true(h.wait_until(function()
        return U.pid_of(s, "b") == b[4] and U.pid_of(s, "c") == c[4] and U.pid_of(s, "d") == d[4]
      end, 3000), h.text(U.by_id(s)))
    end)
  end

  it("counts each failed attempt toward the intensity", function()
    local flag = h.name("fail")
    local s = U.start({ U.worker("a"), U.worker("b", { fail_when = flag }) },
                      { strategy = "one_for_all", intensity = 3, period = 60000 })
    local sup_reason = U.watch(s)
    local a = U.event("a", "init")[4]
    mb.register(flag, mb.self())
    mb.exit(a, "kill")
    assert.equal("shutdown", sup_reason(5000))
  end)
end)

describe("escalation through nested supervisors", function()
  before_each(h.before)
  after_each(h.after)

  -- top (one_for_one) over a worker "x" and a supervisor "inner" (intensity
  -- 1) over the worker "w"; returns top, inner's pid and w's pid.
  local function nested(inner_restart, top_flags)
    local top = U.start({
      U.worker("x"),
      { id = "inner", type = "supervisor", restart = inner_restart, strategy = "one_for_one",
        intensity = 1, period = 60000, children = { U.worker("w") } },
    }, top_flags or { intensity = 5, period = 60000 })
    U.event("x", "init")
    local w = U.event("w", "init")[4]
    return top, U.pid_of(top, "inner"), w
  end

  -- Kills w until inner gives up; returns inner's exit reason.
  local function exhaust(inner, w)
    local inner_reason = U.watch(inner)
    mb.exit(w, "kill")
    w = U.event("w", "init")[4]
    mb.exit(w, "kill")
    return inner_reason()
  end

  it("a permanent inner supervisor that gives up is restarted, with its children", function()
    local top, inner, w = nested("permanent")
    assert.is_true(h.is_pid(inner))
    assert.equal("shutdown", exhaust(inner, w))
    local w2 = U.event("w", "init")[4]
    local inner2
    assert.is_true(h.wait_until(function()
      inner2 = U.pid_of(top, "inner")
      return h.is_pid(inner2) and inner2 ~= inner
    end))
    assert.equal(w2, U.pid_of(inner2, "w"))
    assert.is_true(mb.alive(top))
  end)

  it("a transient inner supervisor that gives up is not restarted; its spec stays", function()
    local top, inner, w = nested("transient")
    assert.equal("shutdown", exhaust(inner, w))
    U.no_event_by_call(top, "w", "init")
    local map = U.by_id(top)
    assert.is_not_nil(map.inner)
    assert.is_nil(map.inner.pid)
    assert.equal("supervisor", map.inner.type)
    assert.same({ specs = 2, active = 1, supervisors = 1, workers = 1 }, sup.count_children(top))
    assert.is_true(mb.alive(top))
  end)

  it("a temporary inner supervisor that gives up is removed", function()
    local top, inner, w = nested("temporary")
    assert.equal("shutdown", exhaust(inner, w))
    U.no_event_by_call(top, "w", "init")
    assert.same({ "x" }, U.ids(top))
    assert.is_true(mb.alive(top))
  end)

  it("a restarted inner supervisor starts from its spec: children added with start_child are gone", function()
    local top, inner = nested("permanent")
    local y = sup.start_child(inner, U.worker("y"))
    assert.is_true(h.is_pid(y))
    U.event("y", "init")
    assert.same({ "y", "w" }, U.ids(inner))
    mb.exit(inner, "kill")
    U.event("w", "init")
    local inner2
    assert.is_true(h.wait_until(function()
      inner2 = U.pid_of(top, "inner")
      return h.is_pid(inner2) and inner2 ~= inner
    end))
    assert.same({ "w" }, U.ids(inner2))
    U.no_event("y", "init", 0)   -- inner2 answered: what it started has reported
  end)

  it("the outer supervisor gives up in turn when restarting the inner one is one too many", function()
    local top, inner, w = nested("permanent", { intensity = 0 })
    local top_reason = U.watch(top)
    local x = U.by_id(top).x.pid
    local x_reason = U.watch(x)
    assert.equal("shutdown", exhaust(inner, w))
    assert.equal("shutdown", top_reason())
    assert.equal("shutdown", x_reason())
    assert.equal("shutdown", h.expect(h.tuple("EXIT", top), "top's EXIT")[3])
  end)
end)

-- The supervisor report, read from a subprocess's stderr (the suite runs
-- with MOONBEAM_CRASH_LOG=0).
local function describe_subprocess(name, fn)
  if G.can_run_subprocesses() then return describe(name, fn) end
  describe(name, function() pending("needs subprocesses, which cannot run here") end)
end

local SCRIPT = [[
local mb = require "moonbeam"
local sup = require "moonbeam.supervisor"
mb.trap_exit(true)
local me = mb.self()
local function w_init()
  local m = mb.receive(function(m) return type(m) == "table" and m[1] == "sup_ev" and m[2] == "w" and m[3] == "init" end, 5000)
  return assert(m, "w did not start")[4]
end
local top = assert(sup.start_link({
  {id = "x", module = "spec.support.sup_child", arg = {id = "x"}},
  {id = "inner", type = "supervisor", intensity = 0, children = {
    {id = "w", module = "spec.support.sup_child", arg = {id = "w", watcher = me}},
  }},
}, {name = "top", intensity = TOP_INTENSITY}))
local top_ref = mb.monitor(top)   -- now: with intensity 0, top ends with inner
local inner = sup.which_children(top)[1].pid
local ref = mb.monitor(inner)
mb.exit(w_init(), "kill")
assert(mb.receive(function(m) return type(m) == "table" and m[1] == "DOWN" and m[2] == ref end, 5000), "inner did not give up")
if TOP_INTENSITY > 0 then
  w_init()
  local now = sup.which_children(top)[1].pid
  assert(now ~= inner and mb.alive(now), "inner was not restarted")
  print("restarted")
  sup.stop(top)
else
  local m = mb.receive(function(m) return type(m) == "table" and m[1] == "DOWN" and m[2] == top_ref end, 5000)
  print("top", m and m[5])
end
]]

local function run(top_intensity, env)
  local path = sh.script(SCRIPT:gsub("TOP_INTENSITY", tostring(top_intensity)))
  return sh.run((env or "MOONBEAM_CRASH_LOG=1") .. " ./build/bin/moonbeam run " .. sh.quote(path), 60)
end

local function report_lines(stderr)
  local lines = {}
  for line in stderr:gmatch("[^\n]+") do
    if line:find("=SUPERVISOR REPORT====", 1, true) then lines[#lines + 1] = line end
  end
  return lines
end

describe_subprocess("the supervisor report", function()
  after_each(sh.cleanup)

  it("is one line naming the chain (top/inner) and the child when an inner supervisor gives up", function()
    local status, out, err = run(5)
    assert.equal(0, status, err)
    assert.matches("restarted", out)
    local lines = report_lines(err)
    assert.equal(1, #lines, err)
    assert.truthy(lines[1]:find("top/inner", 1, true), lines[1])
    assert.truthy(lines[1]:find("w", 1, true), lines[1])
  end)

  it("is still one line, naming the chain, when the outer supervisor gives up in turn", function()
    local status, out, err = run(0)
    assert.equal(0, status, err)
    assert.matches("top\tshutdown", out)
    local lines = report_lines(err)
    assert.equal(1, #lines, err)
    assert.truthy(lines[1]:find("top/inner", 1, true), lines[1])
  end)

  it("is not printed with MOONBEAM_CRASH_LOG=0", function()
    local status, out, err = run(5, "MOONBEAM_CRASH_LOG=0")
    assert.equal(0, status, err)
    assert.same({}, report_lines(err))
  end)
end)
