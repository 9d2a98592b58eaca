-- gen_server call, try_call and reply: docs/reference.md ("gen_server") and
-- docs/semantics.md ("Calls").

local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local h = require "spec.support.helpers"
local U = require "spec.support.gs_util"

local SCRIPT = U.SCRIPT

-- Servers are started unlinked, so that their exits leave no EXIT messages in
-- the mailbox the specs look at.
local function counter(start, opts)
  local pid, err = gen.start("spec.support.counter", start, opts)
  assert(pid, h.text(err))
  return pid
end

-- A gs_script server (not watched: its events would fill the mailbox).
local function server(state, opts)
  local pid, err = gen.start(SCRIPT, { state = state }, opts)
  assert(pid, h.text(err))
  return pid
end

-- A request that makes handle_call sleep ms, then reply value.
local function slow(ms, value)
  return { "fn", function(from, state, ms, value)
    require("moonbeam").sleep(ms)
    return "reply", value, state
  end, ms, value }
end

local held = U.held

-- A request whose handle_call never replies (and keeps the server waiting for
-- nothing: it returns "noreply").
local NOREPLY = { "ret", "noreply", "$state" }

describe("gen.call", function()
  before_each(h.before)
  after_each(h.after)

  it("returns handle_call's reply", function()
    local c = counter(10)
    assert.equal(11, gen.call(c, "increment"))
    assert.equal(12, gen.call(c, "increment"))
    assert.equal(12, gen.call(c, "get"))
  end)

  it("reaches a server by its registered name", function()
    local name = h.name("counter")
    counter(5, { name = name })
    assert.equal(6, gen.call(name, "increment"))
  end)

  it("passes the request and returns the reply unchanged", function()
    local s = server()
    local value = { 1, 2.5, "three", { nested = { true, false } }, pid = mb.self(), [10] = -0.0 }
    local got = gen.call(s, { "fn", function(from, state, v) return "reply", v, state end, value })
    assert.same(value, got)
    assert.equal(mb.self(), got.pid)
  end)

  it("returns a nil reply as nil", function()
    local s = server()
    assert.is_nil(gen.call(s, { "ret", "reply", nil, "$state", n = 4 }))
    assert.equal("pong", gen.call(s, "ping"))
  end)

  it("hands handle_call a from of {caller pid, ref}", function()
    local s = server()
    local from = gen.call(s, { "fn", function(from, state) return "reply", from, state end })
    assert.equal(mb.self(), from[1])
    assert.is_true(h.is_ref(from[2]))
  end)

  it("takes a message that only names a call for information, and a nil request for a call", function()
    local s = assert(gen.start(SCRIPT, { watcher = mb.self() }))
    mb.send(s, "$gen_call")
    local ev = mb.receive(function(e) return e[3] ~= "init" end, h.TIMEOUT)
    assert.same({ "ev", s, "info", "$gen_call", n = 4 }, ev)
    assert.is_nil(gen.call(s, nil))
    ev = mb.receive(function(e) return e[3] == "call" end, h.TIMEOUT)
    assert.is_nil(ev[4])
    assert.equal(mb.self(), ev[5][1])
    mb.exit(s, "kill")
  end)

  it("keeps the state handle_call returned", function()
    local s = server("a")
    assert.is_true(gen.call(s, { "set", "b" }))
    assert.equal("b", gen.call(s, "state"))
  end)

  it("serves many callers, each its own reply", function()
    local c = counter(0)
    local n = 20
    for i = 1, n do
      mb.spawn(function(parent, c, i)
        local gen = require "moonbeam.gen_server"
        local mb = require "moonbeam"
        local got = {}
        for _ = 1, 50 do got[#got + 1] = gen.call(c, "increment") end
        mb.send(parent, { "done", i, got })
      end, mb.self(), c, i)
    end
    local seen = {}
    for _ = 1, n do
      local m = h.expect(h.tuple("done"), "a caller")
      for j = 2, #m[3] do assert.is_true(m[3][j] > m[3][j - 1]) end
      for _, v in ipairs(m[3]) do
        assert.is_nil(seen[v], "reply " .. v .. " given twice")
        seen[v] = true
      end
    end
    assert.equal(n * 50, gen.call(c, "get"))
  end)

  it("leaves nothing in the caller's mailbox", function()
    local c = counter(0)
    for _ = 1, 10 do gen.call(c, "increment") end
    assert.same({}, U.mailbox(50))
  end)

  it("raises for a req that cannot be sent, to a dead pid and to an unknown name alike", function()
    local up = {}
    local bad = { f = function() return up end }
    for _, server in ipairs({ h.dead_pid(), h.name("nobody") }) do
      local ok, err = pcall(gen.call, server, bad)
      assert.is_false(ok)
      assert.matches("gen_server.call: req.f: cannot send a function with upvalues", err, 1, true)
    end
  end)

  it("raises inside a coroutine of the process's own before the request goes", function()
    local c = counter(0)
    mb.spawn(function(parent, c)
      local mb, gen = require "moonbeam", require "moonbeam.gen_server"
      local co = coroutine.create(function() return gen.call(c, "increment") end)
      local ok, err = coroutine.resume(co)
      mb.send(parent, { "in coroutine", ok, err })
    end, mb.self(), c)
    local m = h.expect(h.tuple("in coroutine"), "the caller's report")
    assert.is_false(m[2])
    assert.matches("gen_server.call: cannot wait inside a coroutine of your own; call from the process's body",
                   m[3], 1, true)
    assert.equal(0, gen.call(c, "get"))   -- the request never went
  end)

  -- A C function's callback cannot yield: the request went, then the
  -- wait's yield failed ("attempt to yield across C-call boundary"), and
  -- the call was handled with its caller told an error. The same for a
  -- receive, a sleep and a socket's recv there.
  it("raises inside a function a C function called (gsub, sort) before the request goes", function()
    local c = counter(0)
    mb.spawn(function(parent, c)
      local mb, gen = require "moonbeam", require "moonbeam.gen_server"
      local r = {}
      r[1] = select(2, pcall(function() return (("x"):gsub("x", function() return gen.call(c, "increment") end)) end))
      r[2] = select(2, pcall(function() table.sort({ 2, 1 }, function(a, b) mb.sleep(1) return a < b end) end))
      r[3] = select(2, pcall(function() return (("x"):gsub("x", function() return mb.receive(10) end)) end))
      mb.send(parent, { "in callbacks", r })
    end, mb.self(), c)
    local r = h.expect(h.tuple("in callbacks"), "the caller's report")[2]
    local where = "inside a function a C function called (string.gsub's, table.sort's, a module's body under require)"
    assert.matches("gen_server.call: cannot wait " .. where .. "; call outside it", r[1], 1, true)
    assert.matches("sleep: cannot wait " .. where .. "; sleep outside it", r[2], 1, true)
    assert.matches("receive: cannot wait " .. where .. "; receive outside it", r[3], 1, true)
    assert.equal(0, gen.call(c, "get"))   -- the request never went
  end)

  it("accepts timeout \"infinity\" and a number", function()
    local s = server()
    assert.equal("late", gen.call(s, slow(30, "late"), "infinity"))
    assert.equal("ok", gen.call(s, slow(10, "ok"), 2000))
  end)
end)

describe("gen.call with a deferred reply", function()
  before_each(h.before)
  after_each(h.after)

  it("returns what gen.reply(from, x) sends from a later callback", function()
    local s = server()
    local got = gen.call(s, { "fn", function(from, state)
      local mb = require "moonbeam"
      mb.send_after(20, mb.self(), { "fn", function(state, from)
        local gen = require "moonbeam.gen_server"
        assert(gen.reply(from, "deferred") == true)
        return "noreply", state
      end, from })
      return "noreply", state
    end }, 2000)
    assert.equal("deferred", got)
  end)

  it("returns what gen.reply sends from handle_continue", function()
    local s = server()
    local got = gen.call(s, { "fn", function(from, state)
      return "noreply", state, { continue = { "fn", function(state, from)
        require("moonbeam.gen_server").reply(from, "from continue")
        return "noreply", state
      end, from } }
    end }, 2000)
    assert.equal("from continue", got)
  end)

  it("returns what gen.reply sends from another process", function()
    local s = server()
    local got = gen.call(s, { "fn", function(from, state)
      require("moonbeam").spawn(function(from)
        local mb = require "moonbeam"
        mb.sleep(20)
        mb.send(from[1], "unrelated, sent before the reply")
        require("moonbeam.gen_server").reply(from, { "from", "helper" })
      end, from)
      return "noreply", state
    end }, 2000)
    assert.same({ "from", "helper" }, got)
    assert.same({ "unrelated, sent before the reply" }, U.mailbox(50))
  end)

  it("lets the server handle other messages before it replies", function()
    local s = server({})
    -- The first call parks its from in the state; the second one answers it.
    mb.spawn(function(parent, s)
      local gen = require "moonbeam.gen_server"
      local got = gen.call(s, { "fn", function(from, state)
        return "noreply", { parked = from }
      end }, 2000)
      require("moonbeam").send(parent, { "first got", got })
    end, mb.self(), s)
    assert.is_true(h.wait_until(function() return gen.get_state(s).parked ~= nil end))
    local second = gen.call(s, { "fn", function(from, state)
      require("moonbeam.gen_server").reply(state.parked, "released")
      return "reply", "second", {}
    end })
    assert.equal("second", second)
    assert.same({ "first got", "released" }, h.expect(h.tuple("first got")))
  end)

  it("gen.reply returns true, even when the caller is gone", function()
    local dead = h.dead_pid()
    assert.is_true(gen.reply({ dead, mb.make_ref() }, "nobody"))
  end)

  it("gen.reply of a second answer to one call is dropped", function()
    local s = server()
    local got = gen.call(s, { "fn", function(from, state)
      local gen = require "moonbeam.gen_server"
      gen.reply(from, "first")
      gen.reply(from, "second")
      return "noreply", state
    end })
    assert.equal("first", got)
    assert.equal("pong", gen.call(s, "ping"))
    assert.same({}, U.mailbox(50))
  end)

  it("gen.reply raises for a from that is not one", function()
    assert.matches("from", h.text(U.raised(gen.reply, "nope", 1)))
    assert.matches("from", h.text(U.raised(gen.reply, { "x" }, 1)))
  end)
end)

describe("a server process", function()
  before_each(h.before)
  after_each(h.after)

  local function loaded(s)
    return gen.call(s, { "fn", function(from, state)
      local l = package.loaded
      return "reply", { client = l["moonbeam.gen_client"] ~= nil, gen = l["moonbeam.gen"] ~= nil,
                        sys = l["moonbeam.gen_sys"] ~= nil, report = l["moonbeam.report"] ~= nil,
                        rest = l["moonbeam.api_rest"] ~= nil, strings = rawget(string, "format") ~= nil }, state
    end })
  end

  it("carries its loop only: not the client half, the sys requests, crash reports or the rest of the process API", function()
    local s = server()
    assert.same({ client = false, gen = false, sys = false, report = false, rest = false, strings = false },
                loaded(s))
  end)

  it("sends an exit signal for mb.exit(name, reason) in a callback, and goes on", function()
    local s = server()
    local victim = h.echo()
    local name = h.name("victim")
    assert.is_true(mb.register(name, victim))
    local ref = mb.monitor(victim)
    assert.equal("done", gen.call(s, { "fn", function(from, state, n)
      require("moonbeam").exit(n, "from the server")
      return "reply", "done", state
    end, name }))
    assert.equal("from the server", h.reason(ref))
    assert.is_true(loaded(s).rest)
    assert.is_true(mb.alive(s))
  end)

  it("loads the client half with its first look-up of a client function, and calls with it", function()
    local a, b = server(), server()
    local got = gen.call(a, { "fn", function(from, state, b)
      local gs = require "moonbeam.gen_server"
      local before = rawget(gs, "call") ~= nil
      return "reply", { before, gs.call(b, { "ret", "reply", "pong", "$state" }) }, state
    end, b })
    assert.same({ false, "pong" }, got)
    assert.is_true(loaded(a).client)
  end)

  it("loads the sys requests with the first one", function()
    local s = server(7)
    assert.equal(7, gen.get_state(s))
    assert.is_true(loaded(s).sys)
  end)
end)

describe("gen.call timeouts", function()
  before_each(h.before)
  after_each(h.after)

  it("raises {\"timeout\"} when no reply comes in time", function()
    local s = server()
    local elapsed, r = U.timed(gen.call, s, NOREPLY, 100)
    assert.is_false(r[1])
    assert.same({ "timeout" }, r[2])
    assert.is_true(elapsed >= 80 and elapsed < 2000, "elapsed " .. elapsed)
  end)

  it("waits 5000 ms by default: gen.DEFAULT_TIMEOUT, read at each call", function()
    local s = server()
    assert.equal(5000, gen.DEFAULT_TIMEOUT)
    local elapsed, r = h.with_default_timeout(gen, 100, U.timed, gen.call, s, NOREPLY)
    assert.is_false(r[1])
    assert.same({ "timeout" }, r[2])
    assert.is_true(elapsed >= 80 and elapsed < 2000, "elapsed " .. elapsed)
  end)

  -- From spawned processes, where an infinite wait used to end at once; a
  -- server each, so that the three calls wait side by side.
  it("of math.huge, 2^64 or 1e300 is \"infinity\": a reply after 150 ms arrives", function()
    for _, t in ipairs({ math.huge, 2 ^ 64, 1e300 }) do
      mb.spawn(function(parent, s, t, req)
        local gen = require "moonbeam.gen_server"
        require("moonbeam").send(parent, { "called", t, pcall(gen.call, s, req, t) })
      end, mb.self(), server(), t, slow(150, "slow"))
    end
    for _, t in ipairs({ math.huge, 2 ^ 64, 1e300 }) do
      assert.same({ "called", t, true, "slow" }, h.expect(h.tuple("called", t), "the report of the call with " .. t))
    end
  end)

  it("raise \"<call>: timeout must be ...\" for NaN, a negative or a non-number timeout", function()
    local s = server()
    for _, bad in ipairs({ 0 / 0, -1, -math.huge, "soon", {} }) do
      assert.equal("gen_server.call: timeout must be a number >= 0 or \"infinity\"",
        h.usage_error("gen_server.call", gen.call, s, "ping", bad))
      h.usage_error("gen_server.try_call", gen.try_call, s, "ping", bad)
      h.usage_error("gen_server.get_state", gen.get_state, s, bad)
      h.usage_error("gen_server.replace_state", gen.replace_state, s, function(x) return x end, bad)
      h.usage_error("gen_server.stop", gen.stop, s, "normal", bad)
    end
    assert.equal("pong", gen.call(s, "ping"))
  end)

  -- A reply 2 s late with the default of 5000 ms, scaled down: with the
  -- default cut to 400 ms, one after 100 ms.
  it("lets a reply slower than a short timeout arrive with the default timeout", function()
    local s = server()
    assert.equal("slow", h.with_default_timeout(gen, 400, gen.call, s, slow(100, "slow")))
    assert.same({ "timeout" }, U.raised(gen.call, s, held("slow"), 20))
    mb.send(s, "go")
  end)

  it("never delivers the late reply to the caller's mailbox", function()
    local s = server()
    local err = U.raised(gen.call, s, held("too late"), 30)
    assert.same({ "timeout" }, err)
    mb.send(s, "go")
    -- The server carried on and is still serving. It answers in order, so
    -- the late reply was sent before this one, and would be here by now.
    assert.equal("pong", gen.call(s, "ping"))
    assert.same({}, h.drain())
  end)

  it("never delivers a late gen.reply to the caller's mailbox", function()
    local s = server({})
    assert.same({ "timeout" }, U.raised(gen.call, s, { "fn", function(from, state)
      return "noreply", { parked = from }
    end }, 30))
    gen.call(s, { "fn", function(from, state)
      require("moonbeam.gen_server").reply(state.parked, "too late")
      return "reply", true, state
    end })
    assert.same({}, h.drain())   -- the late reply was sent before this call's
  end)

  it("does not mistake the late reply of an earlier call for the next call's reply", function()
    local s1, s2 = server(), server()
    assert.same({ "timeout" }, U.raised(gen.call, s1, held("stale"), 20))
    mb.send(s1, "go")
    -- s1's late reply lands while this call waits for s2's: s2 answers
    -- once s1 has answered it, after the stale call.
    assert.equal("fresh", gen.call(s2, { "fn", function(from, state, s1)
      require("moonbeam.gen_server").call(s1, "ping")
      return "reply", "fresh", state
    end, s1 }))
    assert.same({ "timeout" }, U.raised(gen.call, s1, held("stale"), 20))
    mb.send(s1, "go")
    -- s1 answers in order: the stale reply lands first.
    assert.equal("fresh again", gen.call(s1, { "ret", "reply", "fresh again", "$state" }))
    assert.same({}, h.drain())
  end)

  it("lets the server complete the work of a timed-out call", function()
    local c = server(0)
    U.raised(gen.call, c, { "fn", function(from, n)
      require("moonbeam").receive(function(m) return m == "go" end, 5000)   -- after the timeout
      return "reply", n + 1, n + 1
    end }, 10)
    mb.send(c, "go")
    assert.equal(1, gen.call(c, "state"))
  end)
end)

describe("gen.call failing at once", function()
  before_each(h.before)
  after_each(h.after)

  it("raises {\"noproc\"} for a dead pid without waiting", function()
    local dead = h.dead_pid()
    local elapsed, r = U.timed(gen.call, dead, "ping", 5000)
    assert.is_false(r[1])
    assert.same({ "noproc" }, r[2])
    assert.is_true(elapsed < 1000, "elapsed " .. elapsed)
    assert.same({}, U.mailbox(50))
  end)

  it("raises {\"noproc\"} for a server that has stopped", function()
    local s = server()
    gen.stop(s)
    assert.same({ "noproc" }, U.raised(gen.call, s, "ping"))
    assert.same({}, U.mailbox(50))
  end)

  it("raises {\"noproc\"} for an unknown name without waiting", function()
    local elapsed, r = U.timed(gen.call, h.name("nobody"), "ping", 5000)
    assert.is_false(r[1])
    assert.same({ "noproc" }, r[2])
    assert.is_true(elapsed < 1000, "elapsed " .. elapsed)
  end)

  -- A live server takes nil; an unknown name raised "req: cannot send nil".
  it("takes nil for a request: a server gets it, an unknown name or a dead pid gives {\"noproc\"}", function()
    local s = server()
    assert.same({ "ok", nil }, { "ok", gen.call(s, { "fn", function(_, st, r) return "reply", r, st end }) })
    for _, dest in ipairs({ h.name("nobody"), h.dead_pid() }) do
      assert.same({ "noproc" }, U.raised(gen.call, dest, nil))
      assert.same({ "noproc" }, select(2, gen.try_call(dest, nil)))
    end
  end)

  it("raises {\"exit\", \"noconnection\"} for a {name, node} server when this host is not a node", function()
    -- A two-element table is a {name, node} server: with no distribution
    -- there is nothing to send it through, which once crashed the host.
    assert.equal("nonode@nohost", mb.node())
    local server = { "kv", "kv@nohost" }
    local elapsed, r = U.timed(gen.call, server, "ping", 5000)
    assert.is_false(r[1])
    assert.same({ "exit", "noconnection" }, r[2])
    assert.is_true(elapsed < 1000, "elapsed " .. elapsed)
    assert.same({ nil, { "exit", "noconnection" } }, { gen.try_call(server, "ping") })
    -- A via name cut short is a bad server, not a {name, node} whose "node" is no node name.
    assert.has_error(function() gen.call({ "via", "reg" }, "ping") end,
                     "gen_server.call: server must be a pid, a registered name, {name, node} or a via name, got table")
    assert.same({}, U.mailbox(50))
  end)

  it("raises {\"calling_self\"} for the caller's own pid without waiting", function()
    local elapsed, r = U.timed(gen.call, mb.self(), "ping", 5000)
    assert.is_false(r[1])
    assert.same({ "calling_self" }, r[2])
    assert.is_true(elapsed < 1000, "elapsed " .. elapsed)
    assert.same({}, U.mailbox(50))
  end)

  it("raises {\"calling_self\"} for the caller's own name", function()
    local name = h.name("me")
    mb.register(name, mb.self())
    assert.same({ "calling_self" }, U.raised(gen.call, name, "ping", "infinity"))
  end)

  it("raises {\"calling_self\"} in a server calling itself, which keeps running", function()
    local s = server()
    local got = gen.call(s, { "fn", function(from, state)
      local gen = require "moonbeam.gen_server"
      local mb = require "moonbeam"
      local ok, err = pcall(gen.call, mb.self(), "ping")
      return "reply", { ok, err }, state
    end })
    assert.same({ false, { "calling_self" } }, got)
    assert.equal("pong", gen.call(s, "ping"))
  end)
end)

describe("gen.call when the server dies during the call", function()
  before_each(h.before)
  after_each(h.after)

  it("raises {\"exit\", {\"error\", message, traceback}} when handle_call raises", function()
    local s = server()
    local err = U.raised(gen.call, s, { "fn", function() error("handler broke") end })
    assert.equal("exit", err[1])
    assert.equal("error", err[2][1])
    assert.matches("handler broke", err[2][2])
    assert.equal("string", type(err[2][3]))
    assert.is_false(mb.alive(s))
  end)

  it("raises {\"exit\", {\"error\", its __tostring, traceback}} when handle_call raises an error object", function()
    local s = server()
    local err = U.raised(gen.call, s, { "fn", function()
      error(setmetatable({ code = 7 }, { __tostring = function(o) return "E" .. o.code end }))
    end })
    assert.equal("exit", err[1])
    assert.same({ "error", "E7" }, { err[2][1], err[2][2] })
    assert.equal("string", type(err[2][3]))
    assert.is_false(mb.alive(s))
  end)

  it("raises {\"exit\", reason} for mb.exit(reason) in handle_call", function()
    local s = server()
    local err = U.raised(gen.call, s, { "fn", function() require("moonbeam").exit("crashed") end })
    assert.same({ "exit", "crashed" }, err)
  end)

  it("crashes with exit's usage error, not a stop with reason nil or a pid, for mb.exit() or mb.exit(pid, nil)", function()
    for _, f in ipairs({ function() require("moonbeam").exit() end,
                         function() local mb = require("moonbeam") mb.exit(mb.self(), nil) end }) do
      local s = server()
      local ref = mb.monitor(s)
      local err = U.raised(gen.call, s, { "fn", f })
      assert.equal("exit", err[1])
      assert.equal("error", err[2][1])
      assert.matches("^exit: a.* reason is required$", err[2][2])
      assert.same(err[2], h.reason(ref))
    end
  end)

  for _, reason in ipairs({ "normal", "shutdown", { "shutdown", "detail" }, "custom" }) do
    it("raises {\"exit\", " .. h.text(reason) .. "} for \"stop\" without a reply", function()
      local s = server()
      local ref = mb.monitor(s)
      local err = U.raised(gen.call, s, { "ret", "stop", reason, "$state" })
      assert.same({ "exit", reason }, err)
      assert.same(reason, h.reason(ref))
    end)
  end

  it("raises {\"exit\", {\"bad_return_value\", x}} for a bad return", function()
    local s = server()
    assert.same({ "exit", { "bad_return_value", 42 } }, U.raised(gen.call, s, { "ret", 42 }))
  end)

  it("raises {\"exit\", {\"bad_return_value\", ...}} for a reply with a bad extra", function()
    local s = server("st")
    assert.same({ "exit", { "bad_return_value", { "reply", 1, "st", "bogus" } } },
      U.raised(gen.call, s, { "ret", "reply", 1, "$state", "bogus" }))
  end)

  -- OTP-SEMANTICS 2.11's typo, "noreply", resp, state: terminate got
  -- "resp" for its state, and its error on it hid the bad return.
  it("gives terminate the state from before the callback for a bad extra", function()
    local s = assert(gen.start({
      init = function(owner) return "ok", { owner = owner } end,
      handle_call = function(_, _, st) return "noreply", "resp", st end,
      terminate = function(reason, st) require("moonbeam").send(st.owner, { "terminated", reason[1] }) end,
    }, mb.self()))
    local err = U.raised(gen.call, s, "typo")
    assert.equal("bad_return_value", err[2][1])
    assert.same({ "noreply", "resp" }, { err[2][2][1], err[2][2][2] })
    h.expect(h.tuple("terminated", "bad_return_value"), "terminate with the old state")
  end)

  it("raises {\"exit\", \"killed\"} when the server is killed meanwhile", function()
    local s = server()
    mb.spawn(function(s)
      local mb = require "moonbeam"
      mb.sleep(50)
      mb.exit(s, "kill")
    end, s)
    assert.same({ "exit", "killed" }, U.raised(gen.call, s, slow(5000, "never"), 3000))
  end)

  it("raises {\"exit\", {\"undef\", \"handle_call\"}} for a module without handle_call", function()
    local s = gen.start({ init = function() return "ok", 0 end })
    assert.same({ "exit", { "undef", "handle_call" } }, U.raised(gen.call, s, "anything"))
  end)

  it("leaves the caller's own monitor and its DOWN alone", function()
    local s = server()
    local mine = mb.monitor(s)
    U.raised(gen.call, s, { "ret", "stop", "boom", "$state" })
    assert.same({ { "DOWN", mine, "process", s, "boom" } }, U.mailbox(50))
  end)

  it("leaves no DOWN in the caller's mailbox", function()
    local s = server()
    U.raised(gen.call, s, { "ret", "stop", "boom", "$state" })
    assert.same({}, U.mailbox(50))
  end)
end)

-- A call monitors its server, on the server's side only (the caller's call
-- slot is its own record): the server's monitored_by shows the caller while
-- the call waits, and not once the call is over, however it ended.
describe("gen.call's monitor of the server", function()
  before_each(h.before)
  after_each(h.after)

  -- A process that calls s with req (timeout ms) and reports the outcome.
  local function caller(s, req, ms)
    return mb.spawn(function(parent, s, req, ms)
      local gen = require "moonbeam.gen_server"
      require("moonbeam").send(parent, { "called", pcall(gen.call, s, req, ms) })
    end, mb.self(), s, req, ms)
  end

  local function watched_by(s, pid) return h.contains(mb.info(s).monitored_by, pid) end

  it("is held by the server while the call waits, and gone with the reply", function()
    local s = server()
    local c = caller(s, held("late", mb.self()))
    h.expect(h.tuple("held", s), "the server holding the call")
    assert.is_true(watched_by(s, c))
    assert.same({}, mb.info(c).monitors)   -- nothing of it on the caller's side
    mb.send(s, "go")
    assert.same({ "called", true, "late" }, h.expect(h.tuple("called"), "the caller's report"))
    assert.is_true(h.wait_until(function() return not watched_by(s, c) end))
  end)

  it("is gone after a timeout, and the server's later end sends nothing", function()
    local s = server()
    assert.same({ "timeout" }, U.raised(gen.call, s, held("too late"), 30))
    assert.same({}, mb.info(s).monitored_by)
    local ref = mb.monitor(s)
    mb.exit(s, "kill")
    h.down(ref)
    assert.same({}, h.drain())
  end)

  it("is gone when the caller dies during the call", function()
    local s = server()
    local c = caller(s, held("never taken", mb.self()))
    h.expect(h.tuple("held", s), "the server holding the call")
    assert.is_true(watched_by(s, c))
    local ref = mb.monitor(c)
    mb.exit(c, "kill")
    h.down(ref)
    assert.is_false(watched_by(s, c))
    mb.send(s, "go")   -- its reply goes to no one
    assert.equal("pong", gen.call(s, "ping"))
  end)

  it("brings a caller that waited each reply as the server sent it: numbers, booleans and the rest", function()
    local s = server()
    local values = { 1, -0.0, 2 ^ 53, 0.25, 1 / 0, 0 / 0, true, false, { "t", 1 }, "s", 42 }
    mb.spawn(function(parent, s, values, slow_reply)
      local gen = require "moonbeam.gen_server"
      local got = {}
      for i, v in ipairs(values) do got[i] = gen.call(s, slow_reply(v)) end   -- each after a wait
      require("moonbeam").send(parent, { "got", got })
    end, mb.self(), s, values, function(v)
      return { "fn", function(from, state, v)
        require("moonbeam").sleep(2)
        return "reply", v, state
      end, v }
    end)
    h.assert_values(values, h.expect(h.tuple("got"), "the caller's replies")[2])
    assert.same({}, mb.info(s).monitored_by)
  end)

  it("is gone after a reply another process sent, and after a thousand calls", function()
    local s = server({})
    local c = caller(s, { "fn", function(from, state)
      state.parked = from
      return "noreply", state
    end })
    assert.is_true(h.wait_until(function() return watched_by(s, c) end))
    gen.call(s, { "fn", function(from, state)
      require("moonbeam").spawn(function(to) require("moonbeam.gen_server").reply(to, "from elsewhere") end,
        state.parked)
      return "reply", true, state
    end })
    assert.same({ "called", true, "from elsewhere" }, h.expect(h.tuple("called"), "the caller's report"))
    assert.is_true(h.wait_until(function() return not watched_by(s, c) end))
    for i = 1, 1000 do assert.equal("pong", gen.call(s, "ping")) end
    assert.same({}, mb.info(s).monitored_by)
  end)

  -- A request whose handle_call tells watcher it began, then takes no
  -- message for ms, then replies value (nil: stops the server with "boom").
  local function busy(ms, watcher, value)
    return { "fn", function(from, state, ms, watcher, value)
      local mb = require "moonbeam"
      mb.send(watcher, "busy")
      local t = mb.now()
      while mb.now() - t < ms do end
      if value == nil then return "stop", "boom", state end
      return "reply", value, state
    end, ms, watcher, value }
  end

  it("ends, with the server's reason, the calls whose requests it never took", function()
    local s = server()
    caller(s, busy(300, mb.self()), "infinity")
    assert.equal("busy", h.expect(function(m) return m == "busy" end, "the server's start of its busy call"))
    for _ = 1, 20 do caller(s, "ping", "infinity") end   -- their requests wait in its inbox
    for _ = 1, 21 do
      local report = h.expect(h.tuple("called"), "a caller's report", 10000)
      assert.is_false(report[2])
      assert.same({ "exit", "boom" }, { report[3][1], report[3][2] })
    end
  end)

  it("leaves no caller waiting on a server killed while their calls arrive", function()
    for _ = 1, 20 do
      local s = server()
      for _ = 1, 10 do caller(s, "ping", "infinity") end
      mb.exit(s, "kill")
      for _ = 1, 10 do
        local report = h.expect(h.tuple("called"), "a caller's report", 10000)
        local ok, v = report[2], report[3]
        local fine = ok and v == "pong" or not ok and
          (v[1] == "noproc" or v[1] == "exit" and (v[2] == "killed" or v[2] == "noproc"))
        assert(fine, "unexpected outcome " .. h.text(report))
      end
    end
  end)

  it("is gone once the server takes a request whose caller timed out before", function()
    local s = server()
    -- Blocked in C, not spinning in Lua: no preemption lets it look at its inbox meanwhile.
    caller(s, { "fn", function(from, state, watcher)
      require("moonbeam").send(watcher, "busy")
      require("os").execute("sleep 0.2")
      return "reply", "done", state
    end, mb.self() }, "infinity")
    assert.equal("busy", h.expect(function(m) return m == "busy" end, "the server's start of its busy call"))
    assert.same({ "timeout" }, U.raised(gen.call, s, NOREPLY, 20))   -- still in its inbox; never answered
    assert.same({ "called", true, "done" }, h.expect(h.tuple("called"), "the busy call's report"))
    assert.equal("pong", gen.call(s, "ping"))
    assert.same({}, mb.info(s).monitored_by)
  end)

  it("ends the call with {\"exit\", reason} when the server dies, and leaves nothing after", function()
    local s = server()
    local c = caller(s, held("never", mb.self()))
    h.expect(h.tuple("held", s), "the server holding the call")
    mb.exit(s, "shutdown_now")
    local report = h.expect(h.tuple("called"), "the caller's report")
    assert.is_false(report[2])
    assert.same({ "exit", "shutdown_now" }, { report[3][1], report[3][2] })
    assert.same({}, h.drain())
  end)
end)

describe("gen.try_call", function()
  before_each(h.before)
  after_each(h.after)

  it("returns the reply", function()
    local c = counter(1)
    assert.equal(2, gen.try_call(c, "increment"))
  end)

  it("returns nil, {\"timeout\"}", function()
    local s = server()
    local v, err = gen.try_call(s, NOREPLY, 50)
    assert.is_nil(v)
    assert.same({ "timeout" }, err)
    assert.same({}, U.mailbox(50))
  end)

  it("returns nil, {\"noproc\"} for a dead pid and an unknown name", function()
    local v, err = gen.try_call(h.dead_pid(), "x")
    assert.is_nil(v)
    assert.same({ "noproc" }, err)
    v, err = gen.try_call(h.name("nobody"), "x")
    assert.is_nil(v)
    assert.same({ "noproc" }, err)
  end)

  it("returns nil, {\"calling_self\"}", function()
    local v, err = gen.try_call(mb.self(), "x")
    assert.is_nil(v)
    assert.same({ "calling_self" }, err)
  end)

  it("returns nil, {\"exit\", reason} when the server dies", function()
    local s = server()
    local v, err = gen.try_call(s, { "ret", "stop", "gone", "$state" })
    assert.is_nil(v)
    assert.same({ "exit", "gone" }, err)
  end)

  it("raises for a bad timeout", function()
    local s = server()
    assert.matches("timeout", h.text(U.raised(gen.try_call, s, "ping", "soon")))
  end)
end)

describe("gen.call reply matching", function()
  before_each(h.before)
  after_each(h.after)

  it("works with 10,000 unrelated messages queued and leaves them queued in order", function()
    local c = counter(0)
    local me = mb.self()
    for i = 1, 10000 do mb.send(me, { "unrelated", i }) end
    for i = 1, 100 do assert.equal(i, gen.call(c, "increment")) end
    local got = h.drain()
    assert.equal(10000, #got)
    for i = 1, 10000 do
      if got[i][1] ~= "unrelated" or got[i][2] ~= i then
        error("message " .. i .. " is " .. h.text(got[i]))
      end
    end
  end)

  it("is not slowed down by a full mailbox", function()
    local c = counter(0)
    local N = 2000
    local t0 = h.now_ms()
    for _ = 1, N do gen.call(c, "increment") end
    local empty = h.now_ms() - t0
    local me = mb.self()
    for i = 1, 10000 do mb.send(me, { "unrelated", i }) end
    t0 = h.now_ms()
    for _ = 1, N do gen.call(c, "increment") end
    local full = h.now_ms() - t0
    assert.equal(10000, #h.drain())
    -- generous: a scan of the mailbox per reply would make this ~100x slower
    assert.is_true(full < 10 * empty + 500, ("empty %.0f ms, full %.0f ms"):format(empty, full))
  end)

  it("is not fooled by messages shaped like replies or DOWNs", function()
    local c = counter(0)
    local me = mb.self()
    local from = gen.call(server(), { "fn", function(from, state) return "reply", from, state end })
    mb.send(me, { from[2], "fake reply" })
    mb.send(me, { "DOWN", from[2], "process", c, "fake" })
    mb.send(me, { "reply", from[2], "fake" })
    assert.equal(1, gen.call(c, "increment"))
    assert.equal(3, #h.drain())
  end)
end)

describe("gen.call with bad input", function()
  before_each(h.before)
  after_each(h.after)

  for _, bad in ipairs({ "soon", -1, {}, true, 0 / 0 }) do
    it("raises for timeout " .. h.text(bad) .. ", naming the timeout; the server keeps running", function()
      local c = counter(0)
      assert.matches("timeout", h.text(U.raised(gen.call, c, "increment", bad)))
      assert.equal(0, gen.call(c, "get"))
      assert.same({}, U.mailbox(20))
    end)
  end

  for _, bad in ipairs({ 42, true, {} }) do
    it("raises for a server that is a " .. type(bad) .. ", naming the server", function()
      assert.matches("server", h.text(U.raised(gen.call, bad, "x")))
    end)
  end

  it("raises for a nil server", function()
    assert.matches("server", h.text(U.raised(gen.call, nil, "x")))
  end)

  it("raises a clear error for a request that cannot be sent; the server keeps running", function()
    local c = counter(0)
    local up = 1
    local err = h.text(U.raised(gen.call, c, { "f", function() return up end }))
    assert.matches("upvalue", err)
    -- the path is counted from req, not from the request's envelope around it
    assert.matches("gen_server.call: req[2]: cannot send a function with upvalues", err, 1, true)
    local t = {}
    t.self = t
    assert.is_truthy(h.text(U.raised(gen.call, c, t)):find("contain", 1, true))
    assert.equal(1, gen.call(c, "increment"))
    assert.same({}, U.mailbox(20))
  end)

  it("leaves no monitor behind after a request that cannot be sent", function()
    local s = server()
    local up = 1
    U.raised(gen.call, s, function() return up end)
    assert.same({}, mb.info(mb.self()).monitors)
  end)

  it("leaves no DOWN to come after a request that cannot be sent", function()
    local s = server()
    local up = 1
    U.raised(gen.call, s, function() return up end)
    -- A DOWN left to come would be sent with this monitor's, before it.
    local ref = mb.monitor(s)
    mb.exit(s, "kill")
    h.down(ref)
    assert.same({}, h.drain())
  end)

  local UNSENDABLE_REPLY = { "fn", function(from, state)
    local up = 1
    return "reply", function() return up end, state
  end }

  it("raises at once an error naming what is wrong when the reply cannot be sent", function()
    local s = server()
    local elapsed, r = U.timed(gen.call, s, UNSENDABLE_REPLY, 3000)
    assert.is_false(r[1])
    assert.is_true(elapsed < 2000, "elapsed " .. elapsed .. ", error " .. h.text(r[2]))
    assert.matches("upvalue", h.text(r[2]))
    assert.same({}, U.mailbox(50))
    -- the value, not the server, was at fault: it goes on serving
    assert.equal("pong", gen.call(s, "ping"))
  end)

  it("raises {\"bad_reply\", ...} naming the metatable for a reply that has one; the server goes on", function()
    local s = server()
    local err = U.raised(gen.call, s, { "fn", function(from, state)
      return "reply", { proxy = setmetatable({}, { __index = { x = 1 } }) }, state
    end })
    assert.equal("bad_reply", err[1])
    assert.matches("proxy: cannot send a table with a metatable", err[2])
    assert.equal("pong", gen.call(s, "ping"))
  end)

  it("try_call returns nil and the error when the reply cannot be sent", function()
    local s = server()
    local ok, v, err = pcall(gen.try_call, s, UNSENDABLE_REPLY, 3000)
    assert.is_true(ok, "try_call raised " .. h.text(v))
    assert.is_nil(v)
    assert.matches("upvalue", h.text(err))
  end)
end)
