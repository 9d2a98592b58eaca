-- gen_server stop and terminate: docs/reference.md ("gen_server") and
-- docs/semantics.md ("gen_server": "terminate", "stop", and the reply of
-- "stop", reason, reply, state in "The loop").

local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local h = require "spec.support.helpers"
local U = require "spec.support.gs_util"

local SCRIPT = U.SCRIPT

-- An unlinked, watched gs_script server; returns its pid and a monitor ref.
local function server(arg, opts)
  arg = arg or {}
  arg.watcher = mb.self()
  local pid, err = gen.start(SCRIPT, arg, opts)
  assert(pid, h.text(err))
  U.event(pid, "init")
  return pid, mb.monitor(pid)
end

-- The {"ev", pid, "terminate", reason, state} event.
local function terminated(pid, timeout)
  local m = U.event(pid, "terminate", timeout)
  return m[4], m[5]
end

describe("gen.stop", function()
  before_each(h.before)
  after_each(h.after)

  it("runs terminate(\"normal\", state), then returns true once the server is gone", function()
    local s, ref = server({ state = { the = "state" } })
    assert.is_true(gen.stop(s))
    assert.is_false(mb.alive(s))
    -- terminate's note was sent before the server died, so it is here already
    local m = mb.receive(U.ev(s, "terminate"), 0)
    assert.is_not_nil(m, "terminate did not run before stop returned")
    assert.equal("normal", m[4])
    assert.same({ the = "state" }, m[5])
    assert.equal("normal", h.reason(ref))
  end)

  for _, reason in ipairs({ "shutdown", { "shutdown", { detail = 1 } }, "custom", { "error", "x", "y" } }) do
    it("with reason " .. h.text(reason) .. " runs terminate with it and returns true", function()
      local s, ref = server()
      assert.is_true(gen.stop(s, reason))
      assert.same(reason, (terminated(s)))
      assert.same(reason, h.reason(ref))
    end)
  end

  it("runs terminate in a server that does not trap exits", function()
    local s = server()
    assert.is_false(mb.info(s).trap_exit)
    assert.is_true(gen.stop(s, "shutdown"))
    assert.equal("shutdown", (terminated(s)))
  end)

  it("reaches a server by its registered name", function()
    local name = h.name("gs")
    local s = server(nil, { name = name })
    assert.is_true(gen.stop(name))
    assert.equal("normal", (terminated(s)))
    assert.is_nil(mb.whereis(name))
  end)

  it("stops a server with no terminate callback", function()
    local s = gen.start({ init = function() return "ok", 0 end })
    local ref = mb.monitor(s)
    assert.is_true(gen.stop(s, { "error", "test" }))
    assert.same({ "error", "test" }, h.reason(ref))
  end)

  it("stops a suspended server", function()
    local s = server()
    gen.suspend(s)
    assert.is_true(gen.stop(s))
    assert.equal("normal", (terminated(s)))
  end)

  it("waits for the callback in progress, then stops", function()
    local s = server()
    gen.cast(s, { "fn", function(state) require("moonbeam").sleep(150); return "noreply", "after cast" end })
    assert.is_true(gen.stop(s))
    local _, state = terminated(s)
    assert.equal("after cast", state)
  end)

  it("leaves nothing in the caller's mailbox", function()
    local s = gen.start(SCRIPT, {})
    assert.is_true(gen.stop(s))
    assert.same({}, U.mailbox(50))
  end)

  it("raises {\"noproc\"} for a dead pid and an unknown name", function()
    assert.same({ "noproc" }, U.raised(gen.stop, h.dead_pid()))
    assert.same({ "noproc" }, U.raised(gen.stop, h.name("nobody")))
    assert.same({}, U.mailbox(50))
  end)

  it("raises {\"calling_self\"} for the caller itself", function()
    assert.same({ "calling_self" }, U.raised(gen.stop, mb.self()))
  end)

  it("raises {\"exit\", reason} when terminate raised", function()
    local s, ref = server({ terminate = function() error("terminate broke") end })
    local err = U.raised(gen.stop, s)
    assert.equal("exit", err[1])
    assert.equal("error", err[2][1])
    assert.matches("terminate broke", err[2][2])
    assert.same(err[2], h.reason(ref))
  end)

  it("raises {\"exit\", reason} when terminate called mb.exit(reason)", function()
    local s, ref = server({ terminate = function() require("moonbeam").exit("other") end })
    assert.same({ "exit", "other" }, U.raised(gen.stop, s, "normal"))
    assert.equal("other", h.reason(ref))
  end)

  it("raises {\"timeout\"} when the server does not exit in time, and does not kill it", function()
    local s, ref = server({ terminate = function() require("moonbeam").sleep(400) end })
    local elapsed, r = U.timed(gen.stop, s, "normal", 100)
    assert.is_false(r[1])
    assert.same({ "timeout" }, r[2])
    assert.is_true(elapsed >= 80 and elapsed < 2000, "elapsed " .. elapsed)
    -- terminate carries on and the server exits with the reason asked for
    assert.equal("normal", h.reason(ref))
    local got = U.mailbox(100)
    assert.equal(1, #got, h.text(got))
    assert.same({ "ev", s, "terminate", "normal" }, { got[1][1], got[1][2], got[1][3], got[1][4] })
  end)

  for _, bad in ipairs({ "soon", -1, {} }) do
    it("raises for timeout " .. h.text(bad) .. " and leaves the server running", function()
      local s = server()
      assert.matches("timeout", h.text(U.raised(gen.stop, s, "normal", bad)))
      assert.equal("pong", gen.call(s, "ping"))
      assert.is_nil(mb.receive(U.ev(s, "terminate"), 50))
    end)
  end

  it("raises for a server that is not a pid or a name", function()
    assert.matches("server", h.text(U.raised(gen.stop, 42)))
  end)

  it("raises a clear error for a reason that cannot be sent, and leaves the server running", function()
    local s = server()
    local monitors = #mb.info(mb.self()).monitors
    local err = h.text(U.raised(gen.stop, s, coroutine.create(function() end)))
    assert.matches("coroutine", err)
    assert.matches("^gen_server.stop: reason: ", err)   -- its path from the reason given, not from stop's own message
    assert.equal(monitors, #mb.info(mb.self()).monitors)
    assert.equal("pong", gen.call(s, "ping"))
    assert.is_nil(mb.receive(U.ev(s, "terminate"), 50))
    -- the same to a name no one holds: the reason is looked at first, as a cast's msg
    assert.matches("^gen_server.stop: reason: .*coroutine", h.text(U.raised(gen.stop, "nobody", coroutine.create(function() end))))
  end)
end)

describe("gen_server \"stop\" from a callback", function()
  before_each(h.before)
  after_each(h.after)

  it("from handle_call without a reply: terminate runs, the caller gets {\"exit\", reason}", function()
    local s, ref = server({ state = 1 })
    assert.same({ "exit", "done" }, U.raised(gen.call, s, { "ret", "stop", "done", 2 }))
    assert.same({ "done", 2 }, { terminated(s) })
    assert.equal("done", h.reason(ref))
  end)

  it("from handle_cast", function()
    local s, ref = server({ state = 1 })
    gen.cast(s, { "ret", "stop", "from cast", 2 })
    assert.same({ "from cast", 2 }, { terminated(s) })
    assert.equal("from cast", h.reason(ref))
  end)

  it("from handle_info", function()
    local s, ref = server({ state = 1 })
    mb.send(s, { "ret", "stop", { "shutdown", "info" }, 3 })
    assert.same({ { "shutdown", "info" }, 3 }, { terminated(s) })
    assert.same({ "shutdown", "info" }, h.reason(ref))
  end)

  it("from handle_continue", function()
    local s, ref = server({ state = 1 })
    gen.cast(s, { "ret", "noreply", 5, { continue = { "ret", "stop", "from continue", 6 } } })
    assert.same({ "from continue", 6 }, { terminated(s) })
    assert.equal("from continue", h.reason(ref))
  end)

  it("from a timeout's handle_info", function()
    local s, ref = server({ state = 1, extra = 10 })
    U.event(s, "info")
    gen.call(s, "ping") -- still alive: handle_info("timeout") returned "noreply"
    gen.cast(s, { "ret", "noreply", "$state", 10 })
    U.event(s, "info")
    assert.is_true(mb.alive(s))
    gen.stop(s)
    assert.equal("normal", h.reason(ref))
  end)

  it("with a reply: the caller gets the reply and terminate ran before it was sent", function()
    local s, ref = server({ state = 1 })
    local got = gen.call(s, { "ret", "stop", "normal", "bye", 9 })
    assert.equal("bye", got)
    local m = mb.receive(U.ev(s, "terminate"), 0)
    assert.is_not_nil(m, "the reply came before terminate ran")
    assert.same({ "normal", 9 }, { m[4], m[5] })
    assert.equal("normal", h.reason(ref))
  end)

  it("with a reply: terminate runs first even when it is slow", function()
    local s = server({ terminate = function() require("moonbeam").sleep(150) end })
    local elapsed, r = U.timed(gen.call, s, { "ret", "stop", "normal", "bye", 9 })
    assert.same({ true, "bye" }, { r[1], r[2] })
    assert.is_true(elapsed >= 120, "the reply did not wait for terminate: " .. elapsed .. " ms")
  end)

  it("with a reply: the reply survives a crashing terminate", function()
    local s, ref = server({ terminate = function() error("terminate broke") end })
    assert.equal("bye", gen.call(s, { "ret", "stop", "normal", "bye", 9 }))
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    assert.matches("terminate broke", reason[2])
  end)

  it("with a reply: the reply survives terminate calling mb.exit", function()
    local s, ref = server({ terminate = function() require("moonbeam").exit("other") end })
    assert.equal("bye", gen.call(s, { "ret", "stop", "normal", "bye", 9 }))
    assert.equal("other", h.reason(ref))
  end)

  it("with a reply that cannot be sent: the caller gets {\"bad_reply\", ...}, the server its own reason", function()
    local s, ref = server()
    local ok, err = pcall(gen.call, s, { "fn", function(_, state)
      return "stop", "done", coroutine.create(print), state
    end })
    assert.is_false(ok)
    assert.equal("bad_reply", err[1], h.text(err))
    assert.equal("done", h.reason(ref))
  end)

  it("with a nil reply: the caller gets nil", function()
    local s = server()
    local ok, v = pcall(gen.call, s, { "ret", "stop", "normal", nil, 9, n = 5 })
    assert.is_true(ok, h.text(v))
    assert.is_nil(v)
  end)
end)

describe("gen_server stopping with a reason larger than max_message_size", function()
  before_each(h.before)
  after_each(h.after)

  it("exits with a bounded {\"error\", \"exit reason too large (N bytes): ...\"}", function()
    local old = mb.max_message_size(4096)
    finally(function() mb.max_message_size(old) end)
    local s = gen.start(SCRIPT, { state = 1 })   -- unwatched: terminate sends nothing
    local ref = mb.monitor(s)
    gen.cast(s, { "fn", function(state) return "stop", string.rep("r", 5000), state end })
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    assert.matches("^exit reason too large %(%d+ bytes%): r+%.%.%.$", reason[2])
  end)
end)

describe("gen_server terminate", function()
  before_each(h.before)
  after_each(h.after)

  it("runs with {\"error\", message, traceback} when a callback raises", function()
    local s, ref = server({ state = "st" })
    gen.cast(s, { "fn", function() error("cast broke") end })
    local reason, state = terminated(s)
    assert.equal("error", reason[1])
    assert.matches("cast broke", reason[2])
    assert.equal("string", type(reason[3]))
    assert.equal("st", state)
    assert.same(reason, h.reason(ref))
  end)

  it("runs with exactly the reason of mb.exit(reason) in a callback", function()
    local s, ref = server({ state = "st" })
    mb.send(s, { "fn", function() require("moonbeam").exit({ "my", "reason" }) end })
    assert.same({ "my", "reason" }, (terminated(s)))
    assert.same({ "my", "reason" }, h.reason(ref))
  end)

  it("runs with {\"bad_return_value\", x} when handle_call returns a bad value", function()
    local s, ref = server({ state = "st" })
    assert.same({ "exit", { "bad_return_value", "what" } }, U.raised(gen.call, s, { "ret", "what" }))
    assert.same({ { "bad_return_value", "what" }, "st" }, { terminated(s) })
    assert.same({ "bad_return_value", "what" }, h.reason(ref))
  end)

  it("runs with {\"bad_return_value\", x} when handle_cast returns a bad value", function()
    local s, ref = server({ state = "st" })
    gen.cast(s, { "ret", 42 })
    assert.same({ "bad_return_value", 42 }, (terminated(s)))
    assert.same({ "bad_return_value", 42 }, h.reason(ref))
  end)

  it("runs with {\"bad_return_value\", {values...}} for several bad values", function()
    local s, ref = server({ state = "st" })
    mb.send(s, { "ret", "noreply", "st", 10, "extra" })
    assert.same({ "bad_return_value", { "noreply", "st", 10, "extra" } }, (terminated(s)))
    assert.same({ "bad_return_value", { "noreply", "st", 10, "extra" } }, h.reason(ref))
  end)

  it("runs with {\"bad_return_value\", ...} for \"reply\" from handle_cast", function()
    local s, ref = server({ state = "st" })
    gen.cast(s, { "ret", "reply", 1, "st" })
    assert.same({ "bad_return_value", { "reply", 1, "st" } }, (terminated(s)))
    assert.same({ "bad_return_value", { "reply", 1, "st" } }, h.reason(ref))
  end)

  it("runs with {\"bad_return_value\", ...} for \"stop\" without a state", function()
    local s, ref = server({ state = "st" })
    gen.cast(s, { "ret", "stop", "normal" })
    local reason = terminated(s)
    assert.equal("bad_return_value", reason[1])
    assert.equal("bad_return_value", h.reason(ref)[1])
  end)

  it("runs with {\"bad_return_value\", ...} for \"stop\" with a nil reason, and sends no reply", function()
    -- no process can end with nil: it used to crash in the loop with
    -- "exit: a reason is required" after terminate(nil, state) ran
    local s, ref = server({ state = "st" })
    gen.cast(s, { "ret", "stop", nil, "st", n = 4 })
    assert.same({ "bad_return_value", { "stop", nil, "st" } }, (terminated(s)))
    assert.same({ "bad_return_value", { "stop", nil, "st" } }, h.reason(ref))
    local c = server({ state = "st" })
    assert.same({ "exit", { "bad_return_value", { "stop", nil, "r", "st" } } },
      U.raised(gen.call, c, { "ret", "stop", nil, "r", "st", n = 5 }))
  end)

  it("ends with {\"bad_return_value\", why} for a stop reason no process can end with", function()
    -- a coroutine, a table with a metatable: no message carries them, so no
    -- exit reason either (it used to crash inside the loop, naming it)
    local M = { init = function() return "ok", 0 end,
                handle_cast = function(_, s) return "stop", setmetatable({}, {}), s end,
                handle_call = function(_, _, s) return "stop", { "shutdown", coroutine.create(print) }, "r", s end }
    local p = assert(gen.start(M, nil))
    local ref = mb.monitor(p)
    gen.cast(p, "x")
    assert.same({ "bad_return_value", "reason: cannot send a table with a metatable" }, h.reason(ref))
    local q = assert(gen.start(M, nil))
    ref = mb.monitor(q)
    assert.equal("r", gen.call(q, "x"))   -- the stop's reply still goes out
    local why = h.reason(ref)
    assert.equal("bad_return_value", why[1])
    assert.matches("cannot send a coroutine", why[2], 1, true)
    local ok, err = gen.start({ init = function() return "stop", coroutine.create(print) end }, nil)
    assert.is_nil(ok)
    assert.same({ "bad_return_value", "reason: cannot send a coroutine" }, { err[1], err[2] })
  end)

  it("runs on the parent's EXIT when the server traps exits", function()
    local ref, p = U.in_process(function(watcher)
      local gen = require "moonbeam.gen_server"
      local pid = gen.start_link("spec.support.gs_script", { watcher = watcher, state = "st" },
        { trap_exit = true })
      require("moonbeam").send(watcher, { "server", pid })
      require("moonbeam").receive()
    end, mb.self())
    local srv = h.expect(h.tuple("server"), "the server")[2]
    U.event(srv, "init")
    local sref = mb.monitor(srv)
    mb.exit(p, "parent gone")
    assert.equal("parent gone", h.reason(ref))
    assert.same({ "parent gone", "st" }, { terminated(srv) })
    assert.equal("parent gone", h.reason(sref))
  end)

  it("runs on the parent's exit signal (a supervisor's shutdown) when trapping", function()
    local s = gen.start_link(SCRIPT, { watcher = mb.self(), state = "st" }, { trap_exit = true })
    U.event(s, "init")
    local ref = mb.monitor(s)
    mb.exit(s, "shutdown")
    assert.same({ "shutdown", "st" }, { terminated(s) })
    assert.equal("shutdown", h.reason(ref))
  end)

  it("runs on the parent's exit signal while the server is suspended (as OTP's sys suspend loop)", function()
    local s = gen.start_link(SCRIPT, { watcher = mb.self(), state = "st" }, { trap_exit = true })
    U.event(s, "init")
    local ref = mb.monitor(s)
    assert.is_true(gen.suspend(s))
    mb.send(s, "queued")   -- still held: only the parent's EXIT gets through
    mb.exit(s, "shutdown")
    assert.same({ "shutdown", "st" }, { terminated(s) })
    assert.equal("shutdown", h.reason(ref))
    assert.is_nil(mb.receive(function(m) return type(m) == "table" and m[1] == "ev" and m[3] == "handle_info" end, 0))
  end)

  it("runs with \"normal\" when the parent exits normally and the server traps exits", function()
    local ref, p = U.in_process(function(watcher)
      local gen = require "moonbeam.gen_server"
      local mb = require "moonbeam"
      local pid = gen.start_link("spec.support.gs_script", { watcher = watcher, state = "st" },
        { trap_exit = true })
      mb.send(watcher, { "server", pid })
      mb.receive(function(m) return m == "return" end)
      mb.exit("normal")
    end, mb.self())
    local srv = h.expect(h.tuple("server"), "the server")[2]
    U.event(srv, "init")
    local sref = mb.monitor(srv)
    mb.send(p, "return")
    assert.equal("normal", h.reason(ref))
    assert.same({ "normal", "st" }, { terminated(srv) })
    assert.equal("normal", h.reason(sref))
  end)

  it("does not run, and the server lives on, when the parent exits normally without trapping", function()
    local ref, p = U.in_process(function(watcher)
      local gen = require "moonbeam.gen_server"
      local mb = require "moonbeam"
      local pid = gen.start_link("spec.support.gs_script", { watcher = watcher, state = "st" })
      mb.send(watcher, { "server", pid })
      mb.receive(function(m) return m == "return" end)
      mb.exit("normal")
    end, mb.self())
    local srv = h.expect(h.tuple("server"), "the server")[2]
    U.event(srv, "init")
    mb.send(p, "return")
    assert.equal("normal", h.reason(ref))
    U.no_event(srv, "terminate", 100)
    assert.equal("pong", gen.call(srv, "ping"))
  end)

  it("does not run on the parent's exit when the server does not trap exits", function()
    local ref, p = U.in_process(function(watcher)
      local gen = require "moonbeam.gen_server"
      local pid = gen.start_link("spec.support.gs_script", { watcher = watcher, state = "st" })
      require("moonbeam").send(watcher, { "server", pid })
      require("moonbeam").receive()
    end, mb.self())
    local srv = h.expect(h.tuple("server"), "the server")[2]
    U.event(srv, "init")
    local sref = mb.monitor(srv)
    mb.exit(p, "parent gone")
    assert.equal("parent gone", h.reason(ref))
    assert.equal("parent gone", h.reason(sref))
    U.no_event(srv, "terminate", 100)
  end)

  it("handles messages queued before the parent's EXIT first", function()
    local s = gen.start_link(SCRIPT, { watcher = mb.self(), state = {} }, { trap_exit = true })
    U.event(s, "init")
    gen.cast(s, { "fn", function(state) require("moonbeam").sleep(50); return "noreply", state end })
    for i = 1, 3 do
      gen.cast(s, { "fn", function(state, i) state[#state + 1] = i; return "noreply", state end, i })
    end
    mb.exit(s, "shutdown")
    local reason, state = terminated(s)
    assert.equal("shutdown", reason)
    assert.same({ 1, 2, 3 }, state)
  end)

  it("does not run for a plain start's starter exit signal: that goes to handle_info", function()
    local s = gen.start(SCRIPT, { watcher = mb.self() }, { trap_exit = true })
    U.event(s, "init")
    mb.exit(s, "not my parent")
    assert.same({ "EXIT", mb.self(), "not my parent" }, U.event(s, "info")[4])
    U.no_event(s, "terminate", 100)
    assert.is_true(mb.alive(s))
  end)

  it("does not run on an exit signal when the server does not trap exits", function()
    local s, ref = server()
    mb.exit(s, "shot")
    assert.equal("shot", h.reason(ref))
    U.no_event(s, "terminate", 100)
  end)

  it("never runs on \"kill\", even when trapping exits", function()
    local s = gen.start_link(SCRIPT, { watcher = mb.self() }, { trap_exit = true })
    U.event(s, "init")
    local ref = mb.monitor(s)
    mb.exit(s, "kill")
    assert.equal("killed", h.reason(ref))
    U.no_event(s, "terminate", 200)
  end)

  it("does not run when init fails", function()
    local pid = gen.start(SCRIPT, { watcher = mb.self(), ret = { "stop", "nope" } })
    assert.is_nil(pid)
    U.event(nil, "init")
    U.no_event(nil, "terminate", 100)
  end)

  it("does not run for a missing handle_info", function()
    -- (the missing callback logs and drops the message; nothing stops)
    local s = gen.start({
      init = function(w) return "ok", w end,
      terminate = function(reason, w) require("moonbeam").send(w, { "terminated", reason }) end,
      handle_call = function(req, from, s) return "reply", true, s end,
    }, mb.self())
    assert.is_true(gen.call(s, "x"))
    assert.is_nil(mb.receive(h.tuple("terminated"), 50))
  end)

  it("runs for a missing handle_call or handle_cast with {\"undef\", name}", function()
    local mod = {
      init = function(w) return "ok", w end,
      terminate = function(reason, w) require("moonbeam").send(w, { "terminated", reason }) end,
    }
    local a = gen.start(mod, mb.self())
    U.raised(gen.call, a, "x")
    assert.same({ "terminated", { "undef", "handle_call" } }, h.expect(h.tuple("terminated")))
    local b = gen.start(mod, mb.self())
    gen.cast(b, "x")
    assert.same({ "terminated", { "undef", "handle_cast" } }, h.expect(h.tuple("terminated")))
  end)

  it("may itself call mb.exit(reason) to change the exit reason", function()
    local s, ref = server({ terminate = function() require("moonbeam").exit("changed") end })
    gen.cast(s, { "ret", "stop", "original", "$state" })
    assert.equal("changed", h.reason(ref))
  end)

  it("is told the state of the last successful callback", function()
    local s = server({ state = 0 })
    gen.cast(s, { "set", 1 })
    gen.cast(s, { "set", 2 })
    gen.cast(s, { "fn", function() error("x") end })
    local _, state = terminated(s)
    assert.equal(2, state)
  end)
end)

describe("gen.stop, where it cannot wait", function()
  before_each(h.before)
  after_each(h.after)

  it("raises inside a coroutine of the process's own, and the server goes on", function()
    local s = server()
    mb.spawn(function(parent, s)
      local mb, gen = require "moonbeam", require "moonbeam.gen_server"
      local ok, err = coroutine.resume(coroutine.create(function() return gen.stop(s) end))
      mb.send(parent, { "in coroutine", ok, err })
    end, mb.self(), s)
    local m = h.expect(h.tuple("in coroutine"), "the caller's report")
    assert.is_false(m[2])
    assert.matches("gen_server.stop: cannot wait inside a coroutine of your own; stop from the process's body",
                   m[3], 1, true)
    assert.is_true(mb.alive(s))
    assert.is_true(gen.stop(s))
  end)

  -- NaN is no NaN by ==: it raised {"exit", {"shutdown", nan}}.
  it("returns true for a reason holding NaN, which the server ended with", function()
    local s = server()
    assert.is_true(gen.stop(s, { "shutdown", 0 / 0 }))
  end)

  it("with reason \"noproc\" returns true once the server ended so, as OTP's", function()
    local s, ref = server()
    assert.is_true(gen.stop(s, "noproc"))
    assert.equal("noproc", (terminated(s)))
    assert.equal("noproc", h.reason(ref))
  end)
end)
