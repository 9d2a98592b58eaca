-- States made ahead: a scheduler with nothing to run makes Lua states for
-- the next spawns (bindings/state_pool.c), so a spawn after a quiet moment
-- finds its libraries opened. Such a process must be like any other: a
-- state of its own, its memory counted and limited as its own, its slices
-- preempted and its kill landing. Each test lets the host go quiet between
-- spawns (a round trip), which is when the pool is filled.

local mb = require "moonbeam"
local h = require "spec.support.helpers"
local U = require "spec.support.sup_util"

local MiB = 1024 * 1024

-- Reports what it finds of earlier processes in its state, and its pid.
local function look(parent)
  local mb = require "moonbeam"
  local found = rawget(_G, "left_by_another")
  left_by_another = true
  mb.send(parent, { "looked", found == nil, mb.self() })
  mb.receive()
end

describe("a process started from a state made ahead", function()
  before_each(h.before)
  after_each(h.after)

  it("has a state of its own, never one another process had", function()
    local pids = {}
    for i = 1, 40 do
      local pid = mb.spawn(look, mb.self())
      local m = h.expect(h.tuple("looked"), "process " .. i)
      assert.is_true(m[2], "process " .. i .. " found another's global")
      pids[i] = pid
    end
    for _, pid in ipairs(pids) do mb.send(pid, "stop") end
  end)

  it("counts the state's memory as its own", function()
    for i = 1, 10 do
      local pid = mb.spawn(look, mb.self())
      h.expect(h.tuple("looked"), "process " .. i)
      local memory = mb.info(pid).memory
      -- A state with its libraries and moonbeam loaded: tens of KB.
      assert.is_true(memory > 16 * 1024 and memory < 512 * 1024, "memory " .. memory)
      mb.send(pid, "stop")
    end
  end)

  it("keeps its memory limit", function()
    for i = 1, 5 do
      local echo = h.echo()
      assert.is_true(h.ping(echo))   -- a round trip's quiet: the pool fills
      mb.send(echo, "stop")
      local _, ref = mb.spawn_opt(function()
        local t = {}
        for j = 1, 64 * 1024 do t[j] = string.rep("x", 1000) .. j end
      end, { monitor = true, memory_limit = 8 * MiB })
      assert.equal("memory_limit", h.reason(ref, 10000), "hog " .. i)
    end
  end)

  -- Making a state leaves garbage (chunks run once, replaced paths), which
  -- an idle process would keep: a state kept ahead has it collected once
  -- the pool is full and the host is quiet, not while spawns are waiting.
  it("comes without its making's garbage after a quiet moment", function()
    local function garbage(parent)
      local before = collectgarbage("count")
      collectgarbage()
      local mb = require "moonbeam"
      mb.send(parent, { "garbage", (before - collectgarbage("count")) * 1024 })
    end
    -- More spawns at once than the pool holds: the last ones' states are
    -- made as they are spawned, or refilled meanwhile, uncollected. Where
    -- spawning is slow (a sanitizer's build, a loaded machine) the pool
    -- may keep up with a burst, every state tidied: bursts until one was
    -- not (more garbage than the least a burst's process had).
    local made, least = 0, math.huge
    for _ = 1, 10 do
      for _ = 1, 32 do mb.spawn(garbage, mb.self()) end
      for i = 1, 32 do
        local g = h.expect(h.tuple("garbage"), "process " .. i)[2]
        made, least = math.max(made, g), math.min(least, g)
      end
      if made > least + 512 then break end
    end
    assert.is_true(made > least + 512, "every burst's states came tidied: " .. made .. " bytes of garbage at most")
    local quiet
    for _ = 1, 50 do   -- the pool filled and tidied in a quiet moment
      mb.sleep(20)
      mb.spawn(garbage, mb.self())
      quiet = h.expect(h.tuple("garbage"))[2]
      if quiet < made then break end
    end
    assert.is_true(quiet < made - 512, ("%d bytes of garbage after a quiet moment, %d made on spawn"):format(quiet, made))
  end)

  it("ends with memory_limit when the limit is below what any state needs", function()
    local _, ref = mb.spawn_opt(look, { monitor = true, memory_limit = 4096 }, mb.self())
    assert.equal("memory_limit", h.reason(ref, 10000))
  end)

  ;(U.under_tsan() and pending or it)("is preempted and killed in an interpreted loop", function()
    for i = 1, 3 do
      local pid = mb.spawn(function(parent)
        local mb = require "moonbeam"
        jit.off()
        mb.send(parent, { "spinning", mb.self() })
        local x = 0
        while true do x = x + 1 end
      end, mb.self())
      h.expect(h.tuple("spinning"), "spinner " .. i)
      -- Preempted: another process is served beside it.
      local echo = h.echo()
      assert.is_true(h.ping(echo, 5000))
      local ref = mb.monitor(pid)
      mb.exit(pid, "kill")
      assert.equal("killed", h.reason(ref, 10000), "spinner " .. i)
      mb.send(echo, "stop")
    end
  end)
end)

-- gen_servers start from states made ahead with moonbeam.gen_server loaded
-- (bindings/vm.c), once one has started; every other process from a plain
-- one, which carries no more than it needs.
describe("a gen_server started from a state made ahead", function()
  local gen = require "moonbeam.gen_server"
  before_each(h.before)
  after_each(h.after)

  -- A server whose state says whether its init found another's global.
  local LOOKER = {
    init = function(parent)
      local found = rawget(_G, "left_by_another")
      left_by_another = true
      return "ok", found == nil
    end,
    handle_call = function(_, _, fresh) return "reply", fresh, fresh end,
  }

  it("has a state of its own, and serves as any other", function()
    local pids = {}
    for i = 1, 30 do
      pids[i] = assert(gen.start(LOOKER, mb.self()))
      assert.is_true(gen.call(pids[i], "fresh?"), "server " .. i .. " found another's global")
      local echo = h.echo()
      assert.is_true(h.ping(echo))   -- a quiet moment: the pools fill
      mb.send(echo, "stop")
    end
    for _, pid in ipairs(pids) do gen.stop(pid) end
  end)

  it("leaves plain processes without moonbeam.gen_server", function()
    for _ = 1, 10 do gen.stop(assert(gen.start(LOOKER, mb.self()))) end
    local echo = h.echo()
    assert.is_true(h.ping(echo))
    mb.send(echo, "stop")
    for i = 1, 10 do
      mb.spawn(function(parent)
        local mb = require "moonbeam"
        mb.send(parent, { "loaded", package.loaded["moonbeam.gen_server"] ~= nil })
      end, mb.self())
      assert.same({ "loaded", false }, h.expect(h.tuple("loaded"), "process " .. i))
    end
  end)
end)
