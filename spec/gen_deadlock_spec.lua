-- Call cycles and re-entrancy: docs/semantics.md ("Calls"). Beyond OTP,
-- a call that closes a cycle of servers waiting on each other (A calls B
-- calls A, or longer) fails at once in every caller of the cycle with
-- {"deadlock", chain}, instead of a 5 s timeout each. A server blocked in its
-- own outgoing call handles nothing else meanwhile.

local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local h = require "spec.support.helpers"
local U = require "spec.support.gs_util"

local SCRIPT = U.SCRIPT

local function server(state)
  local pid, err = gen.start(SCRIPT, { state = state })
  assert(pid, h.text(err))
  return pid
end

-- A request: the server try_calls target with inner, tells the spec
-- {"relayed", server, reply, err, elapsed_ms}, and replies {r =, e =}.
local function relay(target, inner, timeout)
  return { "fn", function(from, state, target, inner, timeout, watcher)
    local gen = require "moonbeam.gen_server"
    local mb = require "moonbeam"
    local t0 = mb.now()
    local r, e = gen.try_call(target, inner, timeout)
    mb.send(watcher, { "relayed", mb.self(), r, e, mb.now() - t0 })
    return "reply", { r = r, e = e }, state
  end, target, inner, timeout or 5000, mb.self() }
end

local held = U.held

-- The {"relayed", pid, reply, err, elapsed} message of pid.
local function relayed(pid)
  return h.expect(function(m) return type(m) == "table" and m[1] == "relayed" and m[2] == pid end,
    "the outcome of " .. tostring(pid) .. "'s call")
end

-- Asserts err is {"deadlock", chain}, chain a closed cycle through pids.
local function assert_deadlock(err, ...)
  assert.equal("table", type(err), h.text(err))
  assert.equal("deadlock", err[1], h.text(err))
  local chain = err[2]
  assert.equal("table", type(chain), h.text(err))
  for _, p in ipairs(chain) do assert.is_true(h.is_pid(p), h.text(err)) end
  assert.equal(chain[1], chain[#chain], "the chain is not a closed cycle: " .. h.text(err))
  for _, pid in ipairs({ ... }) do
    assert.is_true(h.contains(chain, pid), tostring(pid) .. " not in " .. h.text(err))
  end
end

describe("a call cycle", function()
  before_each(h.before)
  after_each(h.after)

  it("A calls B calls A: both calls fail at once with {\"deadlock\", chain}", function()
    local a, b = server("a"), server("b")
    local elapsed, r = U.timed(gen.call, a, relay(b, relay(a, "ping")), 5000)
    assert.is_true(r[1], h.text(r[2]))
    assert.is_true(elapsed < 2000, "elapsed " .. elapsed)
    assert_deadlock(r[2].e, a, b)
    local ra, rb = relayed(a), relayed(b)
    assert_deadlock(ra[4], a, b)
    assert_deadlock(rb[4], a, b)
    -- each caller's chain runs from itself round to itself
    assert.same({ a, b, a }, ra[4][2])
    assert.same({ b, a, b }, rb[4][2])
    assert.is_true(ra[5] < 2000 and rb[5] < 2000, "elapsed " .. ra[5] .. ", " .. rb[5])
  end)

  it("A calls B calls C calls A: all three fail at once", function()
    local a, b, c = server("a"), server("b"), server("c")
    local elapsed, r = U.timed(gen.call, a, relay(b, relay(c, relay(a, "ping"))), 5000)
    assert.is_true(r[1], h.text(r[2]))
    assert.is_true(elapsed < 2000, "elapsed " .. elapsed)
    local after = { [a] = b, [b] = c, [c] = a }
    for _, p in ipairs({ a, b, c }) do
      local m = relayed(p)
      assert_deadlock(m[4], a, b, c)
      assert.same({ p, after[p], after[after[p]], p }, m[4][2])   -- from p round to p
      assert.is_true(m[5] < 2000, "elapsed " .. m[5])
    end
  end)

  it("of five servers fails at once in every caller", function()
    local s = {}
    for i = 1, 5 do s[i] = server(i) end
    local req = relay(s[1], "ping")
    for i = 5, 2, -1 do req = relay(s[i], req) end
    local elapsed, r = U.timed(gen.call, s[1], req, 5000)
    assert.is_true(r[1], h.text(r[2]))
    assert.is_true(elapsed < 2000, "elapsed " .. elapsed)
    for i = 1, 5 do assert_deadlock(relayed(s[i])[4], unpack(s)) end
  end)

  it("fails at once with timeout \"infinity\" too", function()
    local a, b = server("a"), server("b")
    local elapsed, r = U.timed(gen.call, a, relay(b, relay(a, "ping", "infinity"), "infinity"), 5000)
    assert.is_true(r[1], h.text(r[2]))
    assert.is_true(elapsed < 2000, "elapsed " .. elapsed)
    assert_deadlock(relayed(a)[4], a, b)
    assert_deadlock(relayed(b)[4], a, b)
  end)

  it("through the spec's own process fails the spec's call too", function()
    local a = server("a")
    local elapsed, r = U.timed(gen.call, a, relay(mb.self(), "ping"), 5000)
    assert.is_false(r[1])
    assert.is_true(elapsed < 2000, "elapsed " .. elapsed)
    assert_deadlock(r[2], a, mb.self())
    assert_deadlock(relayed(a)[4], a, mb.self())
  end)

  it("makes gen.call raise exactly {\"deadlock\", chain}", function()
    local a, b = server("a"), server("b")
    local inner = { "fn", function(from, state, a)
      local gen = require "moonbeam.gen_server"
      local ok, err = pcall(gen.call, a, "ping")
      return "reply", { ok = ok, err = err }, state
    end, a }
    local got = gen.call(a, { "fn", function(from, state, b, inner)
      local gen = require "moonbeam.gen_server"
      local ok, err = pcall(gen.call, b, inner)
      return "reply", { ok = ok, err = err }, state
    end, b, inner })
    assert.is_false(got.ok)
    assert_deadlock(got.err, a, b)
    assert.equal(2, #got.err)
  end)

  it("leaves both servers serving, with empty mailboxes", function()
    local a, b = server("a"), server("b")
    gen.call(a, relay(b, relay(a, "ping")))
    relayed(a); relayed(b)
    assert.equal("pong", gen.call(a, "ping"))
    assert.equal("pong", gen.call(b, "ping"))
    assert.is_true(h.wait_until(function()
      return mb.info(a).message_queue_len == 0 and mb.info(b).message_queue_len == 0
    end, 500))
    -- and the same two can call each other again, one way then the other
    assert.equal("pong", gen.call(a, relay(b, "ping")).r)
    assert.equal("pong", gen.call(b, relay(a, "ping")).r)
  end)

  it("kills a server that lets the deadlock error go uncaught, and its caller learns why", function()
    local a, b = server("a"), server("b")
    local inner = { "fn", function(from, state, a)
      return "reply", require("moonbeam.gen_server").call(a, "ping"), state
    end, a }
    local ref = mb.monitor(b)
    local got = gen.call(a, relay(b, inner))
    assert.equal("deadlock", got.e[1])
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    assert.equal("deadlock", reason[2][1])
  end)
end)

describe("no false deadlock", function()
  before_each(h.before)
  after_each(h.after)

  it("when the server calls back a caller it has killed: {\"noproc\"}", function()
    local a = server("a")
    for _ = 1, 30 do
      mb.spawn(function(a, parent)
        require("moonbeam.gen_server").call(a, { "fn", function(from, state, parent)
          local mb, gen = require "moonbeam", require "moonbeam.gen_server"
          mb.exit(from[1], "kill")
          mb.send(parent, { "called back", gen.try_call(from[1], "hi", 1000) })
          return "reply", "unread", state
        end, parent })
      end, a, mb.self())
      local m = h.expect(h.tuple("called back"), "the call back's outcome")
      assert.same({ "noproc" }, m[3], h.text(m))
    end
  end)

  it("for a chain of calls without a cycle", function()
    local a, b, c = server("a"), server("b"), server("c")
    local got = gen.call(a, relay(b, relay(c, "ping")))
    assert.is_nil(got.e)
    assert.is_nil(got.r.e)
    assert.equal("pong", got.r.r)
  end)

  it("for many callers of one server that is itself calling another", function()
    local a, b = server("a"), server("b")
    for i = 1, 10 do
      mb.spawn(function(parent, a, req)
        local gen = require "moonbeam.gen_server"
        local r, e = gen.try_call(a, req, 5000)
        require("moonbeam").send(parent, { "caller done", r, e })
      end, mb.self(), a, relay(b, { "fn", function(from, state)
        require("moonbeam").sleep(5)
        return "reply", "slow pong", state
      end }))
    end
    for _ = 1, 10 do
      local m = h.expect(h.tuple("caller done"), "a caller")
      assert.is_nil(m[3] and m[3].e)
      assert.is_nil(m[4])
    end
  end)

  it("after a call that timed out", function()
    local a, b = server("a"), server("b")
    local got = gen.call(a, relay(b, held("slow"), 20))
    assert.same({ "timeout" }, got.e)
    mb.send(b, "go")
    -- a no longer waits on b: b calling a is no cycle
    local back = gen.call(b, relay(a, "ping"), 2000)
    assert.is_nil(back.e)
    assert.equal("pong", back.r)
  end)

  it("after a call to a dead server", function()
    local a, b = server("a"), server("b")
    local got = gen.call(a, relay(h.dead_pid(), "ping"))
    assert.same({ "noproc" }, got.e)
    assert.equal("pong", gen.call(b, relay(a, "ping")).r)
  end)

  it("after a call whose request could not be sent", function()
    local a, b = server("a"), server("b")
    local got = gen.call(a, { "fn", function(from, state, b)
      local gen = require "moonbeam.gen_server"
      local up = 1
      local ok, err = pcall(gen.call, b, function() return up end)
      return "reply", { ok = ok, err = tostring(err) }, state
    end, b })
    assert.is_false(got.ok)
    assert.matches("upvalue", got.err)
    -- a is no longer calling b: b calling a must work
    local back = gen.call(b, relay(a, "ping"), 2000)
    assert.is_nil(back.e, h.text(back.e))
    assert.equal("pong", back.r)
  end)

  it("after a server's deferred reply: the caller no longer waits", function()
    local a, b = server("a"), server("b")
    assert.equal("pong", gen.call(a, relay(b, "ping")).r)
    assert.equal("pong", gen.call(b, relay(a, "ping")).r)
  end)

  -- B answers A's call with noreply and hands `from` to a helper, which
  -- replies 100 ms later; meanwhile B calls A. In OTP both calls succeed:
  -- B's waits until A has its reply and is free. No cycle: the reply does
  -- not need B.
  it("when the server handed the reply to another process and calls its caller back", function()
    local B = assert(gen.start({
      init = function() return "ok", {} end,
      handle_call = function(_, from, s)
        local mb = require "moonbeam"
        mb.spawn(function(from)
          require("moonbeam").sleep(100)
          require("moonbeam.gen_server").reply(from, "done")
        end, from)
        mb.send(mb.self(), { "call_back", from[1] })
        return "noreply", s
      end,
      handle_info = function(m, s)
        s.back = { require("moonbeam.gen_server").try_call(m[2], "hello", 2000) }
        return "noreply", s
      end,
    }))
    local A = assert(gen.start({
      init = function(b) return "ok", b end,
      handle_call = function(req, _, b)
        if req == "go" then return "reply", require("moonbeam.gen_server").call(b, "work", 2000), b end
        return "reply", "hi", b
      end,
    }, B))
    assert.equal("done", gen.call(A, "go", 3000))
    assert.is_true(h.wait_until(function() return gen.get_state(B).back ~= nil end))
    assert.same({ "hi" }, gen.get_state(B).back)
  end)

  -- The same, with B calling A back inside the callback, once it has sent
  -- `from` away: both calls failed with {"deadlock", ...} (OTP-SEMANTICS
  -- 2.5: detection may only make a real cycle fail faster).
  for _, timeout in ipairs({ "", " (a timeout of its own running: found by review)" }) do
  it("when the server sent `from` to a helper and calls its caller back before it returns" .. timeout, function()
    local B = assert(gen.start({
      init = function(t) return "ok", {}, t end,
      handle_call = function(_, from, s)
        local mb = require "moonbeam"
        mb.spawn(function(from)
          require("moonbeam").sleep(50)
          require("moonbeam.gen_server").reply(from, "done")
        end, from)
        s.back = { require("moonbeam.gen_server").try_call(from[1], "hello", 2000) }
        return "noreply", s
      end,
    }, timeout ~= "" and 60000 or nil))   -- (its call then comes by a plain receive)
    local A = assert(gen.start({
      init = function(b) return "ok", b end,
      handle_call = function(req, _, b)
        if req == "go" then return "reply", { require("moonbeam.gen_server").try_call(b, "work", 2000) }, b end
        return "reply", "hi", b
      end,
    }, B))
    assert.same({ "done" }, gen.call(A, "go", 3000))
    assert.same({ "hi" }, gen.get_state(B).back)
  end)
  end
end)

describe("gen.stop in a wait cycle", function()
  before_each(h.before)
  after_each(h.after)

  it("still returns true once the stopped server exits normally", function()
    local a, b = server("a"), server("b")
    -- b: wait for a's stop request to be queued, then call a, which waits in
    -- gen.stop(b): a cycle; b catches its error and returns, then stops.
    mb.spawn(function(parent, b, req)
      local gen = require "moonbeam.gen_server"
      local r, e = gen.try_call(b, req, 5000)
      require("moonbeam").send(parent, { "b answered", r, e })
    end, mb.self(), b, { "fn", function(from, state, a, watcher)
      local gen = require "moonbeam.gen_server"
      local mb = require "moonbeam"
      mb.send(watcher, "b in its call")
      local deadline = mb.now() + 5000
      while mb.info(mb.self()).message_queue_len == 0 and mb.now() < deadline do mb.sleep(1) end
      local r, e = gen.try_call(a, "ping", 5000)
      mb.send(watcher, { "b called a", r, e })
      return "reply", "b done", state
    end, a, mb.self() })
    h.expect(function(m) return m == "b in its call" end, "b in its call")
    local ref = mb.monitor(b)
    gen.cast(a, { "fn", function(state, b, watcher)
      local gen = require "moonbeam.gen_server"
      local mb = require "moonbeam"
      local ok, err = pcall(gen.stop, b)
      mb.send(watcher, { "stop returned", ok, err })
      return "noreply", state
    end, b, mb.self() })
    local called = h.expect(h.tuple("b called a"), "b's call")
    assert.equal("deadlock", called[3] and called[3][1], h.text(called))
    assert.equal("normal", h.reason(ref))
    local stopped = h.expect(h.tuple("stop returned"), "a's stop")
    assert.same({ "stop returned", true, true }, { stopped[1], stopped[2], stopped[3] })
  end)
end)

describe("gen.start whose init calls the starter", function()
  before_each(h.before)
  after_each(h.after)

  -- In a fresh process (the starter), gen.start a server whose init calls
  -- the starter with call_fn ("try_call" or "call"); the starter sends
  -- back {"result", starter, true, pid, err}.
  local function start_calling_starter(call_fn)
    local _, p = U.in_process(function(call_fn)
      local gen = require "moonbeam.gen_server"
      local mb = require "moonbeam"
      return gen.start("spec.support.gs_script", { starter = mb.self(), call_fn = call_fn, init = function(arg)
        local gen = require "moonbeam.gen_server"
        local r, e = gen[arg.call_fn](arg.starter, "x", 1000)
        return "ok", { r = r, e = e }
      end }, { timeout = 1500 })
    end, call_fn)
    local r = U.result(p, 3000)
    assert.is_not_nil(r, "gen.start did not return")
    assert.is_true(r[3], h.text(r[4]))
    return r[4], r[5]
  end

  it("returns the pid when init catches the deadlock and returns \"ok\"", function()
    local pid, err = start_calling_starter("try_call")
    assert.is_true(h.is_pid(pid), h.text(err))
    local state = gen.get_state(pid)
    assert.equal("deadlock", state.e[1])
  end)

  it("returns nil and init's crash when the deadlock error goes uncaught", function()
    local pid, err = start_calling_starter("call")
    assert.is_nil(pid)
    assert.equal("error", err[1], h.text(err))
    assert.equal("deadlock", err[2][1], h.text(err))
  end)
end)

describe("a server blocked in its own outgoing call", function()
  before_each(h.before)
  after_each(h.after)

  it("handles no other message meanwhile and keeps their order", function()
    local a = gen.start(SCRIPT, { watcher = mb.self(), state = {} })
    U.event(a, "init")
    local b = server("b")
    local slow = held("slow reply", mb.self())
    -- a calls b (held until the spec's go) from handle_cast; meanwhile the spec sends a more
    local log = function(tag)
      return { "fn", function(state, tag) state[#state + 1] = tag; return "noreply", state end, tag }
    end
    gen.cast(a, { "fn", function(state, b, slow)
      local gen = require "moonbeam.gen_server"
      state[#state + 1] = gen.call(b, slow)
      return "noreply", state
    end, b, slow })
    U.event(a, "cast")
    mb.send(a, log("info 1"))
    gen.cast(a, log("cast 1"))
    mb.send(a, log("info 2"))
    -- The state call comes from a helper: once the helper waits in it, its
    -- request is with the others in a's mailbox, and b may answer. Had a
    -- answered anything while blocked, "slow reply" would not come first.
    local caller = mb.spawn(function(parent, a)
      local gen = require "moonbeam.gen_server"
      require("moonbeam").send(parent, { "state", gen.call(a, "state", 10000) })
    end, mb.self(), a)
    assert.is_true(h.wait_until(function()
      local info = mb.info(caller)
      return info == nil or info.status == "waiting"
    end), "the state call was never made")
    h.expect(h.tuple("held", b), "b to hold a's call")
    mb.send(b, "go")
    local state = h.expect(h.tuple("state"), "a's state", 10000)[2]
    assert.same({ "slow reply", "info 1", "cast 1", "info 2" }, state)
    -- nothing ran before the outgoing call returned
    local order = {}
    for _, m in ipairs(h.drain()) do if m[1] == "ev" then order[#order + 1] = m[3] end end
    assert.same({ "info", "cast", "info", "call" }, order)
  end)

  it("gets only its reply, and finds the others queued after", function()
    local a = gen.start(SCRIPT, { watcher = mb.self(), state = {} })
    U.event(a, "init")
    local b = server("b")
    local got = gen.call(a, { "fn", function(from, state, b)
      local mb = require "moonbeam"
      local gen = require "moonbeam.gen_server"
      -- messages that land in a's mailbox while it waits on b
      for i = 1, 100 do mb.send(mb.self(), { "queued", i }) end
      local r = gen.call(b, "ping")
      return "reply", { r = r, queued = mb.info(mb.self()).message_queue_len }, state
    end, b })
    assert.equal("pong", got.r)
    assert.equal(100, got.queued)
    for i = 1, 100 do
      local m = U.event(a, "info")
      assert.same({ "queued", i }, m[4])
    end
  end)
end)
