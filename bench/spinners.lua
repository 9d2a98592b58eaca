-- bench/spinners.lua — what processes spinning in a compiled loop do to the
-- others, and whether mb.exit(pid, "kill") ends them.
--
--   moonbeam --schedulers 2 run bench/spinners.lua [SPINNERS] [MS] [interp]
--
-- Starts SPINNERS (default 2) processes looping `for i = 1, 1e15 do x = x + i
-- end`, which LuaJIT compiles (with `interp`, after jit.off(): interpreted),
-- ping-pongs with an echo process for MS (default 1000) ms, then kills each
-- spinner and waits up to 1 s for its DOWN. Reports spin_rt_count (round trips in MS), spin_rt_worst_ms,
-- spin_handoffs (OS threads gained meanwhile: each hand-off starts a fresh
-- thread and the stuck one spins on, see host/core/sysmon.h), spin_killed (how
-- many spinners the kill ended) and spin_kill_worst_ms.
--
-- With stock LuaJIT a trace never looks at hooks: the schedulers are handed
-- off, and the kill abandons each spinner's state in its compiled loop (its
-- thread leaves). With `make checkhook` the trace leaves for the interpreter
-- once the monitor sets its hook: the spinners are preempted like
-- interpreted code, and killed.
local mb = require "moonbeam"
local u = require "bench.lib.util"

local SPINNERS = u.arg_int(1, 2)
local MS = u.arg_int(2, 1000)
local INTERP = arg and arg[3] == "interp"

local function spinner(parent, interp)
  local mb = require "moonbeam"
  if interp then jit.off() end
  mb.send(parent, { "spinning", mb.self() })
  local x = 0
  for i = 1, 1e15 do x = x + i end
  return x
end

local function echo()
  local mb = require "moonbeam"
  while true do
    local m = mb.receive()
    if m == "stop" then return end
    mb.send(m[1], { "pong", m[2] })
  end
end

local function tagged(tag)
  return function(m) return type(m) == "table" and m[1] == tag end
end

local e = mb.spawn(echo)
mb.send(e, { mb.self(), 0 })
assert(mb.receive(tagged("pong"), 5000), "the echo does not answer")
local threads0 = u.status_kb("Threads")

local pids = {}
for i = 1, SPINNERS do
  pids[i] = mb.spawn(spinner, mb.self(), INTERP)
  assert(mb.receive(tagged("spinning"), 5000), "spinner " .. i .. " did not start")
end

local n, worst, t0 = 0, 0, u.now_ms()
while u.now_ms() - t0 < MS do
  local t = u.now_ms()
  n = n + 1
  mb.send(e, { mb.self(), n })
  local r = mb.receive(tagged("pong"), 5000)
  assert(r and r[2] == n, "no pong " .. n .. " within 5 s")
  worst = math.max(worst, u.now_ms() - t)
end
local handoffs = u.status_kb("Threads") - threads0

local killed, kill_worst = 0, 0
for i = 1, SPINNERS do
  local ref = mb.monitor(pids[i])
  local t = u.now_ms()
  mb.exit(pids[i], "kill")
  local down = mb.receive(function(m) return type(m) == "table" and m[1] == "DOWN" and m[2] == ref end, 1000)
  if down then
    killed = killed + 1
    kill_worst = math.max(kill_worst, u.now_ms() - t)
  end
end
mb.send(e, "stop")

u.result("spin_rt_count", n, "round trips")
u.result("spin_rt_worst_ms", worst, "ms")
u.result("spin_handoffs", handoffs, "threads")
u.result("spin_killed", killed, "of " .. SPINNERS)
u.result("spin_kill_worst_ms", killed > 0 and kill_worst or -1, "ms")
