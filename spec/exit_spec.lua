-- Exit signals, links and monitors: docs/semantics.md ("Links and exit
-- signals", "Monitors").
--
-- The busted process traps exits (see helpers.before), so most behaviour is
-- observed on echo processes (spec/support/echo.lua): the spec asks them to
-- link, monitor or trap, and watches them through monitors, or through the
-- messages they relay back as {"relay", pid, msg}.

local mb = require "moonbeam"
local h = require "spec.support.helpers"

local function monitor_all(...)
  local refs = {}
  for i, pid in ipairs({ ... }) do refs[i] = mb.monitor(pid) end
  return unpack(refs)
end

describe("mb.link", function()
  before_each(h.before)
  after_each(h.after)

  it("returns true and is bidirectional", function()
    local a, b = h.echo(), h.echo()
    assert.same({ true, nil }, { h.call(a, "link", b) })
    assert.is_true(h.contains(mb.info(a).links, b))
    assert.is_true(h.contains(mb.info(b).links, a))
  end)

  it("propagates an abnormal exit with the same reason", function()
    local a, b = h.echo(), h.echo()
    h.call(a, "link", b)
    local ra, rb = monitor_all(a, b)
    mb.send(b, { "exit", "boom" })
    assert.equal("boom", h.reason(rb))
    assert.equal("boom", h.reason(ra))
  end)

  it("propagates the other way too", function()
    local a, b = h.echo(), h.echo()
    h.call(a, "link", b)
    local ra, rb = monitor_all(a, b)
    mb.send(a, { "exit", "boom" })
    assert.equal("boom", h.reason(ra))
    assert.equal("boom", h.reason(rb))
  end)

  it("propagates a table reason unchanged", function()
    local a, b = h.echo(), h.echo()
    h.call(a, "link", b)
    local ra = mb.monitor(a)
    mb.send(b, { "exit", { "shutdown", { detail = "x", n = 3 } } })
    assert.same({ "shutdown", { detail = "x", n = 3 } }, h.reason(ra))
  end)

  it("propagates a crash's {\"error\", message, traceback} reason to its partner", function()
    local a, b = h.echo(), h.echo()
    h.call(a, "link", b)
    local ra, rb = monitor_all(a, b)
    mb.send(b, { "raise", "crash in b" })
    local reason = h.reason(rb)
    assert.equal("error", reason[1])
    assert.same(reason, h.reason(ra))
  end)

  it("propagates down a chain of links", function()
    local a, b, c = h.echo(), h.echo(), h.echo()
    h.call(a, "link", b)
    h.call(b, "link", c)
    local ra, rb = monitor_all(a, b)
    mb.send(c, { "exit", "chain" })
    assert.equal("chain", h.reason(rb))
    assert.equal("chain", h.reason(ra))
  end)

  it("kills every linked partner", function()
    local hub = h.echo()
    local refs = {}
    for i = 1, 50 do
      local p = h.echo()
      h.call(p, "link", hub)
      refs[i] = mb.monitor(p)
    end
    mb.send(hub, { "exit", "fan-out" })
    for i = 1, 50 do assert.equal("fan-out", h.reason(refs[i])) end
  end)

  it("does not propagate a normal exit", function()
    local a, b = h.echo(), h.echo()
    h.call(a, "link", b)
    local rb = mb.monitor(b)
    mb.send(b, "stop")
    assert.equal("normal", h.reason(rb))
    assert.is_true(h.ping(a))
    assert.is_false(h.contains(mb.info(a).links, b))
  end)

  it("does not propagate mb.exit(\"normal\")", function()
    local a, b = h.echo(), h.echo()
    h.call(a, "link", b)
    local rb = mb.monitor(b)
    mb.send(b, { "exit", "normal" })
    assert.equal("normal", h.reason(rb))
    assert.is_true(h.ping(a))
  end)

  it("gives a trapping partner {\"EXIT\", pid, reason} and keeps it alive", function()
    local a, b = h.echo(mb.self()), h.echo()
    h.call(a, "trap", true)
    h.call(a, "link", b)
    mb.send(b, { "exit", "boom" })
    assert.same({ "EXIT", b, "boom" }, h.relayed(a))
    assert.is_true(h.ping(a))
  end)

  it("gives a trapping partner {\"EXIT\", pid, \"normal\"} on a normal exit", function()
    local a, b = h.echo(mb.self()), h.echo()
    h.call(a, "trap", true)
    h.call(a, "link", b)
    mb.send(b, "stop")
    assert.same({ "EXIT", b, "normal" }, h.relayed(a))
  end)

  it("gives a trapping partner the crash reason of a process that raised", function()
    local a, b = h.echo(mb.self()), h.echo()
    h.call(a, "trap", true)
    h.call(a, "link", b)
    mb.send(b, { "raise", "oops" })
    local msg = h.relayed(a)
    assert.equal("EXIT", msg[1])
    assert.equal(b, msg[2])
    assert.equal("error", msg[3][1])
    assert.matches("oops", msg[3][2])
  end)

  it("makes at most one link between two processes", function()
    local a, b = h.echo(), h.echo()
    h.call(a, "link", b)
    h.call(a, "link", b)
    h.call(b, "link", a)
    assert.equal(1, h.count(mb.info(a).links, b))
    assert.equal(1, h.count(mb.info(b).links, a))
    h.call(a, "unlink", b) -- one unlink undoes them all
    assert.is_false(h.contains(mb.info(a).links, b))
    local rb = mb.monitor(b)
    mb.send(b, { "exit", "boom" })
    assert.equal("boom", h.reason(rb))
    assert.is_true(h.ping(a))
  end)

  it("to itself is a no-op", function()
    local a = h.echo()
    assert.same({ true, nil }, { h.call(a, "link", a) })
    assert.is_false(h.contains(mb.info(a).links, a))
  end)

  it("made by spawn_link exists before the child can crash", function()
    -- Monitored from its spawn: the child's crash may end it at once.
    local _, ref = mb.spawn_monitor(function()
      local mb = require "moonbeam"
      mb.spawn_link(function() error("instant crash") end)
      mb.receive()
    end)
    local reason = h.reason(ref)
    assert.is_table(reason)
    assert.equal("error", reason[1])
    assert.matches("instant crash", reason[2])
  end)
end)

describe("mb.link to a process that does not exist", function()
  before_each(h.before)
  after_each(h.after)

  it("gives a trapping caller {\"EXIT\", pid, \"noproc\"}", function()
    local dead = h.dead_pid()
    assert.is_true(mb.info(mb.self()).trap_exit)
    mb.link(dead)
    assert.same({ "EXIT", dead, "noproc" }, h.expect(h.tuple("EXIT", dead), "the noproc EXIT"))
  end)

  it("gives a trapping echo {\"EXIT\", pid, \"noproc\"}", function()
    local dead = h.dead_pid()
    local a = h.echo(mb.self())
    h.call(a, "trap", true)
    h.call(a, "link", dead)
    assert.same({ "EXIT", dead, "noproc" }, h.relayed(a))
    assert.is_true(h.ping(a))
  end)

  it("raises \"noproc\" in a caller that does not trap exits", function()
    local dead = h.dead_pid()
    local a = h.echo()
    local ok, err = h.call(a, "link", dead)
    assert.is_false(ok)
    assert.matches("noproc", err)
    assert.is_true(h.ping(a), "the caller survives (it caught the error)")
  end)
end)

describe("an exit reason as deep as a message may be (100 levels)", function()
  before_each(h.before)
  after_each(h.after)

  it("arrives in the DOWN and the EXIT that wrap it, one level deeper", function()
    local p, ref = mb.spawn_monitor(function(parent)
      local mb = require "moonbeam"
      mb.link(parent)
      local t = {}
      for _ = 1, 99 do t = { t } end   -- 100 tables
      mb.exit(t)
    end, mb.self())
    local function depth(t) local n = 0 while type(t) == "table" do n, t = n + 1, t[1] end return n end
    local down = h.expect(h.tuple("DOWN", ref), "the DOWN")
    assert.equal(100, depth(down[5]))
    local exit = h.expect(h.tuple("EXIT", p), "the EXIT")
    assert.equal(100, depth(exit[3]))
    assert.equal(0, mb.info(mb.self()).message_queue_len)
  end)
end)

describe("mb.unlink", function()
  before_each(h.before)
  after_each(h.after)

  it("returns true and removes the link on both sides", function()
    local a, b = h.echo(), h.echo()
    h.call(a, "link", b)
    assert.same({ true, nil }, { h.call(a, "unlink", b) })
    assert.is_false(h.contains(mb.info(a).links, b))
    assert.is_false(h.contains(mb.info(b).links, a))
  end)

  it("means the partner's exit no longer affects the caller", function()
    local a, b = h.echo(), h.echo()
    h.call(a, "link", b)
    h.call(a, "unlink", b)
    local rb = mb.monitor(b)
    mb.send(b, { "exit", "boom" })
    assert.equal("boom", h.reason(rb))
    assert.is_true(h.ping(a))
  end)

  it("works from the other side too", function()
    local a, b = h.echo(), h.echo()
    h.call(a, "link", b)
    h.call(b, "unlink", a)
    local ra = mb.monitor(a)
    mb.send(a, { "exit", "boom" })
    assert.equal("boom", h.reason(ra))
    assert.is_true(h.ping(b))
  end)

  it("of a process that is not linked, or is dead, is a no-op returning true", function()
    local a, b = h.echo(), h.echo()
    assert.same({ true, nil }, { h.call(a, "unlink", b) })
    assert.same({ true, nil }, { h.call(a, "unlink", h.dead_pid()) })
    assert.is_true(h.ping(a))
  end)

  it("of a trapping caller delivers no EXIT afterwards", function()
    local b = h.echo()
    mb.link(b)
    assert.is_true(mb.unlink(b))
    local rb = mb.monitor(b)
    mb.send(b, { "exit", "boom" })
    assert.equal("boom", h.reason(rb))
    assert.is_nil(mb.receive(h.tuple("EXIT", b), 50))
  end)
end)

describe("mb.trap_exit", function()
  before_each(h.before)
  after_each(h.after)

  it("returns the previous flag", function()
    local a = h.echo()
    assert.is_false(h.call(a, "trap", true))
    assert.is_true(h.call(a, "trap", true))
    assert.is_true(h.call(a, "trap", false))
    assert.is_false(h.call(a, "trap", false))
  end)

  it("turned off again lets an abnormal exit signal kill", function()
    local a, b = h.echo(), h.echo()
    h.call(a, "trap", true)
    h.call(a, "trap", false)
    h.call(a, "link", b)
    local ra = mb.monitor(a)
    mb.send(b, { "exit", "boom" })
    assert.equal("boom", h.reason(ra))
  end)
end)

describe("mb.exit(pid, reason)", function()
  before_each(h.before)
  after_each(h.after)

  it("with \"kill\" ends the process with \"killed\"", function()
    local a = h.echo()
    local ra = mb.monitor(a)
    mb.exit(a, "kill")
    assert.equal("killed", h.reason(ra))
  end)

  it("with \"kill\" ends the process with \"killed\" even when it traps exits", function()
    local a = h.echo(mb.self())
    h.call(a, "trap", true)
    local ra = mb.monitor(a)
    mb.exit(a, "kill")
    assert.equal("killed", h.reason(ra))
  end)

  it("with \"kill\" gives linked partners \"killed\", an ordinary reason", function()
    local a, b, c = h.echo(), h.echo(), h.echo(mb.self())
    h.call(b, "link", a)
    h.call(c, "trap", true)
    h.call(c, "link", a)
    local ra, rb = monitor_all(a, b)
    mb.exit(a, "kill")
    assert.equal("killed", h.reason(ra))
    assert.equal("killed", h.reason(rb))
    assert.same({ "EXIT", a, "killed" }, h.relayed(c))
    assert.is_true(h.ping(c))
  end)

  it("from a process exiting itself with \"kill\" propagates \"kill\" (not converted)", function()
    local a, b, c = h.echo(), h.echo(), h.echo(mb.self())
    h.call(b, "link", a)
    h.call(c, "trap", true)
    h.call(c, "link", a)
    local ra, rb = monitor_all(a, b)
    mb.send(a, { "exit", "kill" })
    assert.equal("kill", h.reason(ra))
    assert.equal("kill", h.reason(rb))
    assert.same({ "EXIT", a, "kill" }, h.relayed(c))
    assert.is_true(h.ping(c))
  end)

  it("with \"normal\" is ignored by a process that does not trap exits", function()
    local a = h.echo()
    mb.exit(a, "normal")
    assert.is_true(h.ping(a))
    assert.is_true(mb.alive(a))
  end)

  -- Erlang's normal and kill are atoms (mb.atom, or a reason that came
  -- from a node): the atom normal killed a process that does not trap
  -- exits, and the atom kill could be trapped.
  it("with the atoms normal and kill does what the strings do", function()
    local a = h.echo()
    mb.exit(a, mb.atom("normal"))
    assert.is_true(h.ping(a))
    local b = h.echo(mb.self())
    h.call(b, "trap", true)
    local ref = mb.monitor(b)
    mb.exit(b, mb.atom("kill"))
    assert.equal("killed", h.reason(ref))
  end)

  it("with \"normal\" reaches a trapping process as {\"EXIT\", sender, \"normal\"}", function()
    local a = h.echo(mb.self())
    h.call(a, "trap", true)
    mb.exit(a, "normal")
    assert.same({ "EXIT", mb.self(), "normal" }, h.relayed(a))
    assert.is_true(h.ping(a))
  end)

  it("with \"normal\" to itself ends the caller with \"normal\"", function()
    local pid, ref = mb.spawn_monitor(function(parent)
      local mb = require "moonbeam"
      mb.exit(mb.self(), "normal")
      mb.send(parent, "still running")
    end, mb.self())
    assert.equal("normal", h.reason(ref))
    assert.is_nil(mb.receive(function(m) return m == "still running" end, 50))
  end)

  it("from an unlinked sender ends a non-trapping process with the reason", function()
    local a = h.echo()
    local ra = mb.monitor(a)
    mb.exit(a, "boom")
    assert.equal("boom", h.reason(ra))
  end)

  it("from an unlinked sender reaches a trapping process as {\"EXIT\", sender, reason}", function()
    local a, b = h.echo(mb.self()), h.echo()
    h.call(a, "trap", true)
    h.call(b, "exit_signal", a, { "shutdown", "why" })
    assert.same({ "EXIT", b, { "shutdown", "why" } }, h.relayed(a))
    assert.is_true(h.ping(a))
  end)

  it("with a table reason ends the process with that table", function()
    local a = h.echo()
    local ra = mb.monitor(a)
    mb.exit(a, { "shutdown", "detail" })
    assert.same({ "shutdown", "detail" }, h.reason(ra))
  end)

  it("to a registered name reaches the process", function()
    local name = h.name("exit")
    local a = h.echo()
    mb.register(name, a)
    local ra = mb.monitor(a)
    mb.exit(name, "boom")
    assert.equal("boom", h.reason(ra))
  end)

  it("to a dead pid is a no-op", function()
    local ok, err = pcall(mb.exit, h.dead_pid(), "boom")
    assert.is_true(ok, h.text(err))
    assert.is_true(mb.alive(mb.self()))
  end)

  it("from many processes at once ends the target once", function()
    local target = h.echo()
    local ra = mb.monitor(target)
    for _ = 1, 50 do
      mb.spawn(function(t)
        local mb = require "moonbeam"
        mb.exit(t, "kill")
      end, target)
    end
    assert.equal("killed", h.reason(ra))
    assert.is_nil(mb.receive(h.tuple("DOWN", ra), 50))
  end)
end)

describe("mb.exit(reason)", function()
  before_each(h.before)
  after_each(h.after)

  for _, reason in ipairs({ "normal", "shutdown", "custom", { "shutdown", "detail" }, { "any", { nested = true } } }) do
    it("ends the caller with exactly " .. h.text(reason), function()
      local pid, ref = mb.spawn_monitor(function(parent, reason)
        local mb = require "moonbeam"
        mb.exit(reason)
        mb.send(parent, "still running")
      end, mb.self(), reason)
      assert.same(reason, h.reason(ref))
      assert.is_nil(mb.receive(function(m) return m == "still running" end, 20))
    end)
  end

  it("called inside a receive loop ends the process with that reason", function()
    local a = h.echo()
    local ra = mb.monitor(a)
    mb.send(a, { "exit", { "shutdown", 42 } })
    assert.same({ "shutdown", 42 }, h.reason(ra))
  end)

  -- A coroutine's resume gets the exit as an error, but the body that
  -- resumed it must not go on to send, or to exit with another reason.
  local in_coroutines = {
    resume = function(mb)
      coroutine.resume(coroutine.create(function() mb.exit("in_coro") end))
    end,
    ["a wrap inside a wrap under pcall"] = function(mb)
      pcall(coroutine.wrap(function() coroutine.wrap(function() mb.exit("in_coro") end)() end))
    end,
    ["a resume inside a sort's comparator"] = function(mb)
      table.sort({ 3, 2, 1 }, function(a, b)
        coroutine.resume(coroutine.create(function() mb.exit("in_coro") end))
        return a < b
      end)
    end,
  }
  for how, body in pairs(in_coroutines) do
    it("called in a coroutine of the process's own (" .. how .. ") ends it there with that reason", function()
      local pid, ref = mb.spawn_monitor(function(parent, body)
        local mb = require "moonbeam"
        body(mb)
        mb.send(parent, "still running")
        mb.exit("after")
      end, mb.self(), body)
      assert.equal("in_coro", h.reason(ref))
      assert.is_nil(mb.receive(function(m) return m == "still running" end, 20))
    end)
  end

  it("with \"kill\" to itself in a coroutine of its own ends it \"killed\"", function()
    local pid, ref = mb.spawn_monitor(function()
      local mb = require "moonbeam"
      coroutine.resume(coroutine.create(function() mb.exit(mb.self(), "kill"); mb.exit("x") end))
      mb.exit("after")
    end)
    assert.equal("killed", h.reason(ref))
  end)
end)

-- An exit reason goes to every link and monitor, so one larger than the
-- runtime's max_message_size is refused as a message would be: mb.exit(pid,
-- reason) raises, and a process that ends with one (mb.exit(reason), or a
-- crash) ends with a bounded reason instead:
--   {"error", "exit reason too large (N bytes): <its first 200 bytes>...", traceback}
-- (the text shown is the reason if it is a string, or a crash's message;
-- the traceback, a crash's, cut to 4 KB, else ""; for other reasons only
-- {"error", "exit reason too large (N bytes)", ""}).
describe("exit reasons larger than max_message_size", function()
  before_each(h.before)
  after_each(h.after)

  local function limited(bytes)
    local old = mb.max_message_size(bytes)
    finally(function() mb.max_message_size(old) end)
  end

  it("mb.exit(pid, reason) raises as send does, and the target lives on", function()
    limited(4096)
    local a = h.echo()
    local ra = mb.monitor(a)
    assert.matches("larger than the limit of 4096 bytes", h.error_of(mb.exit, a, string.rep("x", 5000)), 1, true)
    assert.matches("larger than the limit of 4096 bytes", h.error_of(mb.exit, a, { string.rep("x", 5000) }), 1, true)
    assert.is_true(h.ping(a))
    assert.is_nil(mb.receive(h.tuple("DOWN", ra), 0))
  end)

  it("mb.exit(reason) ends the caller with {\"error\", \"exit reason too large (N bytes): ...\"}, for links and monitors alike", function()
    limited(4096)
    local a = h.echo(mb.self())
    h.call(a, "trap", true)
    local pid, ref = mb.spawn_monitor(function(a)
      local mb = require "moonbeam"
      mb.link(a)
      mb.exit(string.rep("x", 5000))
    end, a)
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    local n = tonumber(reason[2]:match("^exit reason too large %((%d+) bytes%): x+%.%.%.$"))
    assert.is_true(n and n > 5000 and n < 5100, reason[2])
    assert.equal(200, #reason[2]:match(": (x+)"))
    assert.equal("", reason[3])   -- no crash, no traceback: the shape of a crash's all the same
    assert.same({ "EXIT", pid, reason }, h.relayed(a))
  end)

  -- A finalizer's error raised while the crash's reason was made took its
  -- place, as "crashed" (4 runs in 5), and nothing was logged.
  it("a crash beside garbage whose finalizers raise still ends with {\"error\", message, traceback}", function()
    for _ = 1, 5 do
      local _, ref = mb.spawn_monitor(function()
        for i = 1, 1000 do
          local p = newproxy(true)
          getmetatable(p).__gc = function() error("finalizer " .. i) end
        end
        error("the real error")
      end)
      local reason = h.reason(ref)
      assert.is_table(reason)
      assert.equal("error", reason[1])
      -- Either error: LuaJIT raises a finalizer's where its collection ran.
      assert.is_truthy(reason[2]:find("the real error", 1, true) or reason[2]:find("finalizer %d+$"), reason[2])
      assert.matches("traceback", reason[3])
    end
  end)

  it("a crash with a too-large error message ends with a bounded reason that keeps the traceback", function()
    limited(4096)
    local _, ref = mb.spawn_monitor(function() error(string.rep("y", 5000), 0) end)
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    assert.matches("^exit reason too large %(%d+ bytes%): y+%.%.%.$", reason[2])
    assert.is_string(reason[3])
    assert.matches("traceback", reason[3])
  end)

  it("a table reason too large ends as {\"error\", \"exit reason too large (N bytes)\"}", function()
    limited(4096)
    local _, ref = mb.spawn_monitor(function()
      require("moonbeam").exit({ "mine", { blob = string.rep("z", 5000) } })
    end)
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    assert.matches("^exit reason too large %(%d+ bytes%)$", reason[2])
    assert.equal("", reason[3])
  end)

  it("a reason within the limit is kept exactly", function()
    limited(4096)
    local _, ref = mb.spawn_monitor(function() require("moonbeam").exit(string.rep("w", 3000)) end)
    assert.equal(string.rep("w", 3000), h.reason(ref))
  end)

  it("at the default limit (64 MiB): a crash with a bigger error message reaches monitors bounded", function()
    local limit = mb.max_message_size()
    local _, ref = mb.spawn_monitor(function(n) error(string.rep("v", n), 0) end, limit + 1)
    -- 64 MiB made, encoded to be measured, and cut: half a second alone,
    -- many times that beside every other spec file.
    local reason = h.reason(ref, 60000)
    assert.equal("error", reason[1])
    assert.is_true(#reason[2] < 300, "a reason of " .. #reason[2] .. " bytes")
    assert.matches("^exit reason too large %(%d+ bytes%)", reason[2])
  end)
end)

describe("a process that returns from its body", function()
  before_each(h.before)
  after_each(h.after)

  it("exits with \"normal\"", function()
    local _, ref = mb.spawn_monitor(function() return "ignored", 1, 2 end)
    assert.equal("normal", h.reason(ref))
  end)
end)

describe("a Lua error in a process", function()
  before_each(h.before)
  after_each(h.after)

  it("is its crash, reason {\"error\", message, traceback}", function()
    local _, ref = mb.spawn_monitor(function() error("kaboom") end)
    local reason = h.reason(ref)
    assert.is_table(reason)
    assert.equal("error", reason[1])
    assert.is_string(reason[2])
    assert.matches("kaboom", reason[2])
    assert.is_string(reason[3])
    assert.is_true(#reason[3] > 0)
  end)

  it("inside a receive loop is its crash too", function()
    local a = h.echo()
    local ra = mb.monitor(a)
    assert.is_true(h.ping(a))
    mb.send(a, { "raise", "bad request" })
    local reason = h.reason(ra)
    assert.equal("error", reason[1])
    assert.matches("bad request", reason[2])
    assert.is_string(reason[3])
  end)

  it("from a runtime fault (indexing nil) is a crash with the message", function()
    local _, ref = mb.spawn_monitor(function()
      local t = nil
      return t.field
    end)
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    assert.matches("index", reason[2])
  end)

  it("with a table error value is still an {\"error\", value, traceback} crash", function()
    local _, ref = mb.spawn_monitor(function() error({ code = 42 }) end)
    local reason = h.reason(ref)
    assert.is_table(reason)
    assert.equal("error", reason[1])
    assert.is_not_nil(reason[2])
    assert.is_string(reason[3])
  end)

  it("with an error value that cannot be sent is still a crash with a string message", function()
    local _, ref = mb.spawn_monitor(function() error({ handle = io.stdout }) end)
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    assert.is_string(reason[2])
    assert.is_string(reason[3])
  end)

  it("raised as error(nil) still gives a string message", function()
    local _, ref = mb.spawn_monitor(function() error() end)
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    assert.is_string(reason[2])
    assert.is_string(reason[3])
  end)

  it("leaves the host running", function()
    for _ = 1, 20 do mb.spawn(function() error("crash") end) end
    assert.is_true(h.ping(h.echo()))
  end)
end)

describe("mb.monitor", function()
  before_each(h.before)
  after_each(h.after)

  it("delivers {\"DOWN\", ref, \"process\", pid, reason} when the process exits", function()
    local a = h.echo()
    local ref = mb.monitor(a)
    assert.is_true(h.is_ref(ref))
    mb.send(a, { "exit", "boom" })
    local down = h.down(ref)
    assert.same({ "DOWN", ref, "process", a, "boom" }, down)
    assert.equal(5, #down)
  end)

  it("gives DOWN \"noproc\" at once for a dead pid", function()
    local dead = h.dead_pid()
    local ref = mb.monitor(dead)
    assert.same({ "DOWN", ref, "process", dead, "noproc" }, h.down(ref))
  end)

  it("gives DOWN \"noproc\" at once for an unknown name, naming it", function()
    local name = h.name("unknown")
    local ref = mb.monitor(name)
    assert.same({ "DOWN", ref, "process", name, "noproc" }, h.down(ref))
  end)

  it("names the pair for {name, this node} not registered, as another node's pair", function()
    local pair = { h.name("unknown"), mb.node() }
    local ref = mb.monitor(pair)
    assert.same({ "DOWN", ref, "process", pair, "noproc" }, h.down(ref))
  end)

  it("of a name reports the pid the name had", function()
    local name = h.name("mon")
    local a = h.echo()
    mb.register(name, a)
    local ref = mb.monitor(name)
    mb.send(a, { "exit", "boom" })
    assert.same({ "DOWN", ref, "process", a, "boom" }, h.down(ref))
  end)

  it("resolves a name once, when the monitor is made", function()
    local name = h.name("mon")
    local a, b = h.echo(), h.echo()
    mb.register(name, a)
    local ref = mb.monitor(name)
    mb.unregister(name)
    mb.register(name, b)
    local rb = mb.monitor(b)
    mb.send(b, { "exit", "b goes" })
    assert.equal("b goes", h.reason(rb))
    assert.is_nil(mb.receive(h.tuple("DOWN", ref), 50), "the monitor followed the name")
    mb.send(a, { "exit", "a goes" })
    assert.same({ "DOWN", ref, "process", a, "a goes" }, h.down(ref))
  end)

  it("fires once and is then removed", function()
    local a = h.echo()
    local ref = mb.monitor(a)
    mb.send(a, "stop")
    h.down(ref)
    assert.is_nil(mb.receive(h.tuple("DOWN", ref), 50))
    assert.is_false(h.contains(mb.info(mb.self()).monitors, a))
  end)

  it("made twice gives two independent monitors, each with its DOWN", function()
    local a = h.echo()
    local r1, r2 = mb.monitor(a), mb.monitor(a)
    assert.are_not.equal(r1, r2)
    mb.send(a, { "exit", "boom" })
    assert.equal("boom", h.reason(r1))
    assert.equal("boom", h.reason(r2))
  end)

  it("removed by demonitor leaves the other monitor of the same process", function()
    local a = h.echo()
    local r1, r2 = mb.monitor(a), mb.monitor(a)
    assert.is_true(mb.demonitor(r1))
    mb.send(a, { "exit", "boom" })
    assert.equal("boom", h.reason(r2))
    assert.is_nil(mb.receive(h.tuple("DOWN", r1), 50))
  end)

  it("is one-directional: the monitored process outlives its monitor", function()
    local a, b = h.echo(), h.echo()
    h.call(a, "monitor", b)
    local ra = mb.monitor(a)
    mb.send(a, { "exit", "boom" })
    assert.equal("boom", h.reason(ra))
    assert.is_true(h.ping(b))
    assert.is_false(h.contains(mb.info(b).monitored_by, a))
  end)

  it("delivers DOWN to a monitoring process even when it traps nothing", function()
    local a, b = h.echo(mb.self()), h.echo()
    local ref = h.call(a, "monitor", b)
    mb.send(b, { "exit", "boom" })
    assert.same({ "DOWN", ref, "process", b, "boom" }, h.relayed(a))
    assert.is_true(h.ping(a))
  end)
  -- A hub of many linked processes that trap exits; each tells the spec
  -- process "saw" when the hub's exit signal reaches it.
  local function hub_of(n)
    local hub = mb.spawn(function(n, watcher)
      local mb = require "moonbeam"
      for _ = 1, n do
        mb.spawn_link(function(watcher, hub)
          local mb = require "moonbeam"
          mb.trap_exit(true)
          mb.send(hub, "trapping")
          mb.receive(function(m) return type(m) == "table" and m[1] == "EXIT" end)
          mb.send(watcher, "saw")
        end, watcher, mb.self())
      end
      for _ = 1, n do mb.receive(function(m) return m == "trapping" end) end
      mb.send(watcher, "ready")
      mb.receive()
    end, n, mb.self())
    assert.equal("ready", mb.receive(function(m) return m == "ready" end, 10000))
    return hub
  end

  it("sends a DOWN ahead of the exit signals to the process's links", function()
    -- Behind 3000 exit signals, the DOWN came after what the linked
    -- processes did on theirs (a supervisor of 50,000: 663 ms late).
    local hub = hub_of(3000)
    local ref = mb.monitor(hub)
    mb.exit(hub, "kill")
    local first = mb.receive(function(m) return m == "saw" or (type(m) == "table" and m[1] == "DOWN") end, 10000)
    assert.same({ "DOWN", ref, "process", hub, "killed" }, first)
    for _ = 1, 3000 do assert.equal("saw", mb.receive(function(m) return m == "saw" end, 10000)) end
  end)

  it("sends a process both linked and watching its exit signal first, then its DOWN", function()
    local hub = hub_of(40)
    mb.link(hub)
    local ref = mb.monitor(hub)
    mb.exit(hub, "kill")
    local function is_signal(m) return type(m) == "table" and (m[1] == "DOWN" or m[1] == "EXIT") and m[2] ~= nil end
    assert.same({ "EXIT", hub, "killed" }, mb.receive(is_signal, 10000))
    assert.same({ "DOWN", ref, "process", hub, "killed" }, mb.receive(is_signal, 10000))
    for _ = 1, 40 do assert.equal("saw", mb.receive(function(m) return m == "saw" end, 10000)) end
  end)
end)

describe("mb.demonitor", function()
  before_each(h.before)
  after_each(h.after)

  it("returns true, and no DOWN is added afterwards", function()
    local a = h.echo()
    local ref = mb.monitor(a)
    assert.is_true(mb.demonitor(ref))
    mb.send(a, { "exit", "boom" })
    assert.is_true(h.wait_until(function() return not mb.alive(a) end))
    assert.is_nil(mb.receive(h.tuple("DOWN", ref), 50))
  end)

  it("with flush removes a DOWN already queued", function()
    local a = h.echo()
    local ref = mb.monitor(a)
    mb.send(a, "stop")
    assert.is_true(h.wait_until(function() return mb.info(mb.self()).message_queue_len > 0 end),
      "the DOWN never arrived")
    assert.is_true(mb.demonitor(ref, true))
    assert.is_nil(mb.receive(h.tuple("DOWN", ref), 50))
  end)

  it("without flush leaves a DOWN already queued", function()
    local a = h.echo()
    local ref = mb.monitor(a)
    mb.send(a, "stop")
    assert.is_true(h.wait_until(function() return mb.info(mb.self()).message_queue_len > 0 end),
      "the DOWN never arrived")
    assert.is_true(mb.demonitor(ref))
    assert.equal("normal", h.reason(ref))
  end)

  it("with flush leaves other messages alone", function()
    mb.send(mb.self(), "before")
    local a = h.echo()
    local ref = mb.monitor(a)
    mb.send(a, "stop")
    assert.is_true(h.wait_until(function() return mb.info(mb.self()).message_queue_len > 1 end))
    mb.send(mb.self(), "after")
    mb.demonitor(ref, true)
    assert.equal("before", mb.receive(0))
    assert.equal("after", mb.receive(0))
    assert.is_nil(mb.receive(0))
  end)

  it("of a monitor that already fired returns true", function()
    local a = h.echo()
    local ref = mb.monitor(a)
    mb.send(a, "stop")
    h.down(ref)
    assert.is_true(mb.demonitor(ref))
    assert.is_true(mb.demonitor(ref, true))
  end)

  -- A structural check, not a benchmark: with a scan per demonitor (and per
  -- DOWN) the 250k removals below take thousands of times longer than
  -- making the 500k monitors; at O(1) each, about as long. The bound is
  -- relative to that, so a loaded machine slows both alike; the loops stop
  -- at the bound.
  it("and DOWN stay O(1) with 500k monitors held, and keep exactly the rest", function()
    local N = 500000
    local a = h.echo()
    local refs, made = {}, h.now_ms()
    for i = 1, N do refs[i] = mb.monitor(a) end
    local BOUND_MS = math.max(3000, 20 * (h.now_ms() - made))
    -- Remove every other one, scattered (a step coprime with N/2) so the
    -- removals hit every part of the structure, not only its end.
    local removed, kept, t0 = {}, {}, h.now_ms()
    local half, j = N / 2, 0
    for k = 1, half do
      j = (j + 7919) % half
      local ref = refs[2 * j + 1]
      assert.is_true(mb.demonitor(ref))
      removed[ref] = true
      if k % 1000 == 0 then
        assert(h.now_ms() - t0 < BOUND_MS, ("%d of %d demonitors after %d ms"):format(k, half, BOUND_MS))
      end
    end
    for i = 2, N, 2 do kept[refs[i]] = true end
    mb.send(a, { "exit", "bye" })
    local t1, got = h.now_ms(), 0
    while got < half do
      local m = mb.receive(function(m) return type(m) == "table" and m[1] == "DOWN" and m[4] == a end, h.TIMEOUT)
      assert(m, ("%d of %d DOWNs arrived"):format(got, half))
      assert(not removed[m[2]], "a DOWN for a removed monitor")
      assert(kept[m[2]] and m[5] == "bye", "an unexpected DOWN")
      kept[m[2]] = nil
      got = got + 1
      if got % 1000 == 0 then
        assert(h.now_ms() - t1 < BOUND_MS, ("%d of %d DOWNs after %d ms"):format(got, half, BOUND_MS))
      end
    end
    assert.is_nil(mb.receive(function(m) return type(m) == "table" and m[1] == "DOWN" and m[4] == a end, 50))
    assert.is_false(h.contains(mb.info(mb.self()).monitors, a))
  end)
end)

describe("a process's resources are released before its EXIT and DOWN are delivered", function()
  before_each(h.before)
  after_each(h.after)

  it("on DOWN, its name is free and it is no longer alive", function()
    for _ = 1, 50 do
      local name = h.name("rel")
      local a = h.echo()
      assert.is_true(mb.register(name, a))
      local ref = mb.monitor(a)
      mb.send(a, { "exit", "boom" })
      h.down(ref)
      assert.is_nil(mb.whereis(name))
      assert.is_false(h.contains(mb.registered(), name))
      assert.is_false(mb.alive(a))
      assert.is_nil(mb.info(a))
      assert.is_false(h.contains(mb.processes(), a))
    end
  end)

  it("on EXIT, its name is free and its links are gone", function()
    for _ = 1, 50 do
      local name = h.name("rel")
      local a = h.echo()
      assert.is_true(mb.register(name, a))
      mb.link(a)
      mb.send(a, { "exit", "boom" })
      assert.same({ "EXIT", a, "boom" }, h.expect(h.tuple("EXIT", a), "the EXIT"))
      assert.is_nil(mb.whereis(name))
      assert.is_false(mb.alive(a))
      assert.is_false(h.contains(mb.info(mb.self()).links, a))
    end
  end)

  it("on DOWN, its name can be registered again at once", function()
    local name = h.name("rel")
    local a, b = h.echo(), h.echo()
    mb.register(name, a)
    local ref = mb.monitor(a)
    mb.exit(a, "kill")
    h.down(ref)
    assert.is_true(mb.register(name, b))
  end)

  it("on DOWN, the monitors it held are gone", function()
    local a, b = h.echo(), h.echo()
    h.call(a, "monitor", b)
    assert.is_true(h.contains(mb.info(b).monitored_by, a))
    local ra = mb.monitor(a)
    mb.send(a, { "exit", "boom" })
    h.down(ra)
    assert.is_false(h.contains(mb.info(b).monitored_by, a))
  end)

  it("on a partner's EXIT, a trapping process finds the name free", function()
    for _ = 1, 20 do
      local name = h.name("rel")
      local watcher = mb.spawn(function(parent, name)
        local mb = require "moonbeam"
        mb.trap_exit(true)
        local a = mb.spawn_link(function()
          local mb = require "moonbeam"
          mb.receive()
          error("dies")
        end)
        mb.register(name, a)
        mb.send(a, "go")
        local m = mb.receive(function(m) return type(m) == "table" and m[1] == "EXIT" end, 2000)
        mb.send(parent, { "watched", m and m[2] == a, mb.whereis(name) == nil, not mb.alive(a) })
      end, mb.self(), name)
      local m = h.expect(h.tuple("watched"), "the watcher's report")
      assert.same({ "watched", true, true, true }, m)
    end
  end)
end)

-- A process's Lua state is closed as it exits, and its __gc finalizers run
-- then. What they make (links, monitors, names, linked children) is undone
-- with the rest of the process, so no partner is left with a stale link.
describe("a __gc finalizer that runs as its process exits", function()
  before_each(h.before)
  after_each(h.after)

  -- Spawns a process whose body arms a finalizer (held until the state is
  -- closed), then exits with reason (returns for "normal").
  local function with_gc(gc, reason, ...)
    return mb.spawn_monitor(function(gc, reason, ...)
      local mb = require "moonbeam"
      local args = { n = select("#", ...), ... }
      KEEP = newproxy(true)
      getmetatable(KEEP).__gc = function() gc(unpack(args, 1, args.n)) end
      if reason ~= "normal" then mb.exit(reason) end
    end, gc, reason, ...)
  end

  it("and links to a trapping process gives it the EXIT; no stale link stays", function()
    local pid, ref = with_gc(function(observer) require("moonbeam").link(observer) end, "normal", mb.self())
    assert.equal("normal", h.reason(ref))
    assert.same({ "EXIT", pid, "normal" }, h.expect(h.tuple("EXIT", pid), "the EXIT of the link made at close"))
    assert.is_false(h.contains(mb.info(mb.self()).links, pid))
  end)

  it("and links to a process that does not trap exits ends it with the exit reason", function()
    local a = h.echo()
    local ra = mb.monitor(a)
    local pid, ref = with_gc(function(a) require("moonbeam").link(a) end, "boom", a)
    assert.equal("boom", h.reason(ref))
    assert.equal("boom", h.reason(ra))
  end)

  it("and monitors a process leaves no stale monitor on it", function()
    local a = h.echo()
    local pid, ref = with_gc(function(a) require("moonbeam").monitor(a) end, "normal", a)
    h.down(ref)
    assert.is_false(h.contains(mb.info(a).monitored_by, pid))
  end)

  it("and spawn_links a child gives the child its EXIT", function()
    local pid, ref = with_gc(function(observer)
      local mb = require "moonbeam"
      mb.spawn_opt(function(observer)
        local mb = require "moonbeam"
        local m = mb.receive()
        mb.send(observer, { "child saw", m[1], m[3] })
      end, { link = true, trap_exit = true }, observer)
    end, "boom", mb.self())
    assert.equal("boom", h.reason(ref))
    local m = h.expect(h.tuple("child saw"), "the child's report")
    assert.same({ "child saw", "EXIT", "boom" }, m)
  end)

  it("and registers a name leaves the name free", function()
    local name = h.name("gc")
    local pid, ref = with_gc(function(name) require("moonbeam").register(name, require("moonbeam").self()) end,
      "normal", name)
    h.down(ref)
    assert.is_nil(mb.whereis(name))
  end)
end)

describe("signal order between two processes", function()
  before_each(h.before)
  after_each(h.after)

  it("delivers a message sent before an exit signal first (trapping receiver)", function()
    local a, b = h.echo(mb.self()), h.echo()
    h.call(a, "trap", true)
    mb.send(b, { "send", mb.self(), mb.make_ref(), a, "m1", n = 5 })
    mb.send(b, { "exit_signal", mb.self(), mb.make_ref(), a, "boom", n = 5 })
    mb.send(b, { "send", mb.self(), mb.make_ref(), a, "m2", n = 5 })
    assert.equal("m1", h.relayed(a))
    assert.same({ "EXIT", b, "boom" }, h.relayed(a))
    assert.equal("m2", h.relayed(a))
  end)

  it("delivers a process's last message before its EXIT", function()
    for _ = 1, 20 do
      local a = h.echo(mb.self())
      h.call(a, "trap", true)
      local b = mb.spawn(function(a)
        local mb = require "moonbeam"
        mb.link(a)
        mb.send(a, "last words")
        error("then dies")
      end, a)
      assert.equal("last words", h.relayed(a))
      local exit = h.relayed(a)
      assert.equal("EXIT", exit[1])
      assert.equal(b, exit[2])
    end
  end)

  it("delivers a process's last message before its DOWN", function()
    for _ = 1, 20 do
      local b, ref = mb.spawn_monitor(function(parent)
        local mb = require "moonbeam"
        mb.send(parent, { "last words", mb.self() })
        mb.exit("done")
      end, mb.self())
      local first = h.expect(function(m)
        return type(m) == "table" and (m[1] == "last words" and m[2] == b or m[1] == "DOWN" and m[2] == ref)
      end, "the last message or the DOWN")
      assert.equal("last words", first[1])
      assert.equal("done", h.reason(ref))
    end
  end)
end)

describe("links, monitors and names racing an exit", function()
  before_each(h.before)
  after_each(h.after)

  it("a link made as the partner exits gives exactly one EXIT (its reason or noproc)", function()
    for _ = 1, 200 do
      local p = mb.spawn(function() end)
      mb.link(p)
      local m = h.expect(h.tuple("EXIT", p), "an EXIT")
      assert.is_true(m[3] == "normal" or m[3] == "noproc", h.text(m[3]))
      assert.is_nil(mb.receive(h.tuple("EXIT", p), 0))
    end
    mb.sleep(20)
    assert.is_nil(mb.receive(function(m) return type(m) == "table" and m[1] == "EXIT" end, 0))
  end)

  it("a monitor made as the process exits gives exactly one DOWN (its reason or noproc)", function()
    for _ = 1, 200 do
      local p = mb.spawn(function() end)
      local ref = mb.monitor(p)
      local reason = h.reason(ref)
      assert.is_true(reason == "normal" or reason == "noproc", h.text(reason))
      assert.is_nil(mb.receive(h.tuple("DOWN", ref), 0))
    end
  end)

  it("a name registered as the process exits never outlives it", function()
    for _ = 1, 200 do
      local name = h.name("race")
      local p = mb.spawn(function() end)
      pcall(mb.register, name, p)
      local ref = mb.monitor(p)
      h.down(ref)
      assert.is_nil(mb.whereis(name), "the name still points at a dead process")
    end
  end)

  it("exit signals with different reasons at once end the target once, with one of them", function()
    local target = h.echo()
    local ra = mb.monitor(target)
    for i = 1, 20 do
      mb.spawn(function(t, i)
        local mb = require "moonbeam"
        mb.exit(t, "reason " .. i)
      end, target, i)
    end
    local reason = h.reason(ra)
    assert.matches("^reason %d+$", reason)
    assert.is_nil(mb.receive(h.tuple("DOWN", ra), 50))
  end)
end)

describe("exits racing sends", function()
  before_each(h.before)
  after_each(h.after)

  it("many processes sending to a process while it exits crash nothing", function()
    local target = h.echo()
    local rt = mb.monitor(target)
    local senders = {}
    for i = 1, 20 do
      senders[i] = mb.spawn(function(parent, target)
        local mb = require "moonbeam"
        mb.send(parent, { "sending", mb.self() })
        for j = 1, 2000 do mb.send(target, { "noise", j, string.rep("x", 64) }) end
        mb.send(parent, { "sent", mb.self() })
      end, mb.self(), target)
    end
    for _ = 1, 20 do h.expect(h.tuple("sending"), "a sender starting") end
    mb.send(target, { "exit", "racing" })
    assert.equal("racing", h.reason(rt))
    for _ = 1, 20 do h.expect(h.tuple("sent"), "a sender finishing", 10000) end
    assert.is_true(h.ping(h.echo()), "the host keeps running")
  end)

  it("sends to a process being killed crash nothing", function()
    for _ = 1, 20 do
      local target = h.echo()
      local rt = mb.monitor(target)
      for _ = 1, 5 do
        mb.spawn(function(target)
          local mb = require "moonbeam"
          for j = 1, 500 do mb.send(target, j) end
        end, target)
      end
      mb.exit(target, "kill")
      assert.equal("killed", h.reason(rt))
    end
    assert.is_true(h.ping(h.echo()))
  end)

  it("many linked processes dying together crash nothing", function()
    local hub = h.echo()
    local refs = {}
    for i = 1, 100 do
      local p = mb.spawn(function(parent, hub)
        local mb = require "moonbeam"
        mb.link(hub)
        mb.send(parent, { "linked", hub })
        while true do mb.send(hub, "noise"); mb.sleep(1) end
      end, mb.self(), hub)
      refs[i] = mb.monitor(p)
    end
    for _ = 1, 100 do h.expect(h.tuple("linked", hub), "a partner linking") end
    mb.exit(hub, "cascade")
    for i = 1, 100 do assert.equal("cascade", h.reason(refs[i])) end
    assert.is_true(h.ping(h.echo()))
  end)

  it("a pid of a dead process never reaches a newer process", function()
    local dead = h.dead_pid()
    local fresh = {}
    for i = 1, 200 do fresh[i] = h.echo(mb.self()) end
    for i = 1, 200 do assert.are_not.equal(dead, fresh[i]) end
    assert.is_false(mb.alive(dead))
    mb.send(dead, "stale")
    assert.is_nil(mb.receive(function(m) return type(m) == "table" and m[1] == "relay" end, 100))
  end)
end)
