-- Mailbox bounds: spawn_opt's max_queue and on_full, send's answer, gen.call
-- to an overloaded server, message_queue_bytes, and memory_limit counting
-- queued messages (docs/semantics.md, "Mailbox bounds" and "Memory limit";
-- host/core/mailbox_bounds.h).

local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local h = require "spec.support.helpers"

-- Under a preloaded sanitizer, freed memory sits in its quarantine: the RSS
-- of the host says nothing about what moonbeam holds there.
local SU = require "spec.support.sup_util"
local SANITIZED = SU.sanitized()
local rss_kb = SU.rss_kb

-- A process that receives nothing until an exit signal (it is spawned
-- trapping exits, which are never dropped) tells it to: then it sends {"held", messages,
-- info} to parent, messages being everything its mailbox held, in order.
local function hoarder(parent)
  local mb = require "moonbeam"
  local go = mb.receive(function(m) return type(m) == "table" and m[1] == "EXIT" end)
  local held = {}
  while true do
    local m = mb.receive(0)
    if m == nil then break end
    held[#held + 1] = m
  end
  local info = mb.info(mb.self())
  mb.send(parent, { "held", held, info.message_queue_len, info.message_queue_bytes, go[3] })
end

local function spawn_hoarder(opts)
  opts = opts or {}
  opts.trap_exit = true   -- from the start: an exit signal may come before it runs
  return mb.spawn_opt(hoarder, opts, mb.self())
end

-- Tells a hoarder to give up what it holds; returns the messages, and its
-- message_queue_len and message_queue_bytes once it took them all.
local function held_by(pid)
  mb.exit(pid, "dump")
  local m = h.expect(h.tuple("held"), "the hoarder's messages", 60000)
  return m[2], m[3], m[4]
end

local function suspended_counter(opts)
  local pid = assert(gen.start("spec.support.counter", 0, opts))
  gen.suspend(pid)   -- it now takes only sys messages: the others stay queued
  return pid
end

describe("spawn_opt max_queue and on_full", function()
  before_each(h.before)
  after_each(h.after)

  it("takes an integer from 1 to 2^31-1 or math.huge, and refuses anything else, starting nothing", function()
    for _, ok in ipairs({ 1, 1000, 2 ^ 31 - 1, math.huge }) do
      assert.is_true(mb.alive(mb.spawn_opt(hoarder, { max_queue = ok }, mb.self())))
    end
    local before = #mb.processes()
    for _, bad in ipairs({ 0, -1, 1.5, 0 / 0, 2 ^ 31, -math.huge, "10", true, {} }) do
      assert.matches("spawn_opt: max_queue must be an integer from 1 to 2^31-1, or math.huge",
        h.usage_error("spawn_opt", mb.spawn_opt, hoarder, { max_queue = bad }), 1, true)
    end
    for _, bad in ipairs({ "drop", "DROP_NEW", "", 1, true }) do
      assert.matches('spawn_opt: on_full must be "drop_new", "drop_old" or "exit"',
        h.usage_error("spawn_opt", mb.spawn_opt, hoarder, { max_queue = 1, on_full = bad }), 1, true)
    end
    assert.equal(before, #mb.processes())
  end)

  it("is passed by gen.start to the server's spawn, bad values raising there too", function()
    local ok, err = pcall(gen.start, "spec.support.counter", 0, { max_queue = 0 })
    assert.is_false(ok)
    assert.matches("max_queue must be an integer", h.text(err), 1, true)
    local pid = suspended_counter({ max_queue = 2 })
    assert.is_true(mb.send(pid, "one"))
    assert.is_true(mb.send(pid, "two"))
    assert.same({ false, "full" }, { mb.send(pid, "three") })
  end)
end)

describe("a full mailbox, on_full = \"drop_new\" (the default)", function()
  before_each(h.before)
  after_each(h.after)

  it("refuses what comes past max_queue: send returns false, \"full\"", function()
    local pid = spawn_hoarder({ max_queue = 3 })
    for i = 1, 3 do assert.is_true(mb.send(pid, i)) end
    assert.same({ false, "full" }, { mb.send(pid, 4) })
    assert.same({ false, "full" }, { mb.send(pid, 5) })
    assert.equal(3, mb.info(pid).message_queue_len)
    assert.same({ 1, 2, 3 }, (held_by(pid)))
  end)

  it("takes messages again once the owner received some", function()
    -- On each exit signal "take" (never dropped), it receives one message.
    local pid = mb.spawn_opt(function(parent)
      local mb = require "moonbeam"
      local function is_exit(m) return type(m) == "table" and m[1] == "EXIT" end
      while mb.receive(is_exit)[3] == "take" do
        mb.send(parent, { "took", mb.receive(function(m) return not is_exit(m) end) })
      end
    end, { max_queue = 2, trap_exit = true }, mb.self())
    assert.is_true(mb.send(pid, "a"))
    assert.is_true(mb.send(pid, "b"))
    assert.same({ false, "full" }, { mb.send(pid, "c") })
    mb.exit(pid, "take")
    assert.same({ "took", "a" }, h.expect(h.tuple("took"), "what it took"))
    assert.is_true(mb.send(pid, "c"))
    assert.same({ false, "full" }, { mb.send(pid, "d") })
    assert.equal(2, mb.info(pid).message_queue_len)
  end)

  it("makes gen.call raise {\"overloaded\"} at once, and try_call return it", function()
    local pid = suspended_counter({ max_queue = 1 })
    assert.is_true(gen.cast(pid, "increment"))       -- fills the queue
    assert.is_true(gen.cast(pid, "increment"))       -- dropped, silently: still true
    local t0 = h.now_ms()
    local ok, err = pcall(gen.call, pid, "get", 3000)
    assert.is_false(ok)
    assert.same({ "overloaded" }, err)
    local v, err2 = gen.try_call(pid, "get", 3000)
    assert.is_nil(v)
    assert.same({ "overloaded" }, err2)
    assert.is_true(h.now_ms() - t0 < 1000, "the refusal waited for the timeout")
    assert.equal(1, mb.info(pid).message_queue_len)
    -- no monitor left behind by the refused calls
    assert.same({}, mb.info(mb.self()).monitors)
    -- gen.stop still reaches it: a stop is never dropped
    assert.is_true(gen.stop(pid))
  end)

  it("lets the sys tools through to a suspended server whose queue is full, so it can be resumed", function()
    local pid = suspended_counter({ max_queue = 1 })
    assert.is_true(gen.cast(pid, "increment"))       -- fills the queue
    assert.equal(0, gen.get_state(pid, 1000))
    assert.equal("suspended", gen.get_status(pid, 1000).status)
    assert.equal(1, mb.info(pid).message_queue_len)  -- a sys request is not counted
    assert.is_true(gen.resume(pid, 1000))
    assert.is_true(h.wait_until(function() return mb.info(pid).message_queue_len == 0 end))
    assert.equal(1, gen.call(pid, "get", 1000))      -- the queued cast ran after the resume
  end)
end)

describe("a full mailbox, on_full = \"drop_old\"", function()
  before_each(h.before)
  after_each(h.after)

  it("drops the oldest messages to make room: send returns true", function()
    local pid = spawn_hoarder({ max_queue = 3, on_full = "drop_old" })
    for i = 1, 5 do assert.is_true(mb.send(pid, i)) end
    local held, len, bytes = held_by(pid)
    assert.same({ 3, 4, 5 }, held)
    assert.equal(0, len)
    assert.equal(0, bytes)
  end)

  it("keeps trapped EXITs and DOWNs while it drops ordinary messages", function()
    mb.spawn_opt(function(parent, dead)
      local mb = require "moonbeam"
      mb.trap_exit(true)
      mb.monitor(dead)                  -- a DOWN, queued at once
      mb.exit(mb.self(), "trapped")     -- an EXIT message, second
      for i = 1, 4 do assert(mb.send(mb.self(), i) == true) end
      local got = {}
      while true do
        local m = mb.receive(0)
        if m == nil then break end
        got[#got + 1] = type(m) == "table" and m[1] .. ":" .. tostring(m[#m]) or m
      end
      mb.send(parent, { "got", got })
    end, { max_queue = 2, on_full = "drop_old" }, mb.self(), h.dead_pid())
    local m = h.expect(h.tuple("got"), "what it kept", 10000)
    assert.same({ "DOWN:noproc", "EXIT:trapped", 3, 4 }, m[2])
  end)
end)

describe("a full mailbox, on_full = \"exit\"", function()
  before_each(h.before)
  after_each(h.after)

  it("ends the receiver with reason \"queue_full\": trapping cannot stop it, links and monitors fire", function()
    local pid, ref = mb.spawn_opt(hoarder, { max_queue = 2, on_full = "exit", trap_exit = true, link = true, monitor = true },
      mb.self())
    assert.is_true(mb.send(pid, 1))
    assert.is_true(mb.send(pid, 2))
    assert.is_true(mb.send(pid, 3))   -- accepted, as a send to an exiting process is
    assert.equal("queue_full", h.reason(ref, 10000))
    assert.same({ "EXIT", pid, "queue_full" }, h.expect(h.tuple("EXIT", pid), "the EXIT", 10000))
    assert.is_false(mb.alive(pid))
  end)

  it("gives a gen.call caller {\"exit\", \"queue_full\"}", function()
    local pid = suspended_counter({ max_queue = 1, on_full = "exit" })
    assert.is_true(gen.cast(pid, "increment"))
    local v, err = gen.try_call(pid, "get", 5000)
    assert.is_nil(v)
    assert.same({ "exit", "queue_full" }, err)
    assert.is_false(mb.alive(pid))
  end)
end)

describe("what a full mailbox never drops", function()
  before_each(h.before)
  after_each(h.after)

  it("exit signals, DOWN messages and call replies reach a process whose mailbox is full", function()
    local server = assert(gen.start("spec.support.counter", 41))
    local target = h.echo()
    local pid = mb.spawn_opt(function(parent, target, server)
      local mb = require "moonbeam"
      local gen = require "moonbeam.gen_server"
      mb.trap_exit(true)
      local ref = mb.monitor(target)
      assert(mb.send(mb.self(), "filler"))
      mb.send(parent, { "full", mb.send(mb.self(), "extra") })
      -- a call's reply comes in, the mailbox full
      mb.send(parent, { "reply", gen.call(server, "increment") })
      local exit = mb.receive(function(m) return type(m) == "table" and m[1] == "EXIT" end)
      local down = mb.receive(function(m) return type(m) == "table" and m[1] == "DOWN" and m[2] == ref end)
      mb.send(parent, { "got", exit[3], down[5], mb.receive(0), mb.receive(0) })
    end, { max_queue = 1 }, mb.self(), target, server)
    assert.same({ "full", false, "full" }, h.expect(h.tuple("full"), "the refusal"))
    assert.same({ "reply", 42 }, h.expect(h.tuple("reply"), "the call's reply"))
    local tref = mb.monitor(target)
    mb.exit(target, "kill")
    h.down(tref)
    mb.exit(pid, "go")
    local got = h.expect(h.tuple("got"), "what it got", 10000)
    assert.same({ "got", "go", "killed", "filler" }, got)
  end)

  it("a task's result, and any message through an alias the process made, reach a full mailbox", function()
    local pid = mb.spawn_opt(function(parent)
      local mb = require "moonbeam"
      local task = require "moonbeam.task"
      assert(mb.send(mb.self(), "filler"))   -- max_queue 1: full
      local t = task.async(function() return 42 end)
      local ok, v = pcall(task.await, t, 5000)
      local ref = mb.make_ref()
      mb.alias(ref)
      local sent = mb.send_alias(mb.self(), ref, "through the alias")
      mb.send(parent, { "got", ok, v, sent, mb.receive(function(m) return m == "through the alias" end, 1000) })
    end, { max_queue = 1 }, mb.self())
    assert.same({ "got", true, 42, true, "through the alias" }, h.expect(h.tuple("got"), "what it got", 10000))
    mb.exit(pid, "kill")
  end)
end)

describe("mb.info(pid).message_queue_bytes", function()
  before_each(h.before)
  after_each(h.after)

  it("counts the bytes of the queued messages, and drops to 0 once they are taken", function()
    local pid = spawn_hoarder()
    assert.equal(0, mb.info(pid).message_queue_bytes)
    mb.send(pid, string.rep("x", 1000))
    local one = mb.info(pid).message_queue_bytes
    assert.is_true(one >= 1000 and one < 1200, "one message: " .. one)
    mb.send(pid, string.rep("y", 3000))
    local two = mb.info(pid).message_queue_bytes
    assert.is_true(two >= one + 3000 and two < one + 3200, "two messages: " .. two)
    local held, len, bytes = held_by(pid)
    assert.equal(2, #held)
    assert.equal(0, len)
    assert.equal(0, bytes)
  end)
end)

describe("memory_limit and queued messages", function()
  before_each(h.before)
  after_each(h.after)

  it("ends a process that never receives with \"memory_limit\" once its queue fills the limit", function()
    local pid, ref = mb.spawn_opt(function()
      require("moonbeam").sleep("infinity")
    end, { monitor = true, memory_limit = 1024 * 1024 })
    local msg = string.rep("m", 100)
    local rss0 = rss_kb()
    for _ = 1, 100000 do
      assert(mb.send(pid, msg) == true)   -- accepted, as by a process that is exiting
    end
    assert.equal("memory_limit", h.reason(ref, 10000))
    local grown = rss_kb() - rss0
    if not SANITIZED then
      assert.is_true(grown < 8 * 1024, "host RSS grew by " .. grown .. " KB")
    end
  end)

  it("counts queued bytes in what the owner may allocate", function()
    local pid, ref = mb.spawn_opt(function(parent)
      local mb = require "moonbeam"
      mb.trap_exit(true)
      mb.send(parent, "ready")
      mb.receive(function(m) return type(m) == "table" and m[1] == "EXIT" end)
      -- its queue holds about 700 KB of its 1 MB: 400 KB more is too much
      local t = {}
      for i = 1, 400 do t[i] = string.rep("z", 1000) .. i end
      mb.send(parent, "survived")
    end, { monitor = true, memory_limit = 1024 * 1024 }, mb.self())
    h.expect(function(m) return m == "ready" end, "ready")
    local chunk = string.rep("c", 100 * 1000)
    for _ = 1, 7 do assert.is_true(mb.send(pid, chunk)) end
    mb.exit(pid, "go")
    assert.equal("memory_limit", h.reason(ref, 10000))
    assert.is_nil(mb.receive(function(m) return m == "survived" end, 0))
  end)
end)

describe("a bounded process under a flood", function()
  before_each(h.before)
  after_each(h.after)

  local SENDERS, EACH, MAX = 4, 125000, 1000

  for _, mode in ipairs({ "drop_new", "drop_old" }) do
    it("from " .. SENDERS .. " senders keeps its queue and the host's RSS bounded (" .. mode .. ")", function()
      local pid = spawn_hoarder({ max_queue = MAX, on_full = mode })
      local rss0 = rss_kb()
      local refs = {}
      for s = 1, SENDERS do
        local _, ref = mb.spawn_opt(function(parent, dest, s, n)
          local mb = require "moonbeam"
          local pad = string.rep("p", 200)
          local accepted = 0
          for i = 1, n do
            if mb.send(dest, { s, i, pad }) then accepted = accepted + 1 end
          end
          mb.send(parent, { "sent", s, accepted })
        end, { monitor = true }, mb.self(), pid, s, EACH)
        refs[s] = ref
      end
      local accepted = 0
      for s = 1, SENDERS do
        accepted = accepted + h.expect(h.tuple("sent", s), "sender " .. s, 60000)[3]
        h.down(refs[s], 10000)
      end
      local len = mb.info(pid).message_queue_len
      local grown = rss_kb() - rss0
      if mode == "drop_new" then
        assert.equal(MAX, accepted)   -- the bound is exact: never more, never less
        assert.equal(MAX, len)
      else
        assert.is_true(len <= 2 * MAX, "queue length " .. len)
      end
      if not SANITIZED then
        assert.is_true(grown < 32 * 1024, "host RSS grew by " .. grown .. " KB")
      end
      local held = held_by(pid)
      assert.equal(MAX, #held)
      local last = {}
      for _, m in ipairs(held) do   -- each sender's messages in the order it sent them
        assert.is_true(m[2] > (last[m[1]] or 0))
        last[m[1]] = m[2]
      end
    end)
  end
end)
