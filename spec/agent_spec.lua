-- moonbeam.agent: docs/reference.md ("agent").
--
-- An agent is a gen_server around one value; every fn runs inside the
-- agent's own Lua state, so each fn here is upvalue-free (it may use
-- globals and require). The busted process traps exits (helpers.before), so
-- an agent linked to it that stops abnormally leaves an EXIT, never a crash.

local mb = require "moonbeam"
local agent = require "moonbeam.agent"
local h = require "spec.support.helpers"

local function raised(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error, the call returned " .. h.text(err))
  return err
end

local function pack(...) return { n = select("#", ...), ... } end

local function state_of(a)
  return agent.get(a, function(s) return s end)
end

-- An fn for get that holds the agent until it is sent "go" (or 5 s pass).
local function held(s)
  require("moonbeam").receive(function(m) return m == "go" end, 5000)
  return s
end

describe("agent.start_link", function()
  before_each(h.before)
  after_each(h.after)

  it("returns a pid; the state is fn()", function()
    local a = agent.start_link(function() return { count = 0, tags = { "x", "y" } } end)
    assert.is_true(h.is_pid(a))
    assert.is_true(mb.alive(a))
    assert.same({ count = 0, tags = { "x", "y" } }, state_of(a))
  end)

  it("runs fn inside the agent's process", function()
    local a = agent.start_link(function() return require("moonbeam").self() end)
    assert.equal(a, state_of(a))
  end)

  it("links the agent to the caller", function()
    local a = agent.start_link(function() return 0 end)
    assert.is_true(h.contains(mb.info(mb.self()).links, a))
    assert.is_true(h.contains(mb.info(a).links, mb.self()))
  end)

  it("allows a nil state", function()
    local a = agent.start_link(function() return nil end)
    assert.is_true(h.is_pid(a))
    assert.is_nil(state_of(a))
  end)

  it("takes fn's first result as the state: none is nil, more are dropped", function()
    local a = agent.start_link(function() end)
    assert.is_true(h.is_pid(a))
    assert.is_nil(state_of(a))
    local b = agent.start_link(function() return 1, 10, "hibernate" end)
    assert.is_true(h.is_pid(b))
    assert.equal(1, state_of(b))
  end)

  it("returns nil, {\"error\", ...} when fn raises, leaving no process or EXIT behind", function()
    local before = #mb.processes()
    local pid, reason = agent.start_link(function() error("cannot start the agent") end)
    assert.is_nil(pid)
    assert.is_table(reason)
    assert.equal("error", reason[1])
    assert.matches("cannot start the agent", reason[2])
    assert.is_true(h.wait_until(function() return #mb.processes() <= before end))
    mb.sleep(20)
    assert.same({}, h.drain())
  end)

  it("kills a non-trapping caller with the reason when fn raises", function()
    local _, ref = mb.spawn_monitor(function()
      local agent = require "moonbeam.agent"
      agent.start_link(function() error("init boom") end)
      require("moonbeam").exit("caller_survived")
    end)
    local reason = h.reason(ref)
    assert.is_table(reason)
    assert.equal("error", reason[1])
    assert.matches("init boom", reason[2])
  end)

  it("registers opts.name; calls work through the name", function()
    local name = h.name("agent")
    local a = agent.start_link(function() return 5 end, { name = name })
    assert.is_true(h.is_pid(a))
    assert.equal(a, mb.whereis(name))
    assert.equal(5, agent.get(name, function(s) return s end))
    assert.is_true(agent.update(name, function(s) return s + 1 end))
    assert.equal(6, state_of(a))
  end)

  it("takes a via name; every call works through it", function()
    local reg = h.name("reg")
    assert(require("moonbeam.registry").start_link({ name = reg, keys = "unique" }))
    local via = { "via", reg, "agent" }
    local a = agent.start_link(function() return 5 end, { name = via })
    assert.is_true(h.is_pid(a))
    assert.equal(a, mb.whereis(via))
    assert.equal(5, agent.get(via, function(s) return s end))
    assert.is_true(agent.update(via, function(s) return s + 1 end))
    assert.equal(6, agent.get_and_update(via, function(s) return s, s * 2 end))
    assert.is_true(agent.cast(via, function(s) return s + 1 end))
    assert.equal(13, state_of(a))
    assert.is_true(agent.stop(via))
    assert.equal("agent.get: agent must be a pid, a registered name or a via name, got table",
                 h.usage_error("agent.get", agent.get, { "not", "a", "name" }, function(s) return s end))
  end)

  it("returns nil, {\"already_started\", pid} when the name is taken", function()
    local name = h.name("agent")
    local a = agent.start_link(function() return 1 end, { name = name })
    local before = #mb.processes()
    local pid, reason = agent.start_link(function() return 2 end, { name = name })
    assert.is_nil(pid)
    assert.same({ "already_started", a }, reason)
    assert.equal(1, state_of(a))
    assert.equal(a, mb.whereis(name))
    assert.is_true(h.wait_until(function() return #mb.processes() <= before end))
  end)

  it("returns nil, {\"already_started\", pid} when another process holds the name", function()
    local name = h.name("agent")
    local other = h.echo()
    mb.register(name, other)
    local pid, reason = agent.start_link(function() return 2 end, { name = name })
    assert.is_nil(pid)
    assert.same({ "already_started", other }, reason)
  end)

  it("raises for a fn with upvalues, saying so", function()
    local initial = 10
    local msg = h.error_of(agent.start_link, function() return initial end)
    assert.matches("upvalue", msg)
  end)

  it("raises for a fn that is not a function", function()
    h.error_of(agent.start_link, 42)
    h.error_of(agent.start_link, nil)
    h.error_of(agent.start_link, "spec.support.echo")
  end)

  it("names its own call, not gen_server's, for bad options, and stop and cast for a bad agent", function()
    local init = function() return 0 end
    h.usage_error("agent.start", agent.start, init, { max_queue = 0 })
    h.usage_error("agent.start_link", agent.start_link, init, { name = "" })
    h.usage_error("agent.start", agent.start, init, 5)
    h.usage_error("agent.stop", agent.stop, 42)
    h.usage_error("agent.cast", agent.cast, 42, init)
    local _, err = pcall(agent.stop, "no such agent")
    assert.equal('noproc: agent.stop("no such agent")', tostring(err))
  end)
end)

describe("agent.get", function()
  before_each(h.before)
  after_each(h.after)

  it("returns fn(state) and leaves the state alone", function()
    local a = agent.start_link(function() return { 1, 2, 3 } end)
    assert.equal(3, agent.get(a, function(s) return #s end))
    assert.equal(6, agent.get(a, function(s) return s[1] + s[2] + s[3] end))
    assert.same({ 1, 2, 3 }, state_of(a))
  end)

  it("may return nil", function()
    local a = agent.start_link(function() return {} end)
    assert.is_nil(agent.get(a, function(s) return s.missing end))
  end)

  it("runs fn inside the agent", function()
    local a = agent.start_link(function() return 0 end)
    assert.equal(a, agent.get(a, function() return require("moonbeam").self() end))
  end)

  it("works from any process", function()
    local a = agent.start_link(function() return "shared" end)
    local _, ref = mb.spawn_monitor(function(a)
      local agent = require "moonbeam.agent"
      require("moonbeam").exit({ "got", agent.get(a, function(s) return s .. "!" end) })
    end, a)
    assert.same({ "got", "shared!" }, h.reason(ref))
  end)

  it("raises {\"timeout\"} for a slow fn with timeout 50", function()
    local a = agent.start_link(function() return 0 end)
    local t0 = h.now_ms()
    local err = raised(agent.get, a, held, 50)
    local elapsed = h.now_ms() - t0
    assert.same({ "timeout" }, err)
    assert.is_true(elapsed >= 40 and elapsed < 2000, "timed out after " .. elapsed .. " ms")
    -- The late reply is dropped, never delivered: the agent answers in
    -- order, so it was sent before the answer to state_of.
    mb.send(a, "go")
    assert.equal(0, state_of(a))
    assert.same({}, h.drain())
  end)

  it("has a default timeout of 5000 ms: gen_server's DEFAULT_TIMEOUT, read at each call", function()
    local gen = require "moonbeam.gen_server"
    assert.equal(5000, gen.DEFAULT_TIMEOUT)
    local a = agent.start_link(function() return 0 end)
    local t0 = h.now_ms()
    local err = h.with_default_timeout(gen, 100, raised, agent.get, a, held)
    local elapsed = h.now_ms() - t0
    assert.same({ "timeout" }, err)
    assert.is_true(elapsed >= 90, "default timeout fired after " .. elapsed .. " ms")
    assert.is_true(elapsed < 2000, "default timeout fired after " .. elapsed .. " ms")
  end)

  it("raises {\"exit\", reason} when fn raises (the agent crashes)", function()
    local a = agent.start_link(function() return 0 end)
    local ref = mb.monitor(a)
    local err = raised(agent.get, a, function() error("get went wrong") end)
    assert.equal("exit", err[1])
    assert.equal("error", err[2][1])
    assert.matches("get went wrong", err[2][2])
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
  end)

  it("raises {\"noproc\"} for a dead agent or an unknown name", function()
    local a = agent.start_link(function() return 0 end)
    assert.is_true(agent.stop(a))
    assert.same({ "noproc" }, raised(agent.get, a, function(s) return s end))
    assert.same({ "noproc" }, raised(agent.get, h.name("none"), function(s) return s end))
  end)

  it("raises for a fn with upvalues, saying so", function()
    local a = agent.start_link(function() return 0 end)
    local field = "x"
    assert.matches("upvalue", h.error_of(agent.get, a, function(s) return s[field] end))
    assert.equal(0, state_of(a))
  end)

  it("raises for an extra argument that cannot be sent, naming it among the call's own", function()
    local a = agent.start_link(function() return 0 end)
    local up = 1
    local f = function() return up end
    assert.equal("agent.get: argument #3: cannot send a function with upvalues",
                 h.usage_error("agent.get", agent.get, a, function(s) return s end, f))
    assert.equal("agent.update: argument #4.g: cannot send a function with upvalues",
                 h.usage_error("agent.update", agent.update, a, function(s) return s end, 1, { g = f }))
    assert.equal("agent.cast: argument #3: cannot send a function with upvalues",
                 h.usage_error("agent.cast", agent.cast, a, function(s) return s end, f))
    assert.equal(0, state_of(a))
  end)

  -- Its fn is the start's init argument, gen_server.start's #2: named as fn.
  it("names its fn when the start cannot send it (past max_message_size)", function()
    local limit = mb.max_message_size()
    mb.max_message_size(64)
    local ok, err = pcall(agent.start, function() return ("x"):rep(100) .. "a constant that makes it large" end)
    mb.max_message_size(limit)
    assert.is_false(ok)
    assert.equal("agent.start: fn: message larger than the limit of 64 bytes", err)
  end)
end)

describe("agent.update", function()
  before_each(h.before)
  after_each(h.after)

  it("returns true and sets the state to fn(state)", function()
    local a = agent.start_link(function() return 1 end)
    assert.is_true(agent.update(a, function(s) return s + 41 end))
    assert.equal(42, state_of(a))
  end)

  it("applies updates in order", function()
    local a = agent.start_link(function() return {} end)
    for _ = 1, 20 do
      assert.is_true(agent.update(a, function(s) s[#s + 1] = #s + 1 return s end))
    end
    local s = state_of(a)
    assert.equal(20, #s)
    for i = 1, 20 do assert.equal(i, s[i]) end
  end)

  it("can set the state to nil", function()
    local a = agent.start_link(function() return 1 end)
    assert.is_true(agent.update(a, function() return nil end))
    assert.is_nil(state_of(a))
  end)

  it("takes fn's first result as the state: none is nil, more are dropped (no timeout, no hibernate)", function()
    local a = agent.start_link(function() return 1 end)
    assert.is_true(agent.update(a, function() end))
    assert.is_nil(state_of(a))
    assert.is_true(agent.update(a, function() return 2, 10 end))
    mb.sleep(30)   -- a 10 taken as the agent's timeout would have come as a message by now
    assert.equal(2, state_of(a))
    assert.is_true(agent.update(a, function() return 3, "x" end))
    assert.equal(3, state_of(a))
    assert.is_nil(mb.receive(0))
  end)

  it("serializes updates from many processes", function()
    local a = agent.start_link(function() return 0 end)
    local refs = {}
    for i = 1, 10 do
      local _, ref = mb.spawn_monitor(function(a)
        local agent = require "moonbeam.agent"
        for _ = 1, 10 do agent.update(a, function(s) return s + 1 end) end
      end, a)
      refs[i] = ref
    end
    for i = 1, 10 do assert.equal("normal", h.reason(refs[i])) end
    assert.equal(100, state_of(a))
  end)

  it("raises {\"timeout\"} for a slow fn with timeout 50", function()
    local a = agent.start_link(function() return 0 end)
    local err = raised(agent.update, a, function(s) require("moonbeam").sleep(500) return s + 1 end, 50)
    assert.same({ "timeout" }, err)
  end)

  it("raises {\"exit\", reason} when fn raises", function()
    local a = agent.start_link(function() return 0 end)
    local err = raised(agent.update, a, function() error("update went wrong") end)
    assert.equal("exit", err[1])
    assert.matches("update went wrong", h.text(err[2]))
    assert.is_true(h.wait_until(function() return not mb.alive(a) end))
  end)

  it("raises for a fn with upvalues, saying so", function()
    local a = agent.start_link(function() return 0 end)
    local inc = 1
    assert.matches("upvalue", h.error_of(agent.update, a, function(s) return s + inc end))
    assert.equal(0, state_of(a))
  end)
end)

describe("agent.get_and_update", function()
  before_each(h.before)
  after_each(h.after)

  it("returns the reply and sets the state to the new state", function()
    local a = agent.start_link(function() return 10 end)
    assert.equal("was 10", agent.get_and_update(a, function(s) return "was " .. s, s * 2 end))
    assert.equal(20, state_of(a))
  end)

  it("accepts a nil reply or a nil new state (still two values)", function()
    local a = agent.start_link(function() return 1 end)
    assert.is_nil(agent.get_and_update(a, function(s) return nil, s + 1 end))
    assert.equal(2, state_of(a))
    assert.equal(2, agent.get_and_update(a, function(s) return s, nil end))
    assert.is_nil(state_of(a))
    assert.is_true(mb.alive(a))
  end)

  it("works as a queue's pop", function()
    local a = agent.start_link(function() return { "a", "b", "c" } end)
    local function pop()
      return agent.get_and_update(a, function(s) return table.remove(s, 1), s end)
    end
    assert.equal("a", pop())
    assert.equal("b", pop())
    assert.same({ "c" }, state_of(a))
  end)

  local function bad_return(fn, check_value, value)
    local a = agent.start_link(function() return 0 end)
    local ref = mb.monitor(a)
    local err = raised(agent.get_and_update, a, fn)
    assert.equal("exit", err[1])
    assert.is_table(err[2])
    assert.equal("bad_return_value", err[2][1])
    if check_value then assert.same(value, err[2][2]) end
    local reason = h.reason(ref)
    assert.equal("bad_return_value", reason[1])
    if check_value then assert.same(value, reason[2]) end
    assert.is_false(mb.alive(a))
  end

  it("stops the agent with {\"bad_return_value\", x} when fn returns one value", function()
    bad_return(function() return 42 end, true, 42)
  end)

  it("stops the agent with {\"bad_return_value\", ...} when fn returns three values", function()
    bad_return(function(s) return "r", s, "extra" end)
  end)

  it("stops the agent with {\"bad_return_value\", ...} when fn returns nothing", function()
    bad_return(function() end)
  end)

  it("raises {\"exit\", reason} when fn raises", function()
    local a = agent.start_link(function() return 0 end)
    local err = raised(agent.get_and_update, a, function() error("gau went wrong") end)
    assert.equal("exit", err[1])
    assert.matches("gau went wrong", h.text(err[2]))
  end)

  it("raises {\"timeout\"} for a slow fn with timeout 50", function()
    local a = agent.start_link(function() return 0 end)
    local err = raised(agent.get_and_update, a,
      function(s) require("moonbeam").sleep(500) return s, s end, 50)
    assert.same({ "timeout" }, err)
  end)

  it("raises for a fn with upvalues, saying so", function()
    local a = agent.start_link(function() return 0 end)
    local new = 5
    assert.matches("upvalue", h.error_of(agent.get_and_update, a, function(s) return s, new end))
    assert.equal(0, state_of(a))
  end)
end)

describe("agent.cast", function()
  before_each(h.before)
  after_each(h.after)

  it("returns true and sets the state to fn(state), asynchronously", function()
    local a = agent.start_link(function() return 1 end)
    assert.is_true(agent.cast(a, function(s) return s + 1 end))
    -- a later call from the same process sees it (messages from one sender stay in order)
    assert.equal(2, state_of(a))
  end)

  it("takes fn's first result as the state: none is nil, more are dropped", function()
    local a = agent.start_link(function() return 1 end)
    assert.is_true(agent.cast(a, function(s) return s + 1, "x" end))
    assert.equal(2, state_of(a))
    assert.is_true(agent.cast(a, function() end))
    assert.is_nil(state_of(a))
    assert.is_true(mb.alive(a))
  end)

  it("returns at once, before a slow fn finishes", function()
    local a = agent.start_link(function() return 0 end)
    local t0 = h.now_ms()
    -- fn ends when told "go", after cast returned, or after 5 s.
    assert.is_true(agent.cast(a, function(s)
      require("moonbeam").receive(function(m) return m == "go" end, 5000)
      return s + 1
    end))
    assert.is_true(h.now_ms() - t0 < 1000)
    mb.send(a, "go")
    assert.equal(1, state_of(a))
  end)

  it("returns true for a dead agent and for an unknown name", function()
    local a = agent.start_link(function() return 0 end)
    agent.stop(a)
    assert.is_true(agent.cast(a, function(s) return s end))
    assert.is_true(agent.cast(h.name("none"), function(s) return s end))
  end)

  it("returns true even when fn raises, and the agent stops", function()
    local a = agent.start_link(function() return 0 end)
    local ref = mb.monitor(a)
    assert.is_true(agent.cast(a, function() error("cast went wrong") end))
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    assert.matches("cast went wrong", reason[2])
  end)

  it("raises for a fn with upvalues, saying so", function()
    local a = agent.start_link(function() return 0 end)
    local v = 9
    assert.matches("upvalue", h.error_of(agent.cast, a, function() return v end))
    assert.equal(0, state_of(a))
  end)
end)

describe("agent.stop", function()
  before_each(h.before)
  after_each(h.after)

  it("returns true once the agent exited normally", function()
    local a = agent.start_link(function() return 0 end)
    local ref = mb.monitor(a)
    assert.is_true(agent.stop(a))
    assert.is_false(mb.alive(a))
    assert.equal("normal", h.reason(ref))
  end)

  it("frees the agent's name", function()
    local name = h.name("agent")
    local a = agent.start_link(function() return 0 end, { name = name })
    assert.is_true(agent.stop(name))
    assert.is_nil(mb.whereis(name))
    local b = agent.start_link(function() return 1 end, { name = name })
    assert.is_true(h.is_pid(b))
    assert.not_equal(a, b)
  end)

  it("raises {\"noproc\"} for a dead agent", function()
    local a = agent.start_link(function() return 0 end)
    agent.stop(a)
    assert.same({ "noproc" }, raised(agent.stop, a))
  end)
end)

describe("agent calls with extra arguments", function()
  before_each(h.before)
  after_each(h.after)

  it("passes them to fn after the state, nils and counts kept", function()
    local a = agent.start_link(function() return 10 end)
    assert.same({ 10, "x", nil, 3, n = 4 },
                agent.get(a, function(s, ...) return { s, n = select("#", ...) + 1, ... } end, "x", nil, 3))
  end)

  it("makes a per-key update possible (Map.update)", function()
    local a = agent.start_link(function() return {} end)
    local put = function(s, k, v) s[k] = v; return s end
    assert.is_true(agent.update(a, put, "one", 1))
    assert.is_true(agent.update(a, put, "two", 2))
    assert.equal(2, agent.get(a, function(s, k) return s[k] end, "two"))
    assert.equal(1, agent.get_and_update(a, function(s, k) local v = s[k]; s[k] = nil; return v, s end, "one"))
    assert.same({ two = 2 }, state_of(a))
  end)

  it("cast takes them too", function()
    local a = agent.start_link(function() return 1 end)
    assert.is_true(agent.cast(a, function(s, by, plus) return s * by + plus end, 5, 2))
    assert.equal(7, state_of(a))
  end)

  it("takes a last {timeout = ms} table as the options, not as an argument", function()
    local a = agent.start_link(function() return "s" end)
    assert.same({ "s", 1 }, agent.get(a, function(s, ...) return { s, select("#", ...) } end, 5, { timeout = 1000 }))
    assert.same({ "timeout" }, raised(agent.get, a, held, { timeout = 30 }))
    mb.send(a, "go")
  end)

  it("reads one number alone after fn as the timeout, as before; {} after it makes it an argument", function()
    local a = agent.start_link(function() return 0 end)
    assert.same({ "timeout" }, raised(agent.get, a, held, 30))
    mb.send(a, "go")
    assert.equal(5, agent.get(a, function(s, n) return s + n end, 5, {}))
    assert.equal(2, agent.get(a, function(s, n) return n end, 2, {}))
  end)

  it("raises for a bad timeout in the options", function()
    local a = agent.start_link(function() return 0 end)
    h.usage_error("agent.get", agent.get, a, function(s) return s end, "x", { timeout = -1 })
    h.usage_error("agent.update", agent.update, a, function(s) return s end, { timeout = "soon" })
    assert.equal(0, state_of(a))
  end)
end)
