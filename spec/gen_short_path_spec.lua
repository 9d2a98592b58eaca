-- gen_server's short path (moonbeam.gen_step): a server started with a
-- callback module by name runs its calls answered with "reply", its casts
-- and messages answered with "noreply", and a normal stop of a module
-- with no terminate, without moonbeam's whole loop (moonbeam.gen_loop),
-- and hands itself over to that loop, for good, when anything else comes.
-- Either way it behaves as docs/semantics.md ("gen_server") says: these
-- specs look at the hand-over's seams.
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local h = require "spec.support.helpers"
local U = require "spec.support.gs_util"

local PLAIN = "spec.support.gs_plain"

local function start(n, opts)
  local pid = assert(gen.start(PLAIN, n, opts))
  return pid, mb.monitor(pid)
end

-- An unlinked gs_script server that tells us of its callbacks, and a
-- monitor of it.
local function scripted()
  local pid = assert(gen.start(U.SCRIPT, { watcher = mb.self() }))
  U.event(pid, "init")
  return pid, mb.monitor(pid)
end

describe("gen_server's short path", function()
  before_each(h.before)
  after_each(h.after)

  it("serves calls, casts and messages without the whole loop loaded", function()
    local pid = start(5)
    gen.cast(pid, "inc")
    mb.send(pid, "hello")
    assert.equal(6, gen.call(pid, "get"))
    assert.is_false(gen.call(pid, "load"))
    gen.stop(pid)
  end)

  it("hands over at a timeout returned, keeping its state, and the timeout fires", function()
    local pid = start(1)
    gen.cast(pid, "inc")
    gen.cast(pid, { "timeout", 20 })
    mb.sleep(200)   -- any message would cancel the timeout: none until it fired
    assert.equal(-1, gen.call(pid, "get"))
    assert.is_true(gen.call(pid, "load"))
    gen.cast(pid, "inc")
    assert.equal(0, gen.call(pid, "get"))
    gen.stop(pid)
  end)

  it("keeps the order of its messages around a system request", function()
    local pid = start(0)
    for _ = 1, 10 do gen.cast(pid, "inc") end
    assert.equal(10, gen.get_state(pid))   -- a system request: handed over
    for _ = 1, 10 do gen.cast(pid, "inc") end
    assert.equal(20, gen.call(pid, "get"))
    gen.stop(pid)
  end)

  it("stops normal with its reply, with no crash report, for a stop with a reply", function()
    local pid, ref = start(3)
    assert.equal("bye", gen.call(pid, { "stop", "normal", "bye" }))
    assert.equal("normal", h.reason(ref))
  end)

  it("stops with {\"shutdown\", x} from a cast", function()
    local pid, ref = start(3)
    gen.cast(pid, { "stop", { "shutdown", "done" } })
    assert.same({ "shutdown", "done" }, h.reason(ref))
    assert.is_false(mb.alive(pid))
  end)

  it("hands an abnormal stop over: the server ends with the reason", function()
    local pid, ref = start(3)
    gen.cast(pid, { "stop", "broken" })
    assert.equal("broken", h.reason(ref))
  end)

  it("stops with mb.exit's reason inside a callback, and terminate runs", function()
    local pid, ref = scripted()
    gen.cast(pid, { "fn", function(state) require("moonbeam").exit("on_purpose") return "noreply", state end })
    local m = U.event(pid, "terminate")
    assert.equal("on_purpose", m[4])
    assert.equal("on_purpose", h.reason(ref))
  end)

  it("stops with mb.exit's reason inside a callback of a module with no terminate", function()
    local pid, ref = start(0)
    gen.cast(pid, { "exit", "my_reason" })
    assert.equal("my_reason", h.reason(ref))
  end)

  it("sends exit signals with mb.exit(pid, reason) from a callback and goes on", function()
    local victim = mb.spawn(function() require("moonbeam").receive() end)
    local vref = mb.monitor(victim)
    local pid = U.start({ watcher = mb.self() })
    gen.call(pid, { "fn", function(_from, state, v) require("moonbeam").exit(v, "kill") return "reply", true, state end,
                    victim })
    assert.equal("killed", h.reason(vref))
    assert.equal("pong", gen.call(pid, "ping"))
    gen.stop(pid)
  end)

  it("crashes with {\"error\", message, traceback} naming the callback's own file", function()
    local pid, ref = scripted()
    local e = U.raised(gen.call, pid, { "crash", "boom" })
    assert.is_table(e)
    local r = h.reason(ref)
    assert.equal("error", r[1])
    assert.is_truthy(tostring(r[2]):find("boom", 1, true))
    assert.is_truthy(tostring(r[3]):find("gs_script.lua", 1, true))
  end)

  it("stops at a false cast to a module with no handle_cast, as the whole loop does", function()
    local pid = assert(gen.start("spec.support.gs_init_only", 1))
    local ref = mb.monitor(pid)
    gen.cast(pid, false)
    assert.same({ "undef", "handle_cast" }, h.reason(ref))
  end)

  it("runs a server with a callback table on the whole loop from its start", function()
    local pid = assert(gen.start({
      init = function() return "ok", 0 end,
      handle_call = function(_, _, s) return "reply", package.loaded["moonbeam.gen_loop"] ~= nil, s end,
    }))
    assert.is_true(gen.call(pid, "load"))
    gen.stop(pid)
  end)

  it("answers a call whose reply cannot be sent with bad_reply, and serves on", function()
    local pid = U.start({ watcher = mb.self() })
    local e = U.raised(gen.call, pid, { "fn", function(_from, state)
      return "reply", coroutine.create(function() end), state   -- a coroutine cannot be sent
    end })
    assert.is_truthy(h.text(e):find("bad_reply", 1, true))
    assert.equal("pong", gen.call(pid, "ping"))
    gen.stop(pid)
  end)
end)

describe("gen_server's short path, with a log handler", function()
  local L = require "spec.support.log_util"
  local cjson = require "cjson"
  before_each(L.setup)
  after_each(L.teardown)

  it("logs a false message to a module with no handle_info, as the whole loop does", function()
    local path = L.handler("json")
    local pid = assert(gen.start("spec.support.gs_init_only", 1))
    mb.send(pid, false)
    assert.equal(1, gen.get_state(pid))   -- the message was taken before this request
    require("moonbeam.logger").flush()
    local e = cjson.decode(L.lines_of(path)[1] or "{}")
    assert.equal("unexpected_message", e.report)
    assert.equal("false", e.message:match("false"))
    gen.stop(pid)
  end)
end)
