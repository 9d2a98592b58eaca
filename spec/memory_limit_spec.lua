-- Per-process memory: info(pid).memory, and spawn_opt's memory_limit.
--
-- Every hog below stops by itself at 64 MiB, so a limit that does not work
-- fails the test (reason "normal") instead of eating the machine.

local mb = require "moonbeam"
local h = require "spec.support.helpers"

local MiB = 1024 * 1024

describe("mb.info(pid).memory", function()
  before_each(h.before)
  after_each(h.after)

  it("is a positive number of bytes", function()
    local memory = mb.info(h.echo()).memory
    assert.is_number(memory)
    assert.is_true(memory > 0)
  end)

  it("grows with what the process holds", function()
    local a = h.echo()
    local before = mb.info(a).memory
    h.call(a, "hold", 2 * MiB)
    local after = mb.info(a).memory
    assert.is_true(after >= before + 2 * MiB, "memory " .. before .. " -> " .. after)
  end)

  -- LuaJIT collects only as a state allocates: a process that waits after
  -- making garbage gives it back before it waits (docs/semantics.md, "Memory").
  it("falls back once what a process made is garbage and it waits", function()
    local p = mb.spawn(function(parent)
      local mb = require "moonbeam"
      while true do
        local n = mb.receive()
        local t = {}
        for i = 1, n do t[i] = ("x"):rep(64) .. i end
        t = nil
        mb.send(parent, "made")
      end
    end, mb.self())
    mb.send(p, 2000)   -- some 200 KB, garbage once it answers
    h.expect(function(m) return m == "made" end, "the garbage made")
    assert.is_true(h.wait_until(function()
      local info = mb.info(p)
      return info.status == "waiting" and info.memory < 100 * 1024
    end), "memory " .. mb.info(p).memory .. " bytes while it waits")
    mb.exit(p, "kill")
  end)

  -- That collection runs on the state's main thread, outside the process's
  -- code, and LuaJIT throws a finalizer's error out of it: unprotected, it
  -- exited the host.
  it("survives a finalizer that raises in the collection before a wait", function()
    local _, ref = mb.spawn_opt(function()
      local mb = require "moonbeam"
      local keep = {}
      for i = 1, 2000 do keep[i] = { i, i } end   -- past the collection's floor
      do
        local p = newproxy(true)
        getmetatable(p).__gc = function() error("finalizer boom") end
      end
      mb.receive(50)   -- collects before it waits
      return #keep
    end, { monitor = true })
    assert.equal("normal", h.reason(ref))
  end)

  it("ends with \"memory_limit\" a process whose finalizer passes its limit in that collection", function()
    local _, ref = mb.spawn_opt(function()
      local mb = require "moonbeam"
      local keep = {}
      for i = 1, 2000 do keep[i] = { i, i } end
      do
        local p = newproxy(true)
        getmetatable(p).__gc = function()
          local t = {}
          for i = 1, 1e6 do t[i] = i end
        end
      end
      mb.receive(50)
      return #keep
    end, { monitor = true, memory_limit = 512 * 1024 })
    assert.equal("memory_limit", h.reason(ref))
  end)

  it("is that of the caller too", function()
    assert.is_true(mb.info(mb.self()).memory > 0)
  end)
end)

describe("spawn_opt memory_limit", function()
  before_each(h.before)
  after_each(h.after)

  it("ends a process allocating past it with reason \"memory_limit\"", function()
    local _, ref = mb.spawn_opt(function()
      local t = {}
      for i = 1, 64 * 1024 do t[i] = string.rep("x", 1000) .. i end
    end, { monitor = true, memory_limit = 8 * MiB })
    assert.equal("memory_limit", h.reason(ref, 10000))
  end)

  -- A limit its state's making passes: a refusal inside LuaJIT's own
  -- lua_newstate (between ~6.3 and ~10.4 KB) crashed the host.
  it("ends with \"memory_limit\" a process whose state cannot be made within it, at any small limit", function()
    for limit = 1024, 24 * 1024, 97 do
      local _, ref = mb.spawn_opt(function() end, { monitor = true, memory_limit = limit })
      local reason = h.reason(ref, 10000)
      if limit < 6 * 1024 then assert.equal("memory_limit", reason, "limit " .. limit) end
      assert.is_true(reason == "memory_limit" or reason == "normal", "limit " .. limit .. ": " .. tostring(reason))
    end
  end)

  it("ends a process making one allocation past it", function()
    local _, ref = mb.spawn_opt(function()
      local s = string.rep("x", 64 * 1024 * 1024)
      return #s
    end, { monitor = true, memory_limit = 8 * MiB })
    assert.equal("memory_limit", h.reason(ref, 10000))
  end)

  it("ends the process even when it catches the allocation error with pcall", function()
    local _, ref = mb.spawn_opt(function(parent)
      local mb = require "moonbeam"
      local ok = pcall(function()
        local t = {}
        for i = 1, 64 * 1024 do t[i] = string.rep("x", 1000) .. i end
      end)
      mb.send(parent, { "survived the limit", ok })
      mb.receive(2000)
    end, { monitor = true, memory_limit = 8 * MiB }, mb.self())
    local reason = h.reason(ref, 10000)
    assert.equal("memory_limit", reason)
  end)

  -- LuaJIT writes its "not enough memory" error where a fast function
  -- (tostring) left the stack's top, over a live frame when the Lua
  -- function around it was called from C with more arguments than it
  -- declares (a receive match without its parameter): the host crashed.
  -- Small blocks past the limit are granted and the process ends at its
  -- next instruction instead (host/core/process.c, end_soon).
  it("ends a process whose fast functions reach it inside a match called with more arguments than it takes", function()
    for _ = 1, 3 do
      local pid, ref = mb.spawn_opt(function(parent)
        local mb = require "moonbeam"
        local hold = {}
        for i = 1, 20000 do hold[i] = false end
        local function match()
          pcall(function() for i = 1, 20000 do hold[i] = tostring(i + 0.5) end end)
          return false
        end
        mb.send(parent, { "waiting", mb.self() })
        mb.receive(match)
      end, { monitor = true, memory_limit = 512 * 1024 }, mb.self())
      h.expect(h.tuple("waiting", pid), "the child waiting")
      mb.send(pid, "wake")
      assert.equal("memory_limit", h.reason(ref, 10000))
    end
  end)

  -- The same fault, from a larger block: tostring's fast path making a
  -- string grows the string table (256 KB at 32,768 strings), which the
  -- allocator refused, and the host crashed (SIGSEGV in LuaJIT's unwinder).
  -- In the interpreter nothing is refused now: the process ends at its next
  -- instruction (bindings/preempt.c, mbb_refusable).
  it("ends a process whose tostring grows the string table past it, interpreted or compiled", function()
    for _, limit in ipairs({ 500000, 900000, 1000000, MiB }) do
      for _, jit_on in ipairs({ true, false }) do
        local _, ref = mb.spawn_opt(function(on)
          if not on then require("jit").off() end
          local t, i = {}, 0
          while true do i = i + 1; t[i] = string.upper(tostring(i)) end
        end, { monitor = true, memory_limit = limit }, jit_on)
        assert.equal("memory_limit", h.reason(ref, 10000))
      end
    end
  end)

  it("stops a process at the instruction after a small block takes it past the limit", function()
    local _, ref = mb.spawn_opt(function(parent)
      local mb = require "moonbeam"
      local t = {}
      for i = 1, 20000 do t[i] = false end   -- only small blocks from here on
      local ok = pcall(function() for i = 1, 20000 do t[i] = tostring(i + 0.5) end end)
      mb.send(parent, { "went on", ok })
    end, { monitor = true, memory_limit = 512 * 1024 }, mb.self())
    assert.equal("memory_limit", h.reason(ref, 10000))
    assert.is_nil(mb.receive(h.tuple("went on"), 0))
  end)

  it("kills only that process: its neighbour keeps answering pings", function()
    local neighbour = mb.spawn_opt("spec.support.echo", { memory_limit = 64 * MiB })
    local plain = h.echo()
    assert.is_true(h.ping(neighbour))
    local _, ref = mb.spawn_opt(function()
      local t = {}
      for i = 1, 64 * 1024 do t[i] = string.rep("x", 1000) .. i end
    end, { monitor = true, memory_limit = 8 * MiB })
    -- keep pinging while the hog allocates, until it is stopped
    local down
    for _ = 1, 1000 do
      assert.is_true(h.ping(neighbour), "the neighbour stopped answering")
      assert.is_true(h.ping(plain), "a process without a limit stopped answering")
      down = mb.receive(h.tuple("DOWN", ref), 0)
      if down then break end
    end
    down = down or h.down(ref, 10000)
    assert.equal("memory_limit", down[5])
    assert.is_true(h.ping(neighbour))
    assert.is_true(h.ping(plain))
  end)

  it("tells a linked, trapping partner the reason", function()
    local pid = mb.spawn_opt(function()
      local t = {}
      for i = 1, 64 * 1024 do t[i] = string.rep("x", 1000) .. i end
    end, { link = true, memory_limit = 8 * MiB })
    assert.same({ "EXIT", pid, "memory_limit" }, h.expect(h.tuple("EXIT", pid), "the EXIT", 10000))
  end)

  it("lets a process under it work normally", function()
    local a = mb.spawn_opt("spec.support.echo", { memory_limit = 64 * MiB })
    assert.is_true(h.ping(a))
    h.call(a, "hold", 1 * MiB)
    assert.is_true(h.ping(a))
    assert.is_true(mb.info(a).memory <= 64 * MiB)
  end)

  it("is enforced on memory held across messages", function()
    local a = mb.spawn_opt("spec.support.echo", { memory_limit = 16 * MiB })
    local ref = mb.monitor(a)
    for _ = 1, 64 do
      mb.send(a, { "hold", mb.self(), mb.make_ref(), 1 * MiB, n = 4 })
    end
    assert.equal("memory_limit", h.reason(ref, 10000))
  end)

  it("ends a process that receives a message too big for it", function()
    local a, ref = mb.spawn_opt("spec.support.echo", { monitor = true, memory_limit = 2 * MiB })
    assert.is_true(h.ping(a))
    mb.send(a, string.rep("x", 4 * MiB))
    assert.equal("memory_limit", h.reason(ref, 10000))
    assert.is_true(mb.alive(mb.self()))
  end)

  it("refuses a limit that is not a number of bytes", function()
    h.error_of(mb.spawn_opt, "spec.support.echo", { memory_limit = "big" })
    h.error_of(mb.spawn_opt, "spec.support.echo", { memory_limit = -1 })
  end)

  it("refuses NaN, a fraction, too small a limit or one beyond 2^53 bytes, starting nothing", function()
    local before = #mb.processes()
    for _, bad in ipairs({ 0 / 0, 1500.5, 1000, 2 ^ 53 + 2, 1e300, -math.huge }) do
      assert.matches("memory_limit must be an integer number of bytes",
        h.usage_error("spawn_opt", mb.spawn_opt, "spec.support.echo", { memory_limit = bad }), 1, true)
    end
    assert.equal(before, #mb.processes())
  end)

  it("takes math.huge as no limit", function()
    local _, ref = mb.spawn_opt(function()
      local t = {}
      for i = 1, 4 * 1024 do t[i] = string.rep("x", 1000) .. i end
    end, { monitor = true, memory_limit = math.huge })
    assert.equal("normal", h.reason(ref, 10000))
  end)

  it("frees the name of the process it ends", function()
    local name = h.name("hog")
    local _, ref = mb.spawn_opt(function()
      local t = {}
      for i = 1, 64 * 1024 do t[i] = string.rep("x", 1000) .. i end
    end, { monitor = true, name = name, memory_limit = 8 * MiB })
    assert.equal("memory_limit", h.reason(ref, 10000))
    assert.is_nil(mb.whereis(name))
  end)
end)
