-- Processes: spawning them in their own Lua states, and asking about them.

local mb = require "moonbeam"
local h = require "spec.support.helpers"

describe("mb.spawn", function()
  before_each(h.before)
  after_each(h.after)

  it("runs require(module).main with the arguments for a module name", function()
    local pid = mb.spawn("spec.support.reporter", mb.self(), "a", 42, { x = { 1, 2 } })
    assert.is_true(h.is_pid(pid))
    local m = h.expect(h.tuple("main"), "the reporter's arguments")
    assert.equal(3, m[2].n)
    assert.equal("a", m[2][1])
    assert.equal(42, m[2][2])
    assert.same({ x = { 1, 2 } }, m[2][3])
  end)

  it("runs the named function for \"module:fn\"", function()
    mb.spawn("spec.support.reporter:other", mb.self(), "b")
    local m = h.expect(h.tuple("other"), "the reporter's arguments")
    assert.equal(1, m[2].n)
    assert.equal("b", m[2][1])
  end)

  it("runs an upvalue-free function with the arguments", function()
    local pid = mb.spawn(function(parent, x)
      local mb = require "moonbeam"
      mb.send(parent, { "doubled", x * 2, mb.self() })
    end, mb.self(), 21)
    local m = h.expect(h.tuple("doubled"), "the function's message")
    assert.equal(42, m[2])
    assert.equal(pid, m[3])
  end)

  it("runs the function in a fresh Lua state of its own", function()
    assert.is_function(describe)
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.send(parent, { "fresh", rawget(_G, "describe") == nil })
    end, mb.self())
    assert.is_true(h.expect(h.tuple("fresh"), "the child's report")[2])
  end)

  it("counts nil arguments, passing them in place", function()
    mb.spawn("spec.support.reporter", mb.self(), nil, 2, nil)
    local m = h.expect(h.tuple("main"), "the reporter's arguments")
    assert.equal(3, m[2].n)
    assert.is_nil(m[2][1])
    assert.equal(2, m[2][2])
    assert.is_nil(m[2][3])
  end)

  it("counts nil arguments given to a function", function()
    mb.spawn(function(parent, ...)
      local mb = require "moonbeam"
      mb.send(parent, { "count", select("#", ...) })
    end, mb.self(), nil, nil)
    local m = h.expect(h.tuple("count"), "the argument count")
    assert.equal(2, m[2])
  end)

  it("passes no arguments when given none", function()
    local pid, ref = mb.spawn_monitor(function(...)
      if select("#", ...) ~= 0 then error("got arguments") end
    end)
    assert.equal("normal", h.reason(ref))
  end)

  it("works from inside a spawned process", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.spawn(function(grandparent, via)
        local mb = require "moonbeam"
        mb.send(grandparent, { "grandchild", via, mb.self() })
      end, parent, mb.self())
    end, mb.self())
    local m = h.expect(h.tuple("grandchild"), "the grandchild's message")
    assert.is_true(h.is_pid(m[2]))
    assert.is_true(h.is_pid(m[3]))
    assert.are_not.equal(m[2], m[3])
  end)

  it("refuses a function with upvalues, saying so", function()
    local before = #mb.processes()
    local x = 1
    local err = h.error_of(mb.spawn, function() return x end)
    assert.matches("upvalue", err)
    assert.equal(before, #mb.processes())
  end)

  it("refuses a function that uses the caller's mb (an upvalue)", function()
    local err = h.error_of(mb.spawn, function() mb.send(mb.self(), 1) end)
    assert.matches("upvalue", err)
  end)

  it("refuses an argument that cannot be sent, naming where it is", function()
    local x = 1
    local err = h.error_of(mb.spawn, "spec.support.echo", { cb = function() return x end })
    assert.matches("cb", err, 1, true)
  end)

  it("refuses a target that is neither a module name nor a function", function()
    h.error_of(mb.spawn, 42)
    h.error_of(mb.spawn, nil)
    h.error_of(mb.spawn, {})
  end)

  it("ends a process whose module cannot be loaded with {\"error\", \"module 'x' not found: ...\"}", function()
    local pid, ref = mb.spawn_monitor("spec.support.no_such_module")
    assert.is_true(h.is_pid(pid))
    local reason = h.reason(ref)
    assert.is_table(reason)
    assert.equal("error", reason[1])
    assert.is_string(reason[2])
    assert.is_truthy(reason[2]:find("module 'spec.support.no_such_module' not found:", 1, true),
      "reason[2] was: " .. reason[2])
    assert.is_true(h.ping(h.echo()), "the host keeps running")
  end)

  it("returns a pid for an unloadable module; the process then ends", function()
    local pid = mb.spawn("spec.support.no_such_module")
    assert.is_true(h.is_pid(pid))
    assert.is_true(h.wait_until(function() return not mb.alive(pid) end))
  end)

  it("ends a process whose module raises while loading with an error reason", function()
    local _, ref = mb.spawn_monitor("spec.support.broken")
    local reason = h.reason(ref)
    assert.is_table(reason)
    assert.equal("error", reason[1])
    assert.matches("broken on purpose", reason[2])
  end)

  it("ends a process whose \"module:fn\" names a missing function with an error reason", function()
    local _, ref = mb.spawn_monitor("spec.support.reporter:no_such_function", mb.self())
    local reason = h.reason(ref)
    assert.is_table(reason)
    assert.equal("error", reason[1])
    assert.is_string(reason[2])
  end)
end)

describe("mb.spawn_link", function()
  before_each(h.before)
  after_each(h.after)

  it("links the new process to the caller", function()
    local pid = mb.spawn_link("spec.support.echo")
    assert.is_true(h.contains(mb.info(pid).links, mb.self()))
    assert.is_true(h.contains(mb.info(mb.self()).links, pid))
  end)

  it("delivers the child's crash to the (trapping) caller as an EXIT", function()
    local pid = mb.spawn_link(function() error("linked crash") end)
    local m = h.expect(h.tuple("EXIT", pid), "the EXIT of the linked child")
    assert.is_table(m[3])
    assert.equal("error", m[3][1])
    assert.matches("linked crash", m[3][2])
  end)
end)

describe("mb.spawn_monitor", function()
  before_each(h.before)
  after_each(h.after)

  it("returns the pid and a monitor ref that reports the exit", function()
    local pid, ref = mb.spawn_monitor(function() end)
    assert.is_true(h.is_pid(pid))
    assert.is_true(h.is_ref(ref))
    assert.same({ "DOWN", ref, "process", pid, "normal" }, h.down(ref))
  end)

  it("does not link", function()
    local pid, ref = mb.spawn_monitor("spec.support.echo")
    assert.is_false(h.contains(mb.info(pid).links, mb.self()))
  end)
end)

describe("mb.spawn_opt", function()
  before_each(h.before)
  after_each(h.after)

  it("returns only the pid without monitor = true", function()
    local function pack(...) return { n = select("#", ...), ... } end
    local results = pack(mb.spawn_opt("spec.support.echo", {}))
    assert.is_true(h.is_pid(results[1]))
    assert.is_nil(results[2])
  end)

  it("links with link = true", function()
    local pid = mb.spawn_opt("spec.support.echo", { link = true })
    assert.is_true(h.contains(mb.info(pid).links, mb.self()))
  end)

  it("monitors with monitor = true and returns the ref too", function()
    local pid, ref = mb.spawn_opt(function() end, { monitor = true })
    assert.is_true(h.is_ref(ref))
    assert.same({ "DOWN", ref, "process", pid, "normal" }, h.down(ref))
  end)

  it("registers the name given as name", function()
    local name = h.name("opt")
    local pid = mb.spawn_opt("spec.support.echo", { name = name })
    assert.equal(pid, mb.whereis(name))
    assert.equal(name, mb.info(pid).registered_name)
  end)

  it("does not start a process under a name that is taken", function()
    local name = h.name("taken")
    local a = h.echo()
    mb.register(name, a)
    local before = #mb.processes()
    local ok, pid = pcall(mb.spawn_opt, "spec.support.echo", { name = name })
    assert.is_false(ok and pid ~= nil, "spawn_opt returned a pid")
    assert.equal(a, mb.whereis(name))
    mb.sleep(20)
    assert.equal(before, #mb.processes())
  end)

  it("refuses an empty name or one with a NUL byte, starting and registering nothing", function()
    local before, names = #mb.processes(), #mb.registered()
    for _, bad in ipairs({ "", h.name("nul") .. "\0tail" }) do
      assert.equal("spawn_opt: name must be a non-empty string without NUL bytes",
        h.usage_error("spawn_opt", mb.spawn_opt, "spec.support.echo", { name = bad }))
      h.usage_error("spawn_opt", mb.spawn_opt, function() end, { name = bad, monitor = true })
    end
    assert.equal(before, #mb.processes())
    assert.equal(names, #mb.registered())
  end)

  it("refuses an option it does not know, a typo that would otherwise mean no such option, starting nothing", function()
    local before = #mb.processes()
    assert.equal("spawn_opt: unknown option 'memory_limt'",
      h.usage_error("spawn_opt", mb.spawn_opt, "spec.support.echo", { memory_limt = 1e6 }))
    h.usage_error("spawn_opt", mb.spawn_opt, "spec.support.echo", { link = true, true })
    assert.equal(before, #mb.processes())
  end)

  it("starts the process trapping exits with trap_exit = true", function()
    local pid = mb.spawn_opt("spec.support.echo", { trap_exit = true }, mb.self())
    assert.is_true(mb.info(pid).trap_exit)
    mb.exit(pid, "boom")
    local msg = h.relayed(pid)
    assert.same({ "EXIT", mb.self(), "boom" }, msg)
    assert.is_true(mb.alive(pid))
  end)

  it("passes the arguments after the options", function()
    mb.spawn_opt("spec.support.reporter", {}, mb.self(), "x", nil)
    local m = h.expect(h.tuple("main"), "the reporter's arguments")
    assert.equal(2, m[2].n)
    assert.equal("x", m[2][1])
  end)

  it("combines link, monitor and name", function()
    local name = h.name("opt")
    local pid, ref = mb.spawn_opt("spec.support.echo", { link = true, monitor = true, name = name })
    assert.equal(pid, mb.whereis(name))
    assert.is_true(h.contains(mb.info(pid).links, mb.self()))
    mb.send(pid, { "exit", "boom" })
    assert.equal("boom", h.reason(ref))
    assert.same({ "EXIT", pid, "boom" }, h.expect(h.tuple("EXIT", pid), "the EXIT"))
  end)
end)

describe("mb.self", function()
  before_each(h.before)
  after_each(h.after)

  it("returns the same pid each time, printed as <0.N.N>", function()
    local me = mb.self()
    assert.equal(me, mb.self())
    assert.matches("^<0%.%d+%.%d+>$", tostring(me))
  end)

  it("is the pid spawn returned, inside the child", function()
    local pid = mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.send(parent, { "me", mb.self() })
    end, mb.self())
    assert.equal(pid, h.expect(h.tuple("me"), "the child's self")[2])
  end)
end)

describe("mb.alive", function()
  before_each(h.before)
  after_each(h.after)

  it("is true for a running process and false once it has exited", function()
    local pid, ref = mb.spawn_monitor("spec.support.echo")
    assert.is_true(mb.alive(pid))
    mb.send(pid, "stop")
    h.down(ref)
    assert.is_false(mb.alive(pid))
  end)

  it("is true for the caller", function()
    assert.is_true(mb.alive(mb.self()))
  end)

  -- As Erlang's is_process_alive and process_info, which handle the
  -- caller's own exit signals first: both said it lived on for a while.
  it("and mb.info say a process is gone right after the caller's exit(p, \"kill\")", function()
    for _ = 1, 50 do
      local pid = mb.spawn(function() require("moonbeam").receive() end)
      mb.exit(pid, "kill")
      assert.is_false(mb.alive(pid))
      assert.is_nil(mb.info(pid))
    end
    local trapping = mb.spawn_opt(function() require("moonbeam").sleep(10000) end, { trap_exit = true })
    mb.exit(trapping, "boom")   -- trapped: a message, and it lives on
    assert.is_true(mb.alive(trapping))
    mb.exit(trapping, "kill")
    assert.is_false(mb.alive(trapping))
  end)

  -- A signal it may still be spared from (it sets trap_exit before it
  -- drains it) leaves it alive to them until then: they said gone, then
  -- alive again.
  it("and mb.info never say alive again after saying gone", function()
    local pid = mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.blocking(function() mb.send(parent, "in fn"); require("spec.support.nap")(200) end)
      mb.trap_exit(true)   -- before it drains the "boom" queued meanwhile
      mb.send(parent, "spared")
      mb.receive()
    end, mb.self())
    h.expect(function(m) return m == "in fn" end, "fn to run")
    mb.exit(pid, "boom")
    local said_gone = false
    for _ = 1, 40 do
      local alive = mb.alive(pid)
      assert.is_false(said_gone and alive, "alive again after gone")
      said_gone = said_gone or not alive
      mb.sleep(10)
    end
    mb.exit(pid, "kill")
  end)
end)

describe("the pid of a process that exited", function()
  before_each(h.before)
  after_each(h.after)

  local function slot(pid) return tonumber(tostring(pid):match("^<0%.(%d+)%.%d+>$")) end

  -- A freed slot goes to the back of the free queue, so one process
  -- restarted over and over does not cycle one slot's 23-bit serial.
  it("never answers again: its slot is reused only after every other free slot", function()
    local old, used = {}, {}
    for i = 1, 1000 do
      local pid, ref = mb.spawn_monitor("spec.support.echo", mb.self())
      local s = slot(pid)
      assert(not used[s], ("cycle %d got slot %d back while other slots were free"):format(i, s))
      used[s], old[i] = true, pid
      mb.send(pid, "stop")
      h.down(ref)
    end
    local fresh = {}
    for i = 1, 1000 do fresh[i] = h.echo(mb.self()) end
    for i = 1, 1000 do
      assert.is_false(mb.alive(old[i]))
      assert.is_true(mb.send(old[i], { "ping", mb.self(), "stale", n = 3 }))
    end
    for i = 1, 1000 do assert.is_true(mb.alive(fresh[i])) end
    assert.is_nil(mb.receive(function(m)
      return type(m) == "table" and (m[1] == "relay" or m[1] == "reply")
    end, 100), "a message to an old pid reached a newer process")
  end)
end)

describe("mb.processes", function()
  before_each(h.before)
  after_each(h.after)

  it("lists the caller and live processes, not dead ones", function()
    local live = h.echo()
    local dead = h.dead_pid()
    local all = mb.processes()
    assert.is_true(h.contains(all, mb.self()))
    assert.is_true(h.contains(all, live))
    assert.is_false(h.contains(all, dead))
  end)

  it("returns to its count after 10,000 processes are spawned and exit", function()
    local before = #mb.processes()
    local tag = mb.make_ref()
    local n = 10000
    for _ = 1, n do
      mb.spawn(function(parent, tag)
        local mb = require "moonbeam"
        mb.send(parent, { "ran", tag })
      end, mb.self(), tag)
    end
    local ran = 0
    while ran < n do
      if not mb.receive(h.tuple("ran", tag), 10000) then break end
      ran = ran + 1
    end
    assert.equal(n, ran)
    assert.is_true(h.wait_until(function() return #mb.processes() == before end, 30000),
      "process count " .. #mb.processes() .. ", was " .. before)
  end)
end)

describe("mb.processes after crashes", function()
  before_each(h.before)
  after_each(h.after)

  it("returns to its count after 1,000 processes crash, half of them inside receive", function()
    local before = #mb.processes()
    local refs = {}
    for i = 1, 1000 do
      local _, ref = mb.spawn_monitor(function(i)
        local mb = require "moonbeam"
        if i % 2 == 0 then
          mb.send(mb.self(), "poke")
          mb.receive(function() error("crash in a match function " .. i) end, 1000)
        end
        error("crash " .. i)
      end, i)
      refs[i] = ref
    end
    for i = 1, 1000 do
      local reason = h.reason(refs[i], 10000)
      assert.equal("error", reason[1])
    end
    assert.is_true(h.wait_until(function() return #mb.processes() == before end, 10000),
      "process count " .. #mb.processes() .. ", was " .. before)
  end)
end)

describe("mb.info", function()
  before_each(h.before)
  after_each(h.after)

  it("returns nil for a dead pid", function()
    assert.is_nil(mb.info(h.dead_pid()))
  end)

  it("reports the caller as running", function()
    assert.equal("running", mb.info(mb.self()).status)
  end)

  it("reports a process blocked in receive as waiting", function()
    local pid = h.echo()
    assert.is_true(h.wait_until(function() return mb.info(pid).status == "waiting" end),
      "status stayed " .. tostring(mb.info(pid).status))
  end)

  it("counts queued messages in message_queue_len and messages_in", function()
    local pid = mb.spawn(function(parent)
      local mb = require "moonbeam"
      mb.receive(function(m) return m == "go" end)
      mb.send(parent, { "went", mb.receive(0) })
    end, mb.self())
    for _, m in ipairs({ "a", "b", "c" }) do mb.send(pid, m) end
    assert.is_true(h.wait_until(function() return mb.info(pid).message_queue_len == 3 end),
      "message_queue_len " .. tostring(mb.info(pid).message_queue_len))
    assert.equal(3, mb.info(pid).messages_in)
    mb.send(pid, "go")
    assert.equal("a", h.expect(h.tuple("went"), "the child's report")[2])
  end)

  it("reports memory as a positive number of bytes", function()
    local memory = mb.info(h.echo()).memory
    assert.is_number(memory)
    assert.is_true(memory > 0)
  end)

  it("reports links, monitors and monitored_by as arrays of pids", function()
    local a, b, c = h.echo(), h.echo(), h.echo()
    assert.is_true((h.call(a, "link", b)))
    assert.is_true(h.is_ref(h.call(a, "monitor", c)))
    local info = mb.info(a)
    assert.same({ b }, info.links)
    assert.same({ c }, info.monitors)
    assert.same({ a }, mb.info(b).links)
    assert.same({ a }, mb.info(c).monitored_by)
    assert.same({}, mb.info(c).links)
  end)

  it("reports registered_name, nil without a name", function()
    local pid = h.echo()
    assert.is_nil(mb.info(pid).registered_name)
    local name = h.name("info")
    assert.is_true(mb.register(name, pid))
    assert.equal(name, mb.info(pid).registered_name)
  end)

  it("reports trap_exit", function()
    local pid = h.echo()
    assert.is_false(mb.info(pid).trap_exit)
    h.call(pid, "trap", true)
    assert.is_true(mb.info(pid).trap_exit)
  end)

  it("reports the module a process was spawned from", function()
    assert.equal("spec.support.echo", mb.info(h.echo()).module)
    local pid = mb.spawn("spec.support.echo:loop")
    assert.matches("^spec%.support%.echo", mb.info(pid).module)
  end)
end)

describe("the process API a process has not used yet", function()
  before_each(h.before)
  after_each(h.after)

  local REST = { "whereis", "monitor", "exit", "send_after", "send_interval", "spawn_link", "spawn_monitor",
                 "spawn_opt", "sleep", "reload", "connect", "blocking" }

  -- What fn (upvalue-free, run in a fresh process) sends back.
  local function in_process(fn)
    mb.spawn(function(parent, f)
      local mb = require "moonbeam"
      mb.send(parent, { "got", f() })
    end, mb.self(), fn)
    return h.expect(h.tuple("got"), "the process's answer")[2]
  end

  it("is not loaded by a process that only spawns, sends and receives", function()
    local got = in_process(function()
      local mb = require "moonbeam"
      mb.send(mb.self(), "x")
      assert(mb.receive() == "x")
      return { loaded = package.loaded["moonbeam.api_rest"] ~= nil, sleep = rawget(mb, "sleep") ~= nil }
    end)
    assert.same({ loaded = false, sleep = false }, got)
  end)

  it("has every one of its functions at the first look-up of any", function()
    local got = in_process(function()
      local mb = require "moonbeam"
      local names = { "whereis", "monitor", "exit", "send_after", "send_interval", "spawn_link", "spawn_monitor",
                      "spawn_opt", "sleep", "reload", "connect", "blocking" }
      local kinds = {}
      for i, name in ipairs(names) do kinds[i] = type(mb[name]) end
      mb.sleep(1)
      return kinds
    end)
    for i = 1, #REST do assert.equal("function", got[i], REST[i]) end
    for _, name in ipairs(REST) do assert.is_function(mb[name], name) end
  end)

  it("leaves a function the program put under one of its names", function()
    local got = in_process(function()
      local mb = require "moonbeam"
      local mine = function() return "mine" end
      mb.exit = mine
      local before = rawget(mb, "sleep")
      mb.sleep(0)   -- puts the rest in the table
      return { before == nil, mb.exit == mine, mb.exit() }
    end)
    assert.same({ true, true, "mine" }, got)
  end)

  it("is there after a look-up of a name nothing has", function()
    local got = in_process(function()
      local mb = require "moonbeam"
      local none = mb.no_such_function
      return { none == nil, type(mb.whereis), type(mb.spawn_monitor), type(mb.tuple) }
    end)
    assert.same({ true, "function", "function", "function" }, got)
  end)

  it("works as before once loaded: spawn_link, exit with a name, sleep", function()
    local got = in_process(function()
      local mb = require "moonbeam"
      mb.trap_exit(true)
      local child = mb.spawn_link(function() require("moonbeam").receive() end)
      assert(mb.register("api_rest_child", child))
      mb.exit("api_rest_child", "bye")
      local m = mb.receive(function(m) return type(m) == "table" and m[1] == "EXIT" end, 2000)
      local t0 = mb.now()
      mb.sleep(20)
      return { m and m[3], mb.now() - t0 >= 19 }
    end)
    assert.same({ "bye", true }, got)
  end)
end)
