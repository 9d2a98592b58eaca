-- A process woken by another is queued on the waker's scheduler, with no
-- wake-up for an idle one (host/core/sched.c, mb_sched_push): it must not
-- wait there while that scheduler is held by something else, another
-- scheduler asleep beside it (the system monitor wakes one: sysmon.c).

local mb = require "moonbeam"
local h = require "spec.support.helpers"

-- Waits for the time a message was sent, then reports how late it ran.
local function waiter(parent)
  local mb = require "moonbeam"
  local h = require "spec.support.helpers"
  mb.send(parent, { "ready", mb.self() })
  local sent = mb.receive()
  mb.send(parent, { "late", h.now_ms() - sent })
end

-- Wakes the waiter and ends: its state's close, after the slice, runs a
-- finalizer that holds the scheduler for spin ms.
local function closer(w, spin)
  local mb = require "moonbeam"
  local h = require "spec.support.helpers"
  local p = newproxy(true)
  getmetatable(p).__gc = function()
    local till = h.now_ms() + spin
    while h.now_ms() < till do end
  end
  _G.kept = p
  mb.send(w, h.now_ms())
end

describe("a process woken by one that then ends", function()
  before_each(h.before)
  after_each(h.after)

  it("runs on an idle scheduler while the ender's state closes", function()
    if h.schedulers() < 2 then return pending("needs two schedulers") end
    local worst = 0
    for i = 1, 3 do
      mb.spawn(waiter, mb.self())
      local w = h.expect(h.tuple("ready"), "waiter " .. i)[2]
      mb.sleep(20)   -- every scheduler asleep
      mb.spawn(closer, w, 200)
      worst = math.max(worst, h.expect(h.tuple("late"), "waiter " .. i)[2])
      mb.sleep(250)   -- the close is over
    end
    assert.is_true(worst < 100, ("the waiter ran %.1f ms late"):format(worst))
  end)
end)
