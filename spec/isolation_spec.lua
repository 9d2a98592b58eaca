-- Isolation: API.md "Isolation and fairness". What one process does to
-- itself (here: recursing its scheduler's C stack away) ends that process
-- alone, with a clear reason; the host and every other process go on.

local mb = require "moonbeam"
local h = require "spec.support.helpers"

-- The host still spawns, runs and answers after what a test did.
local function host_answers()
  local echo = mb.spawn(function()
    local mb = require "moonbeam"
    local m = mb.receive(2000)
    if m then mb.send(m[1], { "pong", m[2] }) end
  end)
  mb.send(echo, { mb.self(), "still here" })
  assert.same({ "pong", "still here" }, h.expect(h.tuple("pong"), "the echo's answer"))
end

describe("a process that overflows the C stack", function()
  before_each(h.before)
  after_each(h.after)

  it("ends alone with \"stack overflow\" when its recursion runs through string.gsub", function()
    local _, ref = mb.spawn_monitor(function()
      local function f(s) return (s:gsub(".", f)) end
      f("ab")
    end)
    local reason = h.reason(ref)
    assert.equal("error", reason[1])
    assert.matches("stack overflow", reason[2])
    host_answers()
  end)

  it("ends alone with \"C stack overflow\" when each level is a new coroutine", function()
    -- No coroutine's own Lua stack fills up: only the C stack is exhausted.
    local _, ref = mb.spawn_monitor(function()
      local function f() ("x"):gsub(".", function() coroutine.wrap(f)() end) end
      f()
    end)
    assert.same({ "error", "C stack overflow" }, h.reason(ref))
    host_answers()
  end)

  it("ends even when the code catches the error and goes on", function()
    local _, ref = mb.spawn_monitor(function()
      local function f() ("x"):gsub(".", function() coroutine.wrap(f)() end) end
      for _ = 1, 3 do pcall(f) end
      require("moonbeam").exit("survived")
    end)
    assert.same({ "error", "C stack overflow" }, h.reason(ref))
    host_answers()
  end)

  it("leaves the other processes on its scheduler running", function()
    local ticker = mb.spawn(function(parent)
      local mb = require "moonbeam"
      for i = 1, 20 do
        mb.sleep(5)
        mb.send(parent, { "tick", i })
      end
    end, mb.self())
    local _, ref = mb.spawn_monitor(function()
      local function f() ("x"):gsub(".", function() coroutine.wrap(f)() end) end
      f()
    end)
    assert.same({ "error", "C stack overflow" }, h.reason(ref))
    for i = 1, 20 do assert.same({ "tick", i }, h.expect(h.tuple("tick"), "tick " .. i)) end
    assert.is_true(h.wait_until(function() return not mb.alive(ticker) end))
  end)
end)
