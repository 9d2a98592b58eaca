-- Misuse errors: docs/semantics.md ("Errors"). A call given arguments of
-- the wrong kind raises a message that reads "<call>: <what is wrong>":
-- no "bad argument #N to '?'", no position inside moonbeam, no "[string
-- ...]". Checked in this process and, the same way, inside a spawned one
-- (whose moonbeam modules are the core's embedded bytecode).

local mb = require "moonbeam"
local h = require "spec.support.helpers"

-- A misuse: call's name, fn and its arguments (nils kept).
local function use(call, fn, ...) return { call = call, fn = fn, n = select("#", ...), ... } end

-- Each must raise a "<call>: " message.
local function misuses()
  local ref = select(2, mb.spawn_monitor(function() end))
  return {
    use("send", mb.send, mb.self(), nil),
    use("send", mb.send, 42, "x"),
    use("send", mb.send, "no such name", "x"),
    use("link", mb.link, "x"),
    use("unlink", mb.unlink, {}),
    use("monitor", mb.monitor, 5),
    use("demonitor", mb.demonitor, 5),
    use("demonitor", mb.demonitor, mb.self()),
    use("alive", mb.alive, "x"),
    use("info", mb.info, ref),
    use("exit", mb.exit, mb.self(), nil),
    use("cancel_timer", mb.cancel_timer, "x"),
    use("trap_exit", mb.trap_exit, "yes"),
    use("spawn", mb.spawn, 42),
    use("spawn", mb.spawn, print),
    use("spawn", mb.spawn, function() return misuses end),
    use("spawn_opt", mb.spawn_opt, function() end, 42),
    use("register", mb.register, "a name", "not a pid"),
    use("receive", mb.receive, -5),
    use("receive", mb.receive, "soon"),
  }
end

describe("a call given the wrong kind of argument", function()
  before_each(h.before)
  after_each(h.after)

  it("raises \"<call>: <what is wrong>\", naming what it got", function()
    for _, m in ipairs(misuses()) do h.usage_error(m.call, m.fn, unpack(m, 1, m.n)) end
    assert.matches("^link: a pid expected, got string$", h.usage_error("link", mb.link, "x"))
    assert.matches("^info: a pid expected, got a ref$", h.usage_error("info", mb.info, select(2, mb.spawn_monitor(function() end))))
    assert.matches("^monitor: a pid or a name expected, got number$", h.usage_error("monitor", mb.monitor, 5))
  end)

  it("reads the same inside a spawned process", function()
    local pid = mb.spawn(function(parent)
      local mb = require "moonbeam"
      local out = {}
      for _, f in ipairs { function() mb.send(mb.self(), nil) end, function() mb.link("x") end,
                           function() mb.trap_exit(1) end, function() mb.cancel_timer({}) end } do
        local _, err = pcall(f)
        out[#out + 1] = tostring(err)
      end
      mb.send(parent, { "errors", out })
    end, mb.self())
    local m = h.expect(h.tuple("errors"), "the errors")
    assert.same({ "send: a message cannot be nil", "link: a pid expected, got string",
                  "trap_exit: flag must be a boolean, got number", "cancel_timer: a ref expected, got table" }, m[2])
    assert.is_true(h.is_pid(pid))
  end)
end)

describe("a supervisor call given something that is no supervisor", function()
  before_each(h.before)
  after_each(h.after)

  it("names the supervisor's call, not the gen_server call under it", function()
    local sup = require "moonbeam.supervisor"
    h.usage_error("supervisor.which_children", sup.which_children, 42)
    h.usage_error("supervisor.start_child", sup.start_child, {}, { id = "x", module = "m" })
    h.usage_error("supervisor.stop", sup.stop, true)
  end)
end)

describe("a gen_server call given the wrong kind of argument", function()
  local gen = require "moonbeam.gen_server"
  before_each(h.before)
  after_each(h.after)

  it("names the call the user made, never the sys tools' chunk or the core's spawn_opt and reply", function()
    for _, fn in ipairs { "get_state", "suspend", "resume", "get_status", "trace" } do
      h.usage_error("gen_server." .. fn, gen[fn], 42, true)
    end
    h.usage_error("gen_server.replace_state", gen.replace_state, 42, function(s) return s end)
    assert.matches("^gen_server.start: max_queue must be",
      h.usage_error("gen_server.start", gen.start, "spec.support.counter", 0, { max_queue = 0 }))
    h.usage_error("gen_server.start_link", gen.start_link, "spec.support.counter", 0, { on_full = "never" })
    h.usage_error("gen_server.start", gen.start, "spec.support.counter", 0, { trap_exit = "yes" })
    local pid = assert(gen.start("spec.support.counter", 0))
    local from = { mb.self(), mb.make_ref() }
    h.usage_error("gen_server.reply", gen.reply, { pid, "not a ref" }, 1)
    local upvalue = pid
    assert.matches("^gen_server.reply: value: ",
      h.usage_error("gen_server.reply", gen.reply, from, function() return upvalue end))
    assert.is_true(gen.stop(pid))
  end)

  it("receive with a timeout and a match that is no function raises rather than ignoring one of them", function()
    assert.equal("receive: match must be a function, got number", h.usage_error("receive", mb.receive, 5, 5))
    h.usage_error("receive", mb.receive, {}, 0)
  end)
end)

-- Error tables: docs/reference.md ("Conventions"). What happens to a call
-- is raised as {"tag", ...}, and the table prints as words.
describe("an error table", function()
  local gen_server = require "moonbeam.gen_server"
  local task = require "moonbeam.task"
  local agent = require "moonbeam.agent"
  local sup = require "moonbeam.supervisor"
  before_each(h.before)
  after_each(h.after)

  local function slow_server()
    return assert(gen_server.start({
      init = function() return "ok", 0 end,
      handle_call = function(_, _, s) require("moonbeam").sleep(200) return "reply", 1, s end,
    }))
  end

  it("prints its tag and the call that failed", function()
    local ok, err = pcall(gen_server.call, "nope", "x")
    assert.is_false(ok)
    assert.same({ "noproc" }, err)
    assert.equal('noproc: gen_server.call("nope", "x")', tostring(err))
    assert.equal('false\tnoproc: gen_server.call("nope", "x")', table.concat({ tostring(ok), tostring(err) }, "\t"))
  end)

  it("shows the arguments as given, and what follows the tag", function()
    local s = slow_server()
    local _, err = pcall(gen_server.call, s, { a = 1 }, 20)
    assert.same({ "timeout" }, err)
    assert.equal(("timeout: gen_server.call(%s, {a = 1}, 20)"):format(tostring(s)), tostring(err))
    local _, down = pcall(gen_server.stop, "nope")
    assert.equal('noproc: gen_server.stop("nope")', tostring(down))
    local t = task.async(function() require("moonbeam").exit("stopped") end)
    mb.unlink(t.pid)
    local _, exited = pcall(task.await, t, 1000)
    assert.same({ "exit", "stopped" }, exited)
    assert.equal(("exit: task.await(%s, 1000): stopped"):format(tostring(t.pid)), tostring(exited))
  end)

  it("is returned the same way by try_call", function()
    local v, err = gen_server.try_call("nope", 1)
    assert.is_nil(v)
    assert.equal("noproc: gen_server.try_call(\"nope\", 1)", tostring(err))
  end)

  it("names the agent's and the supervisor's call, not the gen_server call under it", function()
    local _, err = pcall(agent.get, "no_agent", function(s) return s end)
    assert.equal('noproc: agent.get("no_agent", <function>)', tostring(err))
    local _, serr = pcall(sup.which_children, "no_sup")
    assert.equal('noproc: supervisor.which_children("no_sup")', tostring(serr))
  end)

  it("can be sent, and arrives as its plain contents", function()
    local _, err = pcall(gen_server.call, "nope", "x")
    mb.send(mb.self(), { "caught", err })
    local m = h.expect(h.tuple("caught"), "the error table back")
    assert.same({ "noproc" }, m[2])
  end)

  it("crashes a process that does not catch it with the table as its reason", function()
    local pid, ref = mb.spawn_monitor(function()
      require("moonbeam.gen_server").call("nope", "x")
    end)
    local down = h.expect(function(m) return type(m) == "table" and m[1] == "DOWN" and m[2] == ref end, "DOWN")
    assert.equal(pid, down[4])
    assert.equal("error", down[5][1])
    assert.same({ "noproc" }, down[5][2])
  end)
end)

-- A value that cannot be sent: docs/semantics.md ("Errors"). The message
-- names the call the user made, then the value's path from the argument
-- the user gave, never from an envelope moonbeam built around it.
describe("a value that cannot be sent", function()
  local gen = require "moonbeam.gen_server"
  before_each(h.before)
  after_each(h.after)

  local up = 1
  local function f() return up end
  local FN = "cannot send a function with upvalues"

  local function counter() return assert(gen.start("spec.support.counter", 0)) end

  it("is named after send, send_after, send_interval and exit", function()
    local s = counter()
    assert.equal("send: msg: " .. FN, h.usage_error("send", mb.send, s, f))
    assert.equal("send: msg.f: " .. FN, h.usage_error("send", mb.send, s, { f = f }))
    assert.equal("send_after: msg: " .. FN, h.usage_error("send_after", mb.send_after, 10, s, f))
    assert.equal("send_after: msg.f: " .. FN, h.usage_error("send_after", mb.send_after, 10, s, { f = f }))
    assert.equal("send_interval: msg: " .. FN, h.usage_error("send_interval", mb.send_interval, 10, s, f))
    assert.equal("exit: reason.f: " .. FN, h.usage_error("exit", mb.exit, s, { f = f }))
    assert.equal(1, gen.call(s, "increment"))
  end)

  -- Past 100 levels the path is cut in its middle: its head, which says
  -- which argument it was, stays (it read "req...[1][1]" and "msg...").
  it("nested too deep is named after the call and its argument all the same", function()
    local deep, t = {}, nil
    t = deep
    for _ = 1, 150 do t[1] = {}; t = t[1] end
    local TOO_DEEP = "...%[1%].*: cannot send tables nested deeper than 100 levels$"
    local sup = require "moonbeam.supervisor"
    local agent = require "moonbeam.agent"
    local S = assert(sup.start_link({}))
    local A = assert(agent.start(function() return 1 end))
    local s = counter()
    assert.matches("^supervisor.start_child: arg%[1%]" .. TOO_DEEP, h.usage_error("supervisor.start_child", sup.start_child, S, deep))
    assert.matches("^gen_server.stop: reason" .. TOO_DEEP, h.usage_error("gen_server.stop", gen.stop, s, deep))
    assert.matches("^agent.get: argument #3" .. TOO_DEEP,
      h.usage_error("agent.get", agent.get, A, function(st) return st end, deep))
    assert.matches("^send: msg.a%[1%]" .. TOO_DEEP, h.usage_error("send", mb.send, s, { a = deep }))
    assert.equal(1, gen.call(s, "increment"))
  end)

  it("is named after the gen_server call, from its own argument", function()
    local s = counter()
    assert.equal("gen_server.cast: msg: " .. FN, h.usage_error("gen_server.cast", gen.cast, s, f))
    assert.equal("gen_server.cast: msg.f: " .. FN, h.usage_error("gen_server.cast", gen.cast, s, { f = f }))
    assert.equal("gen_server.call: req: " .. FN, h.usage_error("gen_server.call", gen.call, s, f))
    assert.equal("gen_server.call: req: cannot send a coroutine",
      h.usage_error("gen_server.call", gen.call, s, coroutine.create(print)))
    assert.equal("gen_server.try_call: req.f: " .. FN, h.usage_error("gen_server.try_call", gen.try_call, s, { f = f }))
    assert.equal("gen_server.stop: reason: " .. FN, h.usage_error("gen_server.stop", gen.stop, s, f))
    assert.equal(1, gen.call(s, "increment"))
  end)

  it("raises at the line of the call, as a bad timeout does", function()
    local s = counter()
    local line = debug.getinfo(1, "l").currentline
    local _, err = pcall(function() gen.call(s, f) end)
    assert.equal(("errors_spec.lua:%d: gen_server.call: req: %s"):format(line + 1, FN), err:match("[^/]*$"))
  end)

  it("is named after the spawn call, and counted among that call's own arguments", function()
    assert.equal("spawn: argument #2: " .. FN, h.usage_error("spawn", mb.spawn, "spec.support.echo", f))
    assert.equal("spawn_link: argument #3.x: " .. FN,
      h.usage_error("spawn_link", mb.spawn_link, "spec.support.echo", 1, { x = f }))
    assert.equal("spawn_monitor: argument #2: " .. FN, h.usage_error("spawn_monitor", mb.spawn_monitor, "spec.support.echo", f))
    assert.equal("spawn_opt: argument #3: " .. FN, h.usage_error("spawn_opt", mb.spawn_opt, "spec.support.echo", {}, f))
    assert.equal("spawn_opt: argument #4: " .. FN,
      h.usage_error("spawn_opt", mb.spawn_opt, function() end, {}, 1, f))
    assert.equal("gen_server.start: argument #2.x: " .. FN,
      h.usage_error("gen_server.start", gen.start, "spec.support.counter", { x = f }))
  end)

  it("a spawn variant names itself for a bad target too", function()
    h.usage_error("spawn_link", mb.spawn_link, 42)
    h.usage_error("spawn_monitor", mb.spawn_monitor, f)
    h.usage_error("spawn_opt", mb.spawn_opt, print, {})
  end)
end)

-- A name is a non-empty string without NUL bytes (docs/reference.md,
-- "Timeouts, counts and names"): anything else raises as register's
-- check does, named after the call.
describe("a name that is not one", function()
  local gen = require "moonbeam.gen_server"
  before_each(h.before)
  after_each(h.after)

  local BAD = "name must be a non-empty string without NUL bytes"

  it("raises in send, exit, monitor and send_after", function()
    for _, name in ipairs({ "", "a\0b" }) do
      assert.equal("send: " .. BAD, h.usage_error("send", mb.send, name, "x"))
      assert.equal("exit: " .. BAD, h.usage_error("exit", mb.exit, name, "x"))
      assert.equal("monitor: " .. BAD, h.usage_error("monitor", mb.monitor, name))
      assert.equal("send_after: " .. BAD, h.usage_error("send_after", mb.send_after, 10, name, "x"))
      assert.equal("register: " .. BAD, h.usage_error("register", mb.register, name, mb.self()))
    end
    assert.same({}, h.drain())   -- no DOWN noproc for a monitor refused
  end)

  it("raises in the gen_server calls under their own names", function()
    for _, name in ipairs({ "", "b\0x", { "", mb.node() }, { "b\0x", mb.node() } }) do
      assert.equal("gen_server.cast: " .. BAD, h.usage_error("gen_server.cast", gen.cast, name, "m"))
      assert.equal("gen_server.call: " .. BAD, h.usage_error("gen_server.call", gen.call, name, "m"))
      assert.equal("gen_server.stop: " .. BAD, h.usage_error("gen_server.stop", gen.stop, name))
    end
    assert.is_true(gen.cast("no such name", "m"))   -- an unknown name is no misuse
  end)
end)

describe("a string with a NUL byte, or empty, where a name is expected", function()
  before_each(h.before)
  after_each(h.after)

  it("is refused, never read cut at the NUL", function()
    local gen = require "moonbeam.gen_server"
    local task = require "moonbeam.task"
    local log = require "moonbeam.logger"
    local net = require "moonbeam.net"
    assert.matches("got a string with a NUL byte$",
      h.usage_error("gen_server.start", gen.start, "spec.support.counter\0x", 0))
    assert.matches("got an empty string$", h.usage_error("gen_server.start", gen.start, "", 0))
    h.usage_error("task.async", task.async, "")
    h.usage_error("task.start", task.start, "spec.support.task_fns:double\0x", 1)
    h.usage_error("logger.set_level", log.set_level, "debug", "app\0x")
    assert.matches("without NUL bytes", h.usage_error("net.connect", net.connect, "127.0.0.1\0x", 1, nil, 100))
    assert.matches("without NUL bytes", h.usage_error("net.listen", net.listen, 0, { host = "127.0.0.1\0x" }))
  end)

  it("false where an option's word is expected is refused, not the default", function()
    local tab = require "moonbeam.table"
    local registry = require "moonbeam.registry"
    h.usage_error("tab.new", tab.new, { type = false })
    h.usage_error("tab.new", tab.new, { access = false })
    h.usage_error("registry.start_link", registry.start_link, { name = h.name("r"), keys = "unique", partitions = false })
  end)
end)

describe("an agent call", function()
  before_each(h.before)
  after_each(h.after)

  it("names itself in the errors of the gen_server call under it", function()
    local agent = require "moonbeam.agent"
    local deep = {}
    for _ = 1, 200 do deep = { deep } end
    h.usage_error("agent.get", agent.get, "", function(s) return s end)
    h.usage_error("agent.cast", agent.cast, "a\0b", function(s) return s end)
    local a = assert(agent.start(function() return 0 end))
    h.usage_error("agent.update", agent.update, a, function(s) return s end, deep)
    agent.stop(a)
  end)
end)
