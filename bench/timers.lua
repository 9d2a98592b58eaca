-- bench/timers.lua — how late send_after timers fire.
--
--   moonbeam run bench/timers.lua N SPAN_MS
--
-- The script arms N timers with delays drawn uniformly from 0..SPAN_MS at a
-- receiver process; each message carries its due time (monotonic clock).
-- The receiver records receive time - due time and reports percentiles.
-- Reports timer_late_p50_ms, timer_late_p99_ms, timer_late_max_ms,
-- timer_late_min_ms (negative: a timer fired early), timer_arm_us (the
-- cost of one send_after call while arming) and timer_late_p99_after_arm_ms
-- (p99 over the timers due after the arming loop ended: timer precision
-- without the arming process competing for the CPU). Then receive timeouts:
-- WAITS receives of 1..5 ms that nothing ends early, each one's lateness
-- (elapsed - timeout): recv_timeout_late_p50_ms, recv_timeout_late_p99_ms.
-- Then a burst: N/4 timers of 0..50 ms set at once by one process, to ten
-- receivers (a host whose connections all set a timeout at once):
-- timer_burst_late_p50_ms, timer_burst_late_p99_ms.
-- Erlang peer: bench_core timers.
local mb = require "moonbeam"
local u = require "bench.lib.util"

local N = u.arg_int(1, 100000)
local SPAN = u.arg_int(2, 1000)

local function receiver(parent, n)
  local mb = require "moonbeam"
  local u = require "bench.lib.util"
  local late, due_at, armed = {}, {}, nil
  local i = 0
  while i < n or not armed do
    local m = mb.receive()
    if type(m) == "table" then                 -- {"armed", t}: arming is over
      armed = m[2]
    else
      i = i + 1
      late[i], due_at[i] = u.now_us() - m, m
    end
  end
  local after = {}                             -- timers due once arming was over
  for j = 1, n do
    if due_at[j] >= armed then after[#after + 1] = late[j] end
  end
  table.sort(late)
  table.sort(after)
  mb.send(parent, {"lateness", u.pct(late, 50), u.pct(late, 99), late[#late], late[1],
                   #after > 0 and u.pct(after, 99) or 0})
end

local r = mb.spawn(receiver, mb.self(), N)
math.randomseed(42)
local random, now_us, send_after = math.random, u.now_us, mb.send_after
local t0 = now_us()
for _ = 1, N do
  local delay = random(0, SPAN)
  send_after(delay, r, now_us() + delay * 1000)
end
local t_armed = now_us()
mb.send(r, {"armed", t_armed})

local m = mb.receive(SPAN + 60000)
if type(m) ~= "table" or m[1] ~= "lateness" then
  error("timers: expected the lateness report, got " .. tostring(m))
end
u.result("timer_late_p50_ms", m[2] / 1000, "ms")
u.result("timer_late_p99_ms", m[3] / 1000, "ms")
u.result("timer_late_max_ms", m[4] / 1000, "ms")
u.result("timer_late_min_ms", m[5] / 1000, "ms")
u.result("timer_late_p99_after_arm_ms", m[6] / 1000, "ms")
u.result("timer_arm_us", (t_armed - t0) / N, "us")

local WAITS, waits = 300, {}
for i = 1, WAITS do
  local d = i % 5 + 1
  local w0 = now_us()
  if mb.receive(d) ~= nil then error("timers: a message came during a receive timeout") end
  waits[i] = now_us() - w0 - d * 1000
end
table.sort(waits)
u.result("recv_timeout_late_p50_ms", u.pct(waits, 50) / 1000, "ms")
u.result("recv_timeout_late_p99_ms", u.pct(waits, 99) / 1000, "ms")

local function burst_receiver(parent, n)
  local mb = require "moonbeam"
  local now = require("bench.lib.util").now_us
  local late = {}
  for i = 1, n do late[i] = now() - mb.receive() end
  mb.send(parent, late)
end

local RECEIVERS, BURST = 10, math.floor(N / 4 / 10) * 10
local rs = {}
for i = 1, RECEIVERS do rs[i] = mb.spawn(burst_receiver, mb.self(), BURST / RECEIVERS) end
for i = 1, BURST do
  local delay = random(0, 50)
  send_after(delay, rs[i % RECEIVERS + 1], now_us() + delay * 1000)
end
local burst = {}
for _ = 1, RECEIVERS do
  for _, l in ipairs(mb.receive(60000)) do burst[#burst + 1] = l end
end
table.sort(burst)
u.result("timer_burst_late_p50_ms", u.pct(burst, 50) / 1000, "ms")
u.result("timer_burst_late_p99_ms", u.pct(burst, 99) / 1000, "ms")
