-- gen_server's sys-like tools: get_state, replace_state, suspend/resume,
-- get_status, trace. docs/reference.md ("gen_server", "The sys tools").

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

local function server(state, opts)
  local pid, err = gen.start(SCRIPT, { watcher = mb.self(), state = state }, opts)
  assert(pid, h.text(err))
  U.event(pid, "init")
  return pid
end

-- Asserts that the server ran no callback in the last ms.
local function no_callbacks(pid, ms)
  local m = mb.receive(function(m) return type(m) == "table" and m[1] == "ev" and m[2] == pid end, ms or 50)
  assert(m == nil, "unexpected callback: " .. h.text(m))
end

describe("gen.get_state", function()
  before_each(h.before)
  after_each(h.after)

  it("returns the state without running a callback", function()
    local s = server({ n = 1, list = { "a" } })
    assert.same({ n = 1, list = { "a" } }, gen.get_state(s))
    no_callbacks(s)
  end)

  it("follows state changes", function()
    local s = server(1)
    gen.cast(s, { "set", 2 })
    assert.equal(2, gen.get_state(s))
  end)

  it("reaches a server by its registered name", function()
    local name = h.name("gs")
    server("named", { name = name })
    assert.equal("named", gen.get_state(name))
  end)

  it("works on a suspended server", function()
    local s = server("s")
    gen.suspend(s)
    assert.equal("s", gen.get_state(s))
  end)

  it("works on a hibernating server", function()
    local s = server("s")
    gen.cast(s, { "ret", "noreply", "$state", "hibernate" })
    U.event(s, "cast")
    assert.equal("s", gen.get_state(s))
  end)

  it("raises {\"noproc\"} for a dead pid or an unknown name", function()
    assert.same({ "noproc" }, U.raised(gen.get_state, h.dead_pid()))
    assert.same({ "noproc" }, U.raised(gen.get_state, h.name("nobody")))
  end)

  it("raises {\"calling_self\"} for the caller itself", function()
    assert.same({ "calling_self" }, U.raised(gen.get_state, mb.self()))
  end)

  -- Its mb.exit ended the server, with no terminate.
  it("shows \"(format_status failed)\" when format_status calls mb.exit, and the server lives on", function()
    local s = gen.start({
      init = function() return "ok", 1 end,
      handle_call = function(_, _, st) return "reply", "pong", st end,
      format_status = function() require("moonbeam").exit("not_now") end,
    })
    assert.equal("(format_status failed)", gen.get_status(s).state)
    assert.equal("pong", gen.call(s, "ping"))
  end)

  it("raises a clear error for a state that cannot be sent, and the server keeps running", function()
    local s = gen.start(SCRIPT, { init = function()
      local up = 1
      return "ok", { f = function() return up end }
    end })
    assert.matches("upvalue", h.text(U.raised(gen.get_state, s)))
    assert.is_true(mb.alive(s))
    assert.equal("pong", gen.call(s, "ping"))
  end)

  it("leaves nothing in the caller's mailbox", function()
    local s = gen.start(SCRIPT, { state = 1 })
    for _ = 1, 5 do gen.get_state(s) end
    assert.same({}, U.mailbox(50))
  end)
end)

describe("gen.replace_state", function()
  before_each(h.before)
  after_each(h.after)

  it("returns fn(state) and makes it the state", function()
    local s = server({ n = 1 })
    local new = gen.replace_state(s, function(st) return { n = st.n + 1, extra = true } end)
    assert.same({ n = 2, extra = true }, new)
    assert.same({ n = 2, extra = true }, gen.get_state(s))
    no_callbacks(s)
    assert.same({ n = 2, extra = true }, gen.call(s, "state"))
  end)

  it("runs fn inside the server", function()
    local s = server(0)
    local pid = gen.replace_state(s, function() return require("moonbeam").self() end)
    assert.equal(s, pid)
  end)

  it("raises {\"callback_failed\", err} and keeps the state when fn raises", function()
    local s = server({ n = 1 })
    local err = U.raised(gen.replace_state, s, function() error("replace broke") end)
    assert.equal("callback_failed", err[1])
    assert.matches("replace broke", h.text(err[2]))
    assert.same({ n = 1 }, gen.get_state(s))
    assert.equal("pong", gen.call(s, "ping"))
  end)

  it("keeps the state when fn raises after changing it in place", function()
    local s = server({ n = 1 })
    U.raised(gen.replace_state, s, function(st) st.n = 99; error("half done") end)
    assert.same({ n = 1 }, gen.get_state(s))
  end)

  it("works on a suspended server", function()
    local s = server(1)
    gen.suspend(s)
    assert.equal(2, gen.replace_state(s, function(n) return n + 1 end))
    gen.resume(s)
    assert.equal(2, gen.call(s, "state"))
  end)

  it("raises a clear error for fn with upvalues, and the server keeps running", function()
    local s = server(1)
    local up = 5
    assert.equal("gen_server.replace_state: fn must be an upvalue-free function (it runs inside the server's Lua state); it uses upvalue 'up'",
      h.text(U.raised(gen.replace_state, s, function() return up end)))
    assert.equal(1, gen.get_state(s))
  end)

  it("raises for fn that is not a function", function()
    local s = server(1)
    assert.matches("function", h.text(U.raised(gen.replace_state, s, 42)))
    assert.equal(1, gen.get_state(s))
  end)

  it("raises {\"noproc\"} for a dead pid", function()
    assert.same({ "noproc" }, U.raised(gen.replace_state, h.dead_pid(), function(s) return s end))
  end)

  -- The state is copied aside before fn runs: a protected metatable made
  -- that copy raise, and a long list overflowed it; the server died.
  for what, init in pairs({
    ["a protected metatable"] = function()
      return "ok", { obj = setmetatable({}, { __metatable = "locked" }), n = 1 }
    end,
    ["a list 20,000 tables long"] = function()
      local head
      for i = 1, 20000 do head = { i = i, next = head } end
      return "ok", { head = head, n = 1 }
    end,
  }) do
    it("replaces a state holding " .. what .. " and keeps it when fn raises", function()
      local s = gen.start(SCRIPT, { init = init })
      pcall(gen.replace_state, s, function(st) st.n = 2; return st end)   -- a reply that cannot be sent back
      assert.equal("pong", gen.call(s, "ping"))
      local function n_of(_, st) return "reply", st.n, st end
      assert.equal(2, gen.call(s, { "fn", n_of }))
      U.raised(gen.replace_state, s, function(st) st.n = 3; error("half done") end)
      assert.equal(2, gen.call(s, { "fn", n_of }))
    end)
  end

  -- It ended the server at once, with no terminate.
  it("raises {\"callback_failed\", {\"exit\", reason}} for fn's mb.exit(reason), and the server lives on", function()
    local s = server({ n = 1 })
    local err = U.raised(gen.replace_state, s, function() require("moonbeam").exit("changed_mind") end)
    assert.same({ "callback_failed", { "exit", "changed_mind" } }, { err[1], err[2] })
    assert.same({ n = 1 }, gen.get_state(s))
  end)

  it("raises {\"callback_failed\", text} for an error value no message can carry", function()
    local s = server({ n = 1 })
    local err = U.raised(gen.replace_state, s, function()
      error(setmetatable({}, { __tostring = function() return "custom error" end }))
    end)
    assert.same({ "callback_failed", "custom error" }, { err[1], err[2] })
    assert.same({ n = 1 }, gen.get_state(s))
  end)

  it("keeps the server running when the new state cannot be sent back", function()
    local s = gen.start(SCRIPT, { state = 1 })
    pcall(gen.replace_state, s, function()
      local up = 1
      return { f = function() return up end }
    end)
    assert.is_true(mb.alive(s))
    assert.equal("pong", gen.call(s, "ping"))
  end)
end)

describe("gen.suspend and gen.resume", function()
  before_each(h.before)
  after_each(h.after)

  it("return true", function()
    local s = server()
    assert.is_true(gen.suspend(s))
    assert.is_true(gen.resume(s))
  end)

  it("hold calls, casts and infos while suspended and handle them in order after", function()
    local s = server({})
    gen.suspend(s)
    local function add(tag)
      return { "fn", function(state, tag) state[#state + 1] = tag; return "noreply", state end, tag }
    end
    gen.cast(s, add("c1"))
    mb.send(s, add("i1"))
    gen.cast(s, add("c2"))
    local v, err = gen.try_call(s, "ping", 100)
    assert.is_nil(v)
    assert.same({ "timeout" }, err)
    no_callbacks(s, 100)
    assert.same({}, gen.get_state(s))
    assert.is_true(gen.resume(s))
    assert.same({ "c1", "i1", "c2" }, gen.call(s, "state"))
    -- the timed-out call was handled too; its late reply never reached us
    local seen = {}
    for _, m in ipairs(U.mailbox(50)) do seen[#seen + 1] = m[1] == "ev" and m[3] or h.text(m) end
    assert.same({ "cast", "info", "cast", "call", "call" }, seen)
  end)

  it("still answer get_state, replace_state and get_status while suspended", function()
    local s = server("s")
    gen.suspend(s)
    assert.equal("s", gen.get_state(s))
    assert.equal("suspended", gen.get_status(s).status)
    assert.is_true(gen.suspend(s))   -- twice is fine
    assert.is_true(gen.resume(s))
    assert.equal("running", gen.get_status(s).status)
    assert.is_true(gen.resume(s))    -- and so is resuming a running server
    assert.equal("pong", gen.call(s, "ping"))
  end)

  it("raise {\"noproc\"} for a dead pid", function()
    assert.same({ "noproc" }, U.raised(gen.suspend, h.dead_pid()))
    assert.same({ "noproc" }, U.raised(gen.resume, h.dead_pid()))
  end)
end)

describe("gen.get_status", function()
  before_each(h.before)
  after_each(h.after)

  it("returns pid, module, status, state and message_queue_len", function()
    local s = server({ x = 1 })
    local st = gen.get_status(s)
    assert.equal(s, st.pid)
    assert.equal(SCRIPT, st.module)
    assert.equal("running", st.status)
    assert.same({ x = 1 }, st.state)
    assert.equal(0, st.message_queue_len)
    no_callbacks(s)
  end)

  it("counts the messages waiting while suspended", function()
    local s = server()
    gen.suspend(s)
    for i = 1, 3 do mb.send(s, { "info", i }) end
    gen.cast(s, "c")
    assert.equal(4, gen.get_status(s).message_queue_len)
  end)

  it("reaches a server by its registered name", function()
    local name = h.name("gs")
    local s = server(nil, { name = name })
    assert.equal(s, gen.get_status(name).pid)
  end)

  it("shows the state through format_status", function()
    local s = gen.start("spec.support.gs_secret", { user = "ann", password = "hunter2" })
    local st = gen.get_status(s)
    assert.same({ user = "ann", password = "<redacted>" }, st.state)
    assert.equal("spec.support.gs_secret", st.module)
    -- get_state is the real state
    assert.equal("hunter2", gen.get_state(s).password)
  end)

  it("raises {\"noproc\"} for a dead pid", function()
    assert.same({ "noproc" }, U.raised(gen.get_status, h.dead_pid()))
  end)

  it("raises a clear error for a state that cannot be sent, and the server keeps running", function()
    local s = gen.start(SCRIPT, { init = function()
      return "ok", { co = coroutine.create(function() end) }
    end })
    assert.matches("coroutine", h.text(U.raised(gen.get_status, s)))
    assert.is_true(mb.alive(s))
    assert.equal("pong", gen.call(s, "ping"))
  end)
end)

describe("gen.trace", function()
  before_each(h.before)
  after_each(h.after)

  it("returns true and changes no state", function()
    local s = gen.start(SCRIPT, { state = "s" })
    assert.is_true(gen.trace(s, false))
    assert.equal("s", gen.get_state(s))
  end)

  it("raises {\"noproc\"} for a dead pid", function()
    assert.same({ "noproc" }, U.raised(gen.trace, h.dead_pid(), true))
  end)
end)

describe("the sys tools on a supervisor", function()
  local sup = require "moonbeam.supervisor"
  before_each(h.before)
  after_each(h.after)

  it("answer get_state and get_status, and raise for the tools that do not apply rather than return a refusal", function()
    local s = assert(sup.start({ { id = "w", module = "spec.support.counter", arg = 0 } }))
    local children = gen.get_state(s)
    assert.equal("w", children[1].id)
    assert.equal("supervisor", gen.get_status(s).module)
    for _, call in ipairs({ { "suspend" }, { "resume" }, { "trace", true }, { "replace_state", function(x) return x end } }) do
      local err = h.usage_error("gen_server." .. call[1], gen[call[1]], s, call[2])
      assert.matches("not supported by", err, 1, true)
    end
    assert.equal("running", gen.get_status(s).status)
    assert.is_true(sup.stop(s))
  end)
end)

describe_subprocess("gen.trace(server, true)", function()
  after_each(sh.cleanup)

  local function run(source)
    local path = sh.script(source)
    return sh.run("./build/bin/moonbeam run " .. sh.quote(path), 30)
  end

  it("prints each call, reply, cast and info to stderr, until turned off", function()
    local status, out, err = run([[
      local mb = require "moonbeam"
      local gen = require "moonbeam.gen_server"
      local s = assert(gen.start("spec.support.gs_script", { state = 0 }))
      assert(gen.trace(s, true) == true)
      gen.call(s, { "ret", "reply", "reply-value-123", "$state" })
      gen.cast(s, "cast-message-456")
      mb.send(s, "info-message-789")
      gen.call(s, "ping")
      assert(gen.trace(s, false) == true)
      gen.call(s, "after-trace-off")
      gen.cast(s, "cast-after-off")
      gen.call(s, "ping")
      print("done " .. tostring(s))
    ]])
    assert.equal(0, status, err)
    local pid = out:match("done (%S+)")
    assert.is_not_nil(pid, out)
    for _, what in ipairs({ "reply-value-123", "cast-message-456", "info-message-789" }) do
      assert.is_truthy(err:find(what, 1, true), what .. " not traced in:\n" .. err)
    end
    -- each event on its own line, naming the server
    local lines = 0
    for line in err:gmatch("[^\n]+") do
      lines = lines + 1
      assert.is_truthy(line:find(pid, 1, true), "line without the server's pid: " .. line)
    end
    assert.is_true(lines >= 5, err)   -- 2 calls, 2 replies, a cast, an info
    -- as OTP's sys prints them: the words between the values are not quoted
    assert.is_truthy(err:find('got call "ping" from <', 1, true), err)
    assert.is_truthy(err:find('sent reply "reply-value-123" to <', 1, true), err)
    assert.is_falsy(err:find("after-trace-off", 1, true), err)
    assert.is_falsy(err:find("cast-after-off", 1, true), err)
  end)

  it("prints a timeout delivered to handle_info", function()
    local status, out, err = run([[
      local mb = require "moonbeam"
      local gen = require "moonbeam.gen_server"
      local s = assert(gen.start("spec.support.gs_script", { watcher = mb.self(), state = 0 }))
      gen.trace(s, true)
      gen.cast(s, { "ret", "noreply", "$state", 10 })
      assert(mb.receive(function(m) return m[3] == "info" and m[4] == "timeout" end, 15000))
      print("done " .. tostring(s))
    ]])
    assert.equal(0, status, err)
    local lines = {}
    for line in err:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.is_true(#lines >= 2, err)   -- the cast, then the timeout
    assert.matches("timeout", lines[#lines])
    assert.is_truthy(lines[#lines]:find(out:match("done (%S+)"), 1, true), err)
  end)

  it("bounds what it prints of a huge message", function()
    local status, _, err = run([[
      local gen = require "moonbeam.gen_server"
      local s = assert(gen.start("spec.support.gs_script", { state = 0 }))
      gen.trace(s, true)
      gen.cast(s, string.rep("x", 1000000))
      gen.call(s, "ping")
    ]])
    assert.equal(0, status, err)
    assert.is_true(#err > 0 and #err < 20000, #err .. " bytes on stderr")
  end)
end)
