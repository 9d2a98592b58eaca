-- gen_server start and start_link: docs/reference.md ("gen_server") and
-- docs/semantics.md ("gen_server", "Start").
--
-- Most servers here are spec/support/gs_script.lua, whose init returns
-- exactly arg.ret, or what the upvalue-free function arg.init returns.

local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local h = require "spec.support.helpers"
local U = require "spec.support.gs_util"

local SCRIPT = U.SCRIPT

-- init returns exactly these values.
local function returning(...)
  return { ret = { n = select("#", ...), ... } }
end

local starts = { start = gen.start, start_link = gen.start_link }

for fname, start in pairs(starts) do
  describe("gen." .. fname .. " maps init's outcome", function()
    before_each(h.before)
    after_each(h.after)

    it("\"ok\", state to the pid of a live server holding state", function()
      local pid, err = start(SCRIPT, returning("ok", { n = 1, list = { "a", "b" } }))
      assert.is_nil(err)
      assert.is_true(h.is_pid(pid))
      assert.is_true(mb.alive(pid))
      assert.same({ n = 1, list = { "a", "b" } }, gen.get_state(pid))
    end)

    it("\"ok\" with a nil state to a pid", function()
      local pid = start(SCRIPT, returning("ok", nil))
      assert.is_true(h.is_pid(pid))
      assert.is_nil(gen.get_state(pid))
    end)

    for _, extra in ipairs({ 50, 0, "hibernate", { continue = "next" } }) do
      it("\"ok\", state, " .. h.text(extra) .. " to a pid", function()
        local pid = start(SCRIPT, returning("ok", "s", extra))
        assert.is_true(h.is_pid(pid))
        assert.equal("s", gen.get_state(pid))
      end)
    end

    it("\"ignore\" to nil, \"ignore\", leaving no process behind", function()
      local before = U.snapshot()
      local pid, err = start(SCRIPT, returning("ignore"))
      assert.is_nil(pid)
      assert.equal("ignore", err)
      assert.same({}, U.new_processes(before))
    end)

    it("\"stop\", reason to nil, reason, leaving no process behind", function()
      local before = U.snapshot()
      local pid, err = start(SCRIPT, returning("stop", "no config"))
      assert.is_nil(pid)
      assert.equal("no config", err)
      assert.same({}, U.new_processes(before))
    end)

    it("\"error\", reason to nil, reason (OTP 26): the server ends normal, leaving no process", function()
      local before = U.snapshot()
      local pid, err = start(SCRIPT, returning("error", { "no_config", "db" }))
      assert.is_nil(pid)
      assert.same({ "no_config", "db" }, err)
      assert.same({}, U.new_processes(before))
      local ok, e2 = start(SCRIPT, returning("error", nil))   -- no reason: not this return
      assert.is_nil(ok)
      assert.same({ "bad_return_value", { "error" } }, e2)
    end)

    it("\"stop\" with a table reason to exactly that table", function()
      local pid, err = start(SCRIPT, returning("stop", { "shutdown", { why = "x" } }))
      assert.is_nil(pid)
      assert.same({ "shutdown", { why = "x" } }, err)
    end)

    it("\"stop\", \"normal\" to nil, \"normal\"", function()
      local pid, err = start(SCRIPT, returning("stop", "normal"))
      assert.is_nil(pid)
      assert.equal("normal", err)
    end)

    it("a raised error to nil, {\"error\", message, traceback}", function()
      local before = U.snapshot()
      local pid, err = start(SCRIPT, { init = function() error("init blew up") end })
      assert.is_nil(pid)
      assert.equal("table", type(err))
      assert.equal("error", err[1])
      assert.matches("init blew up", err[2])
      assert.equal("string", type(err[3]))
      assert.same({}, U.new_processes(before))
    end)

    it("a raised table to nil, {\"error\", that table, traceback}", function()
      local pid, err = start(SCRIPT, { init = function() error({ code = 7 }) end })
      assert.is_nil(pid)
      assert.equal("error", err[1])
      assert.same({ code = 7 }, err[2])
    end)

    it("mb.exit(reason) to nil, exactly that reason", function()
      local pid, err = start(SCRIPT, {
        init = function() require("moonbeam").exit({ "gone", 1 }) end,
      })
      assert.is_nil(pid)
      assert.same({ "gone", 1 }, err)
    end)

    it("a bad return value x to nil, {\"bad_return_value\", x}", function()
      local pid, err = start(SCRIPT, returning(42))
      assert.is_nil(pid)
      assert.same({ "bad_return_value", 42 }, err)
    end)

    it("an unknown tag to nil, {\"bad_return_value\", ...}", function()
      local pid, err = start(SCRIPT, returning("okay", "s"))
      assert.is_nil(pid)
      assert.equal("bad_return_value", err[1])
      assert.equal("okay", err[2][1])
    end)

    it("nothing at all to nil, {\"bad_return_value\", ...}", function()
      local pid, err = start(SCRIPT, { init = function() end })
      assert.is_nil(pid)
      assert.equal("table", type(err))
      assert.equal("bad_return_value", err[1])
    end)

    it("\"stop\" with a nil reason to nil, {\"bad_return_value\", {\"stop\"}}", function()
      -- not nil, nil: a start's failure always has a reason
      local pid, err = start(SCRIPT, returning("stop", nil))
      assert.is_nil(pid)
      assert.same({ "bad_return_value", { "stop" } }, err)
    end)

    it("\"ok\" with a bad extra to nil, {\"bad_return_value\", {\"ok\", state, extra}}", function()
      local pid, err = start(SCRIPT, returning("ok", "s", "bogus"))
      assert.is_nil(pid)
      assert.same({ "bad_return_value", { "ok", "s", "bogus" } }, err)
    end)

    it("\"ok\" with a negative timeout to {\"bad_return_value\", ...}", function()
      local pid, err = start(SCRIPT, returning("ok", "s", -5))
      assert.is_nil(pid)
      assert.same({ "bad_return_value", { "ok", "s", -5 } }, err)
    end)

    it("a module that cannot be loaded to nil, {\"error\", \"module 'x' not found: ...\"}", function()
      local pid, err = start("spec.support.no_such_module", nil)
      assert.is_nil(pid)
      assert.equal("error", err[1])
      assert.is_truthy(err[2]:find("module 'spec.support.no_such_module' not found", 1, true), h.text(err))
    end)

    it("a module that raises while loading to nil, {\"error\", ...}", function()
      local pid, err = start("spec.support.broken", nil)
      assert.is_nil(pid)
      assert.equal("error", err[1])
      assert.matches("broken on purpose", h.text(err))
    end)

    it("works with a table of upvalue-free callbacks", function()
      local pid = start({
        init = function(a) return "ok", a * 2 end,
        handle_call = function(req, from, s) return "reply", s + req, s end,
      }, 21)
      assert.is_true(h.is_pid(pid))
      assert.equal(43, gen.call(pid, 1))
    end)

    it("a linked process killing init to nil, its reason, at once", function()
      local elapsed, r = U.timed(start, SCRIPT, { init = function()
        local mb = require "moonbeam"
        mb.spawn_link(function() error("linked crash") end)
        mb.sleep(5000)
        return "ok", 1
      end })
      assert.is_true(r[1], h.text(r[2]))
      assert.is_nil(r[2])
      assert.equal("error", r[3][1])
      assert.matches("linked crash", r[3][2])
      assert.is_true(elapsed < 2000, "elapsed " .. elapsed)
    end)

    it("returns only after init returned", function()
      local pid = start(SCRIPT, {
        watcher = mb.self(),
        init = function(arg)
          local mb = require "moonbeam"
          mb.sleep(100)
          mb.send(arg.watcher, "init done")
          return "ok", 0
        end,
      })
      assert.is_true(h.is_pid(pid))
      assert.equal("init done", mb.receive(function(m) return m == "init done" end, 0))
    end)

    it("returns only after a failing init ended", function()
      local pid, err = start(SCRIPT, {
        watcher = mb.self(),
        init = function(arg)
          local mb = require "moonbeam"
          mb.sleep(100)
          mb.send(arg.watcher, "init done")
          return "stop", "late failure"
        end,
      })
      assert.is_nil(pid)
      assert.equal("late failure", err)
      assert.equal("init done", mb.receive(function(m) return m == "init done" end, 0))
    end)
  end)

  describe("gen." .. fname .. " with opts.timeout", function()
    before_each(h.before)
    after_each(h.after)

    local function slow_init()
      local mb = require "moonbeam"
      mb.sleep(10000)
      return "ok", "never"
    end

    it("gives nil, \"timeout\" for an init that runs too long", function()
      local elapsed, r = U.timed(start, SCRIPT, { init = slow_init }, { timeout = 100 })
      assert.is_true(r[1], h.text(r[2]))
      assert.is_nil(r[2])
      assert.equal("timeout", r[3])
      assert.is_true(elapsed >= 80 and elapsed < 2000, "elapsed " .. elapsed)
    end)

    it("leaves no process, no name and no message behind", function()
      local name = h.name("gs_timeout")
      local before = U.snapshot()
      local pid, err = start(SCRIPT, { init = slow_init }, { timeout = 100, name = name })
      assert.is_nil(pid)
      assert.equal("timeout", err)
      assert.same({}, U.new_processes(before))
      assert.is_nil(mb.whereis(name))
      assert.same({}, U.mailbox(100))
    end)

    it("leaves the name free for the next start", function()
      local name = h.name("gs_timeout")
      assert.is_nil((start(SCRIPT, { init = slow_init }, { timeout = 50, name = name })))
      local pid = start(SCRIPT, returning("ok", 1), { name = name })
      assert.is_true(h.is_pid(pid))
      assert.equal(pid, mb.whereis(name))
    end)

    it("does not cut short an init that returns in time", function()
      local pid = start(SCRIPT, {
        init = function()
          require("moonbeam").sleep(50)
          return "ok", "in time"
        end,
      }, { timeout = 2000 })
      assert.is_true(h.is_pid(pid))
      assert.equal("in time", gen.get_state(pid))
    end)

    it("accepts \"infinity\"", function()
      local pid = start(SCRIPT, returning("ok", 1), { timeout = "infinity" })
      assert.is_true(h.is_pid(pid))
    end)

    -- From a spawned process, where an infinite wait used to end at once.
    for _, case in ipairs({ { "math.huge", math.huge }, { "2^64", 2 ^ 64 } }) do
      it("takes " .. case[1] .. " as \"infinity\": an init of 150 ms is not cut short", function()
        mb.spawn(function(parent, fname, t, script)
          local gen = require "moonbeam.gen_server"
          local pid, err = gen[fname](script, {
            init = function()
              require("moonbeam").sleep(150)
              return "ok", "late"
            end,
          }, { timeout = t })
          require("moonbeam").send(parent, { "started", pid ~= nil, err })
        end, mb.self(), fname, case[2], SCRIPT)
        local m = h.expect(h.tuple("started"), "the starter's report")
        assert.is_true(m[2], h.text(m[3]))
      end)
    end
  end)

  describe("gen." .. fname .. " with opts.name", function()
    before_each(h.before)
    after_each(h.after)

    it("registers the server under the name", function()
      local name = h.name("gs")
      local pid = start(SCRIPT, returning("ok", "named"), { name = name })
      assert.equal(pid, mb.whereis(name))
      assert.equal(name, mb.info(pid).registered_name)
      assert.equal("named", gen.get_state(name))
    end)

    it("gives nil, {\"already_started\", pid} for a name another process holds", function()
      local name = h.name("gs")
      local holder = h.echo()
      mb.register(name, holder)
      local before = U.snapshot()
      local pid, err = start(SCRIPT, returning("ok", 1), { name = name })
      assert.is_nil(pid)
      assert.same({ "already_started", holder }, err)
      assert.equal(holder, mb.whereis(name))
      assert.same({}, U.new_processes(before))
    end)

    it("gives nil, {\"already_started\", pid} for a name a running server holds", function()
      local name = h.name("gs")
      local first = start(SCRIPT, returning("ok", 1), { name = name })
      for _, again in pairs(starts) do
        local pid, err = again(SCRIPT, returning("ok", 2), { name = name })
        assert.is_nil(pid)
        assert.same({ "already_started", first }, err)
      end
      assert.equal(1, gen.get_state(name))
    end)

    it("frees the name before a failed start returns", function()
      local name = h.name("gs")
      for _, arg in ipairs({ returning("stop", "no"), returning("ignore"), returning(42),
                             { init = function() error("x") end } }) do
        local pid = start(SCRIPT, arg, { name = name })
        assert.is_nil(pid)
        assert.is_nil(mb.whereis(name))
      end
      local pid = start(SCRIPT, returning("ok", 1), { name = name })
      assert.is_true(h.is_pid(pid))
    end)

    it("releases the name when the server stops", function()
      local name = h.name("gs")
      local pid = start(SCRIPT, returning("ok", 1), { name = name })
      gen.stop(name)
      assert.is_false(mb.alive(pid))
      assert.is_nil(mb.whereis(name))
    end)
  end)
end

describe("gen.start_link", function()
  before_each(h.before)
  after_each(h.after)

  it("links the caller and the server", function()
    local pid = gen.start_link(SCRIPT, returning("ok", 1))
    assert.is_true(h.contains(mb.info(pid).links, mb.self()))
    assert.is_true(h.contains(mb.info(mb.self()).links, pid))
  end)

  it("passes spawn options such as trap_exit", function()
    local pid = gen.start_link(SCRIPT, returning("ok", 1), { trap_exit = true })
    assert.is_true(mb.info(pid).trap_exit)
    local plain = gen.start_link(SCRIPT, returning("ok", 1))
    assert.is_false(mb.info(plain).trap_exit)
  end)

  local failures = {
    ["\"ignore\""] = returning("ignore"),
    ["\"stop\", reason"] = returning("stop", "boom"),
    ["\"stop\", \"normal\""] = returning("stop", "normal"),
    ["\"error\", reason"] = returning("error", "boom"),
    ["a raised error"] = { init = function() error("boom") end },
    ["mb.exit(reason)"] = { init = function() require("moonbeam").exit("boom") end },
    ["a bad return value"] = returning(42),
    ["a bad extra"] = returning("ok", 1, "bogus"),
    ["an init timeout"] = { init = function() require("moonbeam").sleep(10000) end, timeout = 50 },
  }

  for what, arg in pairs(failures) do
    it("leaves no EXIT in a trapping caller's mailbox after " .. what, function()
      local pid, err = gen.start_link(SCRIPT, arg, { timeout = arg.timeout })
      assert.is_nil(pid)
      assert.is_not_nil(err)
      assert.same({}, U.mailbox(100))
    end)
  end

  it("leaves the caller's other EXIT messages alone", function()
    local other = h.dead_pid()
    mb.send(mb.self(), { "EXIT", other, "unrelated" })
    mb.send(mb.self(), "after")
    assert.is_nil((gen.start_link(SCRIPT, returning("stop", "boom"))))
    assert.same({ { "EXIT", other, "unrelated" }, "after" }, U.mailbox(50))
  end)

  it("passes the memory_limit spawn option", function()
    local pid = gen.start_link(SCRIPT, returning("ok", 1), { memory_limit = 8 * 1024 * 1024 })
    local ref = mb.monitor(pid)
    gen.cast(pid, { "fn", function(state)
      local t = {}
      for i = 1, 1e7 do t[i] = { i } end
      return "noreply", t
    end })
    assert.equal("memory_limit", h.reason(ref, 10000))
  end)

  it("leaves no EXIT in a trapping caller's mailbox for a module that cannot load", function()
    assert.is_nil((gen.start_link("spec.support.no_such_module", nil)))
    assert.is_nil((gen.start_link("spec.support.gs_noinit", nil)))
    assert.same({}, U.mailbox(100))
  end)

  it("kills a non-trapping caller with init's stop reason", function()
    local ref = U.in_process(function()
      local gen = require "moonbeam.gen_server"
      return gen.start_link("spec.support.gs_script", { ret = { "stop", "bad config" } })
    end)
    assert.equal("bad config", h.reason(ref))
  end)

  it("kills a non-trapping caller with init's crash", function()
    local ref = U.in_process(function()
      local gen = require "moonbeam.gen_server"
      return gen.start_link("spec.support.gs_script", { init = function() error("init crash") end })
    end)
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    assert.matches("init crash", reason[2])
  end)

  it("kills a non-trapping caller with {\"bad_return_value\", x}", function()
    local ref = U.in_process(function()
      local gen = require "moonbeam.gen_server"
      return gen.start_link("spec.support.gs_script", { ret = { 42 } })
    end)
    assert.same({ "bad_return_value", 42 }, h.reason(ref))
  end)

  for _, case in ipairs({ { "ignore", { "ignore" } }, { "normal", { "stop", "normal" } }, { "bad config", { "error", "bad config" } } }) do
    it("returns nil, \"" .. case[1] .. "\" to a non-trapping caller, which survives", function()
      local ref, p = U.in_process(function(ret)
        local gen = require "moonbeam.gen_server"
        return gen.start_link("spec.support.gs_script", { ret = ret })
      end, case[2])
      local r = U.result(p)
      assert.is_not_nil(r, "no result")
      assert.same({ "result", p, true, nil, case[1] }, { r[1], r[2], r[3], r[4], r[5] })
      assert.is_true(mb.alive(p))
      assert.is_nil(mb.receive(h.tuple("DOWN", ref), 100))
    end)
  end

  it("lets a non-trapping caller survive an init timeout, with no EXIT and no link left", function()
    local ref, p = U.in_process(function()
      local gen = require "moonbeam.gen_server"
      local mb = require "moonbeam"
      local pid, err = gen.start_link("spec.support.gs_script", {
        init = function() require("moonbeam").sleep(10000) end,
      }, { timeout = 50 })
      mb.sleep(50)
      return pid, err, #mb.info(mb.self()).links, mb.receive(0)
    end)
    local r = U.result(p)
    assert.is_not_nil(r, "no result")
    assert.is_true(r[3], h.text(r[4]))
    assert.is_nil(r[4])
    assert.equal("timeout", r[5])
    assert.equal(0, r[6])
    assert.is_nil(r[7])
    assert.is_true(mb.alive(p))
    assert.is_nil(mb.receive(h.tuple("DOWN", ref), 100))
  end)
end)

describe("gen.start", function()
  before_each(h.before)
  after_each(h.after)

  it("does not link", function()
    local pid = gen.start(SCRIPT, returning("ok", 1))
    assert.is_false(h.contains(mb.info(pid).links, mb.self()))
    assert.is_false(h.contains(mb.info(mb.self()).links, pid))
  end)

  it("leaves nothing in the caller's mailbox after a failure", function()
    assert.is_nil((gen.start(SCRIPT, returning("stop", "boom"))))
    assert.is_nil((gen.start(SCRIPT, { init = function() error("x") end })))
    assert.same({}, U.mailbox(100))
  end)

  it("leaves nothing in the caller's mailbox after a success", function()
    assert.is_true(h.is_pid((gen.start(SCRIPT, returning("ok", 1)))))
    assert.same({}, U.mailbox(50))
  end)
end)

describe("gen.start's failure reason", function()
  before_each(h.before)
  after_each(h.after)

  -- A plain luajit subprocess cannot load a sanitizer build's module.
  local plain_it = require("spec.support.sup_util").sanitized() and pending or it

  plain_it("prints as words, so assert(gen.start(...)) in a plain luajit script shows it", function()
    local sh = require "spec.support.shell"
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write([[
      local gen = require "moonbeam.gen_server"
      assert(gen.start({ init = function() error("init blew up") end }, "arg"))
    ]])
    f:close()
    local status, _, err = sh.run("MOONBEAM_CRASH_LOG=0 luajit " .. sh.quote(path))
    os.remove(path)
    assert.equal(1, status, err)
    assert.not_matches("error object is not a string", err, 1, true)
    assert.matches("luajit: error: gen_server.start({init = ", err, 1, true)
    assert.matches("init blew up, stack traceback:", err, 1, true)
  end)

  it("keeps its shape: the same elements, sent as plain contents; other reasons untouched", function()
    local pid, err = gen.start(SCRIPT, { init = function() error("init blew up") end })
    assert.is_nil(pid)
    assert.equal(3, #err)
    assert.equal("error", err[1])
    assert.matches("^error: gen_server.start%(\"spec.support.gs_script\", {init = .*init blew up", tostring(err))
    mb.send(mb.self(), err)
    local got = mb.receive(1000)
    assert.is_nil(getmetatable(got))
    assert.same(err, got)
    local name = h.name("start")
    local first = assert(gen.start(SCRIPT, returning("ok", 1), { name = name }))
    local _, taken = gen.start(SCRIPT, returning("ok", 1), { name = name })
    assert.same({ "already_started", first }, taken)
    assert.equal(('already_started: gen_server.start("spec.support.gs_script", {ret = {"ok", 1, n = 2}}, ' ..
                  '{name = "%s"}): %s'):format(name, tostring(first)), tostring(taken))
    -- A tuple keeps its kind, and an untagged table or a string stays as it is.
    _, err = gen.start(SCRIPT, { init = function() return "stop", require("moonbeam").tuple("x", 1) end })
    assert.equal("tuple", mb.kind(err))
    _, err = gen.start(SCRIPT, returning("stop", { code = 7 }))
    assert.is_nil(getmetatable(err))
    assert.equal("ignore", select(2, gen.start(SCRIPT, returning("ignore"))))
  end)
end)

describe("gen.start with bad input", function()
  before_each(h.before)
  after_each(h.after)

  for _, bad in ipairs({ 42, true, function() end }) do
    it("raises for a " .. type(bad) .. " module, naming the module", function()
      for fname, start in pairs(starts) do
        local before = U.snapshot()
        local err = U.raised(start, bad, nil)
        assert.matches("module", h.text(err), 1, true)
        assert.same({}, U.new_processes(before), fname)
      end
    end)
  end

  it("raises for a nil module", function()
    assert.matches("module", h.text(U.raised(gen.start, nil, 1)))
  end)

  it("fails clearly for a module without init, and keeps the host running", function()
    for _, mod in ipairs({ "spec.support.gs_noinit", {}, { init = 5 } }) do
      local pid, err = gen.start(mod, nil)
      assert.is_nil(pid)
      assert.matches("init", h.text(err))
    end
    assert.is_true(h.is_pid((gen.start(SCRIPT, returning("ok", 1)))))
  end)

  it("fails clearly for a module that is not a table of callbacks", function()
    local pid, err = gen.start("spec.support.gs_notable", nil)
    assert.is_nil(pid)
    assert.matches("table", h.text(err))
  end)

  for _, bad in ipairs({ "soon", -1, {}, true, 0 / 0 }) do
    it("raises for opts.timeout = " .. h.text(bad) .. ", naming the timeout", function()
      local before = U.snapshot()
      local err = U.raised(gen.start, SCRIPT, returning("ok", 1), { timeout = bad })
      assert.matches("timeout", h.text(err))
      assert.same({}, U.new_processes(before))
    end)
  end

  it("raises for opts that are not a table", function()
    assert.matches("opts", h.text(U.raised(gen.start, SCRIPT, nil, "fast")))
  end)

  it("raises for a name that is not a string", function()
    assert.matches("name", h.text(U.raised(gen.start, SCRIPT, nil, { name = 42 })))
  end)

  for _, case in ipairs({ { "an empty name", "" }, { "a name with a NUL byte", "spec_nul\0name" } }) do
    local bad = case[2]
    it("raises for " .. case[1] .. ", starting and registering nothing", function()
      local before, names = U.snapshot(), #mb.registered()
      for fname, start in pairs(starts) do
        assert.equal("gen_server." .. fname .. ": name must be a non-empty string without NUL bytes",
          h.usage_error("gen_server." .. fname, start, SCRIPT, returning("ok", 1), { name = bad }))
      end
      assert.same({}, U.new_processes(before))
      assert.equal(names, #mb.registered())
    end)
  end

  it("raises \"gen_server.start: timeout must be ...\" for a NaN opts.timeout", function()
    h.usage_error("gen_server.start", gen.start, SCRIPT, returning("ok", 1), { timeout = 0 / 0 })
  end)

  it("raises for an init argument that cannot be sent, and starts nothing", function()
    local up = 1
    local before = U.snapshot()
    local err = U.raised(gen.start, SCRIPT, { state = function() return up end })
    assert.matches("upvalue", h.text(err))
    assert.same({}, U.new_processes(before))
    assert.same({}, U.mailbox(50))
    assert.is_true(h.is_pid((gen.start(SCRIPT, returning("ok", 1)))))
  end)
end)

-- It spawned the server first, then failed in init's wait, under receive's
-- name: the server stayed running, registered, and linked to the caller.
describe("gen.start where it cannot wait", function()
  before_each(h.before)
  after_each(h.after)

  it("raises inside mb.blocking and inside a coroutine of the process's own, and starts nothing", function()
    local name = h.name("never")
    local before = U.snapshot()
    mb.spawn(function(parent, n)
      local mb, gen = require "moonbeam", require "moonbeam.gen_server"
      local in_blocking = { pcall(mb.blocking, function(n)
        local pid = require("moonbeam.gen_server").start_link("spec.support.gs_script", {}, { name = n })
        return pid
      end, n) }
      local in_coroutine = { coroutine.resume(coroutine.create(function()
        local pid = gen.start("spec.support.gs_script", {}, { name = n })
        return pid
      end)) }
      mb.send(parent, { "tried", in_blocking, in_coroutine, #mb.info(mb.self()).links })
    end, mb.self(), name)
    local m = h.expect(h.tuple("tried"), "the starter's report")
    assert.same({ false, "gen_server.start_link: cannot wait inside mb.blocking; start after it returns" }, m[2])
    assert.same({ false, "gen_server.start: cannot wait inside a coroutine of your own; start from the process's body" }, m[3])
    assert.equal(0, m[4])
    assert.is_nil(mb.whereis(name))
    mb.sleep(20)   -- the starter's end
    assert.same({}, U.new_processes(before))
  end)
end)
