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
