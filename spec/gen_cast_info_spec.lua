-- gen_server cast, info, continue, timeouts and hibernate: docs/reference.md
-- ("gen_server") and docs/semantics.md ("gen_server", "The loop").

local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local h = require "spec.support.helpers"
local U = require "spec.support.gs_util"
local sh = require "spec.support.shell"

-- describe for specs that run `moonbeam run` in a subprocess; where that
-- cannot run (under a preloaded sanitizer runtime), one pending test instead.
local function describe_subprocess(name, fn)
  if U.can_run_subprocesses() then return describe(name, fn) end
  describe(name, function() pending("needs subprocesses, which cannot run here") end)
end

local SCRIPT = U.SCRIPT

-- The callbacks a watched gs_script server ran, in order, as
-- {callback, message} pairs, until (and including) the event stop_at.
local function events_until(pid, stop_at)
  local seen = {}
  while true do
    local m = h.expect(function(m) return type(m) == "table" and m[1] == "ev" and m[2] == pid end,
      "events of " .. tostring(pid))
    seen[#seen + 1] = { m[3], m[4] }
    if m[3] == stop_at[1] and (stop_at[2] == nil or m[4] == stop_at[2]) then return seen end
  end
end

describe("gen.cast", function()
  before_each(h.before)
  after_each(h.after)

  it("returns true and runs handle_cast", function()
    local c = gen.start_link("spec.support.counter", 5)
    assert.is_true(gen.cast(c, "reset"))
    assert.equal(0, gen.call(c, "get"))
  end)

  it("reaches a server by its registered name", function()
    local name = h.name("counter")
    gen.start_link("spec.support.counter", 5, { name = name })
    assert.is_true(gen.cast(name, "increment"))
    assert.equal(6, gen.call(name, "get"))
  end)

  it("sends a string as it is, of any length up to max_message_size, and refuses a longer one", function()
    local s = U.start()
    local limit = 300
    local old = mb.max_message_size(limit)
    finally(function() mb.max_message_size(old) end)
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local all = table.concat(bytes)   -- every byte value, NULs too
    for _, msg in ipairs({ "", "x", all:sub(1, 127), all:sub(1, 128), all:sub(1, 255) }) do
      assert.is_true(gen.cast(s, msg))
      assert.equal(msg, U.event(s, "cast")[4])
    end
    local ok, err = pcall(gen.cast, s, ("y"):rep(limit + 1))
    assert.is_false(ok)
    assert.matches("gen_server.cast: msg: message larger than the limit of " .. limit .. " bytes", err, 1, true)
    assert.is_true(gen.cast(s, "after"))
    assert.equal("after", U.event(s, "cast")[4])
  end)

  it("returns true for a dead pid and for an unknown name", function()
    assert.is_true(gen.cast(h.dead_pid(), "x"))
    assert.is_true(gen.cast(h.name("nobody"), "x"))
    assert.is_true(gen.cast(h.dead_pid(), nil))   -- nil is a msg a live server gets
    assert.is_true(gen.cast(h.name("nobody"), nil))
  end)

  it("raises for a msg that cannot be sent, to a dead pid and to an unknown name alike", function()
    local up = {}
    local bad = { f = function() return up end }
    for _, server in ipairs({ h.dead_pid(), h.name("nobody") }) do
      local ok, err = pcall(gen.cast, server, bad)
      assert.is_false(ok)
      assert.equal("gen_server.cast: msg.f: cannot send a function with upvalues", err)
    end
  end)

  it("returns true at once, without waiting for the server", function()
    local s = U.start()
    -- The server is held until told "go" (or 5 s pass), after the cast returned.
    gen.cast(s, { "fn", function(state)
      require("moonbeam").receive(function(m) return m == "go" end, 5000)
      return "noreply", state
    end })
    local elapsed, r = U.timed(gen.cast, s, "second")
    assert.is_true(r[1] and r[2], h.text(r[2]))
    assert.is_true(elapsed < 1000, "elapsed " .. elapsed)
    mb.send(s, "go")
  end)

  it("delivers casts in the order they were sent", function()
    local s = U.start({ state = {} })
    for i = 1, 200 do
      gen.cast(s, { "fn", function(state, i) state[#state + 1] = i; return "noreply", state end, i })
    end
    local got = gen.call(s, "state")
    assert.equal(200, #got)
    for i = 1, 200 do assert.equal(i, got[i]) end
  end)

  it("hands handle_cast the message unchanged", function()
    local s = U.start()
    local msg = { "job", { id = 7, tags = { "a", "b" } }, mb.self() }
    gen.cast(s, msg)
    assert.same(msg, U.event(s, "cast")[4])
  end)

  it("stops a server without handle_cast with {\"undef\", \"handle_cast\"}", function()
    local s = gen.start({ init = function() return "ok", 0 end })
    local ref = mb.monitor(s)
    assert.is_true(gen.cast(s, "x"))
    assert.same({ "undef", "handle_cast" }, h.reason(ref))
  end)

  it("raises for a server that is not a pid or a name", function()
    assert.matches("server", h.text(U.raised(gen.cast, 42, "x")))
  end)

  it("raises a clear error for a message that cannot be sent; the server keeps running", function()
    local s = U.start()
    local up = 1
    assert.equal("gen_server.cast: msg: cannot send a function with upvalues",
      h.text(U.raised(gen.cast, s, function() return up end)))
    assert.equal("gen_server.cast: msg.f: cannot send a function with upvalues",
      h.text(U.raised(gen.cast, s, { f = function() return up end })))
    assert.equal("pong", gen.call(s, "ping"))
  end)
end)

describe("gen_server info messages", function()
  before_each(h.before)
  after_each(h.after)

  it("go to handle_info when they are plain sends", function()
    local s = U.start()
    mb.send(s, "hello")
    mb.send(s, { "tagged", 1 })
    assert.equal("hello", U.event(s, "info")[4])
    assert.same({ "tagged", 1 }, U.event(s, "info")[4])
  end)

  it("go to handle_info in order, interleaved with casts as sent", function()
    local s = U.start()
    mb.send(s, "i1")
    gen.cast(s, "c1")
    mb.send(s, "i2")
    gen.cast(s, "c2")
    assert.same({ { "info", "i1" }, { "cast", "c1" }, { "info", "i2" }, { "cast", "c2" } },
      events_until(s, { "cast", "c2" }))
  end)

  it("include timer messages", function()
    local s = U.start()
    mb.send_after(10, s, "tick")
    assert.equal("tick", U.event(s, "info")[4])
  end)

  it("include DOWN messages of the server's monitors", function()
    local s = U.start()
    local victim = h.echo()
    local ref = gen.call(s, { "fn", function(from, state, v)
      return "reply", require("moonbeam").monitor(v), state
    end, victim })
    mb.send(victim, "stop")
    assert.same({ "DOWN", ref, "process", victim, "normal" }, U.event(s, "info")[4])
  end)

  it("include EXIT messages from a linked process that is not the parent", function()
    local s = U.start(nil, { trap_exit = true })
    local other = h.echo()
    gen.call(s, { "fn", function(from, state, o)
      require("moonbeam").link(o)
      return "reply", true, state
    end, other })
    mb.send(other, { "exit", "worker died" })
    assert.same({ "EXIT", other, "worker died" }, U.event(s, "info")[4])
    U.no_event(s, "terminate", 100)
    assert.equal("pong", gen.call(s, "ping"))
  end)

  it("may update the state", function()
    local s = U.start({ state = 1 })
    mb.send(s, { "set", 2 })
    U.event(s, "info")
    assert.equal(2, gen.call(s, "state"))
  end)
end)

describe_subprocess("a gen_server without handle_info", function()
  after_each(sh.cleanup)

  it("logs an unexpected message to stderr, drops it and keeps running", function()
    local path = sh.script([[
      local mb = require "moonbeam"
      local gen = require "moonbeam.gen_server"
      local s = assert(gen.start({
        init = function() return "ok", "kept" end,
        handle_call = function(req, from, state) return "reply", state, state end,
      }))
      mb.send(s, {"stray message", 4242})
      print("state", gen.call(s, "get"), mb.info(s).message_queue_len)
    ]])
    local status, out, err = sh.run("./build/bin/moonbeam run " .. sh.quote(path), 30)
    assert.equal(0, status, err)
    assert.matches("state\tkept\t0", out)
    assert.is_truthy(err:find("stray message", 1, true), err)
    assert.is_truthy(err:find("handle_info", 1, true), err)
  end)
end)

describe("gen_server {continue = x}", function()
  before_each(h.before)
  after_each(h.after)

  it("from init runs handle_continue after start returned", function()
    -- handle_continue blocks until the spec says "go": start would hang (and
    -- time out) if it waited for handle_continue.
    local pid, err = gen.start_link(SCRIPT, {
      watcher = mb.self(),
      extra = { continue = { "fn", function(state)
        local mb = require "moonbeam"
        mb.receive(function(m) return m == "go" end)
        return "noreply", "continued"
      end } },
    }, { timeout = 2000 })
    assert.is_true(h.is_pid(pid), h.text(err))
    mb.send(pid, "go")
    U.event(pid, "continue")
    assert.equal("continued", gen.call(pid, "state"))
  end)

  it("from init runs before messages already queued", function()
    local pid = gen.start_link(SCRIPT, {
      watcher = mb.self(),
      init = function(arg)
        local mb = require "moonbeam"
        local gen = require "moonbeam.gen_server"
        mb.send(mb.self(), "queued info")
        gen.cast(mb.self(), "queued cast")
        return "ok", 0, { continue = "first" }
      end,
    })
    mb.send(pid, "later info")
    assert.same({ { "init" }, { "continue", "first" }, { "info", "queued info" },
                  { "cast", "queued cast" }, { "info", "later info" } },
      events_until(pid, { "info", "later info" }))
  end)

  it("from init runs before a call made right after start", function()
    local pid = gen.start_link(SCRIPT, {
      extra = { continue = { "fn", function(state) return "noreply", "from continue" end } },
    })
    assert.equal("from continue", gen.call(pid, "state"))
  end)

  it("after a reply runs once the caller has the reply, before the next message", function()
    local s = U.start()
    local got = gen.call(s, { "ret", "reply", "answer", "$state", { continue = { "fn", function(state)
      local mb = require "moonbeam"
      mb.receive(function(m) return m == "go" end)
      return "noreply", "continued"
    end } } })
    assert.equal("answer", got)   -- while handle_continue still waits for "go"
    mb.send(s, "next")
    mb.send(s, "go")
    local seen = events_until(s, { "info", "next" })
    assert.equal("continue", seen[#seen - 1][1])
    assert.equal("continued", gen.call(s, "state"))
  end)

  it("from handle_cast and handle_info runs before the next message", function()
    local s = U.start()
    gen.cast(s, { "ret", "noreply", "$state", { continue = "after cast" } })
    mb.send(s, { "ret", "noreply", "$state", { continue = "after info" } })
    mb.send(s, "last")
    local seen = events_until(s, { "info", "last" })
    assert.same({ "cast", "continue", "info", "continue", "info" },
      { seen[1][1], seen[2][1], seen[3][1], seen[4][1], seen[5][1] })
    assert.equal("after cast", seen[2][2])
    assert.equal("after info", seen[4][2])
  end)

  it("may chain another continue, which also runs before any message", function()
    local s = U.start()
    gen.cast(s, { "ret", "noreply", "$state", { continue = { "ret", "noreply", "$state", { continue = "second" } } } })
    mb.send(s, "last")
    local seen = events_until(s, { "info", "last" })
    assert.same({ "cast", "continue", "continue", "info" },
      { seen[1][1], seen[2][1], seen[3][1], seen[4][1] })
    assert.equal("second", seen[3][2])
  end)

  it("lets handle_continue send a deferred reply", function()
    local s = U.start()
    local got = gen.call(s, { "fn", function(from, state)
      return "noreply", state, { continue = { "fn", function(state, from)
        require("moonbeam.gen_server").reply(from, "replied from continue")
        return "noreply", state
      end, from } }
    end })
    assert.equal("replied from continue", got)
  end)

  it("lets handle_continue stop the server", function()
    local s = U.start()
    local ref = mb.monitor(s)
    gen.cast(s, { "ret", "noreply", "$state", { continue = { "ret", "stop", "normal", "$state" } } })
    assert.equal("normal", h.reason(ref))
  end)

  it("stops a server without handle_continue with {\"undef\", \"handle_continue\"}", function()
    local s = gen.start({
      init = function() return "ok", 0 end,
      handle_cast = function(msg, state) return "noreply", state, { continue = msg } end,
    })
    local ref = mb.monitor(s)
    gen.cast(s, "x")
    assert.same({ "undef", "handle_continue" }, h.reason(ref))
  end)
end)

describe("gen_server timeout extra", function()
  before_each(h.before)
  after_each(h.after)

  it("from init delivers \"timeout\" to handle_info when nothing arrives", function()
    local pid = U.start({ extra = 50 })
    assert.equal("timeout", U.event(pid, "info")[4])
  end)

  it("of 0 from init delivers \"timeout\" at once", function()
    local pid = U.start({ extra = 0 })
    assert.equal("timeout", U.event(pid, "info", 1000)[4])
  end)

  it("from handle_cast, handle_info and handle_call delivers \"timeout\"", function()
    local s = U.start()
    gen.cast(s, { "ret", "noreply", "$state", 30 })
    U.event(s, "cast")
    assert.equal("timeout", U.event(s, "info")[4])
    mb.send(s, { "ret", "noreply", "$state", 30 })
    assert.equal("ret", U.event(s, "info")[4][1])
    assert.equal("timeout", U.event(s, "info")[4])
    assert.equal("r", gen.call(s, { "ret", "reply", "r", "$state", 30 }))
    assert.equal("timeout", U.event(s, "info")[4])
  end)

  it("fires once, not again", function()
    local s = U.start()
    gen.cast(s, { "ret", "noreply", "$state", 20 })
    U.event(s, "cast")
    assert.equal("timeout", U.event(s, "info")[4])
    assert.is_nil(mb.receive(U.ev(s, "info"), 100))   -- five times the extra
  end)

  it("does not come when a message arrives first", function()
    local s = U.start()
    gen.cast(s, { "fn", function(state)
      require("moonbeam").send_after(20, require("moonbeam").self(), "first")
      return "noreply", state, 200
    end })
    assert.equal("first", U.event(s, "info")[4])
    assert.is_nil(mb.receive(U.ev(s, "info"), 400))
  end)

  it("does not come when a message is already queued, even for 0", function()
    local s = U.start()
    gen.cast(s, { "fn", function(state)
      local mb = require "moonbeam"
      mb.send(mb.self(), "queued")
      return "noreply", state, 0
    end })
    assert.equal("queued", U.event(s, "info")[4])
    assert.is_nil(mb.receive(U.ev(s, "info"), 100))
  end)

  it("is not cancelled by a sys request such as get_state", function()
    local s = U.start({ state = "s" })
    gen.cast(s, { "ret", "noreply", "$state", 100 })
    U.event(s, "cast")
    assert.equal("s", gen.get_state(s))
    assert.equal("timeout", U.event(s, "info", 2000)[4])
  end)

  -- docs/reference.md ("gen_server"): an extra of "infinity", math.huge, or
  -- more than a timer can be set for means no timeout at all; it never
  -- fires, and costs no CPU.
  for _, case in ipairs({ { "math.huge", math.huge }, { "\"infinity\"", "infinity" }, { "2^64", 2 ^ 64 }, { "1e300", 1e300 } }) do
    it("of " .. case[1] .. " never delivers \"timeout\", and leaves the server idle", function()
      -- Two servers watched at once: the extra from init, and from handle_cast.
      local s = U.start({ extra = case[2] })
      local s2 = U.start()
      gen.cast(s2, { "ret", "noreply", "$state", case[2] })
      U.event(s2, "cast")
      local from_init, from_cast = U.ev(s, "info"), U.ev(s2, "info")
      local cpu, info = h.cpu_ms(mb.receive, function(m) return from_init(m) or from_cast(m) end, 300)
      assert.is_nil(info, "handle_info got " .. h.text(info))
      assert.is_true(cpu < 100, "300 ms of waiting cost " .. cpu .. " ms of CPU")
      assert.equal("pong", gen.call(s, "ping"))
      assert.equal("pong", gen.call(s2, "ping"))
    end)
  end

  it("of \"infinity\"-like garbage stops the server with {\"bad_return_value\", ...}", function()
    local s = gen.start(SCRIPT, { state = "st" })
    local ref = mb.monitor(s)
    gen.cast(s, { "ret", "noreply", "$state", "infinity-ish" })
    assert.same({ "bad_return_value", { "noreply", "st", "infinity-ish" } }, h.reason(ref))
  end)

  for _, bad in ipairs({ -1, 0 / 0, { continue = 1, also = 2 }, { "continue", 1 }, true }) do
    it("stops the server with {\"bad_return_value\", ...} for the extra " .. h.text(bad), function()
      local s = gen.start(SCRIPT, { state = "st" })
      local ref = mb.monitor(s)
      mb.send(s, { "ret", "noreply", "$state", bad })
      local reason = h.reason(ref)
      assert.equal("bad_return_value", reason[1])
      assert.equal("noreply", reason[2][1])
    end)
  end
end)

describe("gen_server \"hibernate\"", function()
  before_each(h.before)
  after_each(h.after)

  -- handle_call makes ~20 MB of garbage, keeps a small state, and returns extra.
  local function churn(extra)
    return { "fn", function(from, state, extra)
      local junk = {}
      for i = 1, 200000 do junk[i] = { i, tostring(i) .. "............................." } end
      junk = nil
      return "reply", true, state, extra
    end, extra }
  end

  it("keeps the state and the server serves the next message", function()
    local s = U.start({ state = { kept = { 1, 2, 3 } } })
    assert.equal("r", gen.call(s, { "ret", "reply", "r", "$state", "hibernate" }))
    assert.same({ kept = { 1, 2, 3 } }, gen.call(s, "state"))
    gen.cast(s, { "ret", "noreply", "$state", "hibernate" })
    mb.send(s, { "ret", "noreply", "$state", "hibernate" })
    assert.same({ kept = { 1, 2, 3 } }, gen.get_state(s))
    assert.equal("pong", gen.call(s, "ping"))
  end)

  it("from init gives a working server", function()
    local s = U.start({ state = 7, extra = "hibernate" })
    assert.equal(7, gen.call(s, "state"))
  end)

  it("compacts the memory of the server's state", function()
    local s = gen.start(SCRIPT, { state = "small" })
    -- Work, not waiting: a loaded machine may take longer than the default timeout.
    gen.call(s, churn(nil), 60000)
    local before = mb.info(s).memory
    gen.call(s, churn("hibernate"), 60000)
    local after = mb.info(s).memory
    assert.is_true(after < before / 2 and after < 8 * 1024 * 1024,
      ("memory %d -> %d"):format(before, after))
    assert.equal("small", gen.call(s, "state"))
  end)

  it("keeps a large state whole", function()
    local s = gen.start(SCRIPT, { state = {} })
    gen.call(s, { "fn", function(from, state)
      local big = {}
      for i = 1, 100000 do big[i] = "v" .. i end
      return "reply", true, big, "hibernate"
    end })
    local st = gen.get_state(s)
    assert.equal(100000, #st)
    assert.equal("v1", st[1])
    assert.equal("v100000", st[100000])
  end)
end)
