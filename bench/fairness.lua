-- bench/fairness.lua — how well other processes are served while some spin.
--
--   moonbeam --schedulers 2 run bench/fairness.lua pingpong MS SPINNERS KIND...
--   moonbeam --schedulers 2 run bench/fairness.lua timers N SPAN_MS KIND...
--
-- A spinner (bench.lib.procs:spin) is a process in a loop that never
-- yields; KIND is "compiled" (a LuaJIT trace: only the hand-off to a fresh
-- thread gets its scheduler back, and a kill abandons it there) or
-- "interpreted" (jit.off(): preempted by the count hook). Each run measures the host idle first, then once per
-- KIND with spinners running, so every ratio compares figures taken
-- moments apart in the same host.
--
-- pingpong: round trips between the script and an echo process for MS ms,
-- idle, then with SPINNERS spinners of each KIND. Reports
-- fair_pp_idle_per_s and fair_pp_idle_p99_ms (round trips/s, p99 round
-- trip), the same for each KIND as fair_pp_<KIND>_*, with
-- fair_pp_<KIND>_of_idle_pct (the rate with spinners, in % of the idle
-- rate), fair_pp_<KIND>_max_ms, and fair_pp_<KIND>_kill_ms
-- (exit(pid, "kill") until the last DOWN).
--
-- timers: N send_after timers, delays uniform in 0..SPAN_MS, armed at an
-- idle receiver as bench/timers.lua does; idle, then with one spinner of
-- each KIND. Reports fair_timer_idle_p99_ms, fair_timer_<KIND>_p99_ms and
-- fair_timer_<KIND>_ratio (p99 with the spinner / idle p99).
--
-- Erlang peer: bench_core fairness_pp / fairness_timers (run with +S 2:2),
-- whose one kind of spinner is a tight recursive loop, reported as KIND
-- "spin".
local mb = require "moonbeam"
local ffi = require "ffi"
local u = require "bench.lib.util"

local mode = arg and arg[1]
local KINDS = {}
for i = 4, arg and #arg or 0 do KINDS[#KINDS + 1] = arg[i] end
for _, k in ipairs(KINDS) do
  if k ~= "compiled" and k ~= "interpreted" then
    error("fairness: spinner kind must be compiled or interpreted, not " .. k)
  end
end

local me, now_us = mb.self(), u.now_us

-- ---------------------------------------------------------------- spinners

-- Spinners spin until deadline_ms (mb.now's clock), which must fall after the measurement
-- ends; spin_check makes sure it did.
local function start_spinners(n, kind, deadline_ms)
  local pids = {}
  for i = 1, n do pids[i] = mb.spawn_opt("bench.lib.procs:spin", { monitor = true }, kind, deadline_ms, me) end
  for _ = 1, n do
    local m = mb.receive(function(x) return type(x) == "table" and x[1] == "spinning" end, 10000)
    if not m then error("fairness: a " .. kind .. " spinner did not start within 10 s") end
  end
  return pids
end

local function is_down(x) return type(x) == "table" and x[1] == "DOWN" end

local function spin_check(pids, kind)
  for _, p in ipairs(pids) do
    if not mb.alive(p) then
      error("fairness: a " .. kind .. " spinner ended before the measurement did")
    end
  end
end

-- Kill the spinners and wait for every DOWN. Returns ms from kill to last
-- DOWN.
local function stop_spinners(pids, kind)
  local t0 = now_us()
  for _, p in ipairs(pids) do mb.exit(p, "kill") end
  for _ = 1, #pids do
    local m = mb.receive(is_down, 30000)
    if not m then error("fairness: a " .. kind .. " spinner still runs 30 s after its end") end
    if m[5] ~= "killed" then
      error(("fairness: exit(pid, \"kill\") did not end a %s spinner; it ended with %s at its deadline")
            :format(kind, tostring(m[5])))
    end
  end
  return (now_us() - t0) / 1000
end

-- -------------------------------------------------------------- histogram

-- Latencies in 1 µs buckets up to HMAX µs (the last bucket takes the rest).
local HMAX = 200000
local function histogram() return { n = 0, max = 0, b = ffi.new("int32_t[?]", HMAX + 1) } end

local function record(h, us)
  h.n = h.n + 1
  if us > h.max then h.max = us end
  local i = math.min(math.floor(us), HMAX)
  h.b[i] = h.b[i] + 1
end

-- The p-th percentile (nearest rank) in ms.
local function hist_pct(h, p)
  local rank = math.max(1, math.ceil(p * h.n / 100))
  local seen = 0
  for i = 0, HMAX - 1 do
    seen = seen + h.b[i]
    if seen >= rank then return (i + 1) / 1000 end   -- the bucket's upper edge
  end
  return h.max / 1000
end

-- --------------------------------------------------------------- pingpong

local function echo(parent)
  local mb = require "moonbeam"
  while true do
    local x = mb.receive()
    if x == "stop" then return end
    mb.send(parent, x)
  end
end

-- Round trips to pong for ms: rate per s and the histogram.
local function pingpong_for(pong, ms)
  local send, receive = mb.send, mb.receive
  local h = histogram()
  local t0 = now_us()
  local t, stop, n = t0, t0 + ms * 1000, 0
  while t < stop do
    n = n + 1
    send(pong, n)
    local r = receive(30000)
    if r ~= n then error(("fairness: sent %d, got back %s"):format(n, tostring(r))) end
    local t1 = now_us()
    record(h, t1 - t)
    t = t1
  end
  return n / ((t - t0) / 1e6), h
end

local function pingpong(ms, nspin)
  local pong = mb.spawn(echo, me)
  pingpong_for(pong, math.min(ms, 100))        -- warm up (and JIT)
  local idle, h = pingpong_for(pong, ms)
  u.result("fair_pp_idle_per_s", idle, "rt/s")
  u.result("fair_pp_idle_p99_ms", hist_pct(h, 99), "ms")
  u.result("fair_pp_idle_max_ms", h.max / 1000, "ms")
  for _, kind in ipairs(KINDS) do
    local pids = start_spinners(nspin, kind, mb.now() + ms + 500)
    local rate, hk = pingpong_for(pong, ms)
    spin_check(pids, kind)
    local key = "fair_pp_" .. kind
    u.result(key .. "_per_s", rate, "rt/s")
    u.result(key .. "_p99_ms", hist_pct(hk, 99), "ms")
    u.result(key .. "_of_idle_pct", 100 * rate / idle, "%")
    u.result(key .. "_max_ms", hk.max / 1000, "ms")
    local stop_ms = stop_spinners(pids, kind)
    u.result(key .. "_kill_ms", stop_ms, "ms")
  end
  mb.send(pong, "stop")
end

-- ----------------------------------------------------------------- timers

-- Receives n timer messages carrying their due time (µs); sends back the
-- lateness histogram's p99 and max.
local function timer_receiver(parent, n)
  local mb = require "moonbeam"
  local u = require "bench.lib.util"
  local late = {}
  for i = 1, n do late[i] = u.now_us() - mb.receive() end
  table.sort(late)
  mb.send(parent, { "lateness", u.pct(late, 99) / 1000, late[n] / 1000 })
end

local function timers_once(n, span)
  local r = mb.spawn(timer_receiver, me, n)
  local random, send_after = math.random, mb.send_after
  for _ = 1, n do
    local delay = random(0, span)
    send_after(delay, r, now_us() + delay * 1000)
  end
  local m = mb.receive(function(x) return type(x) == "table" and x[1] == "lateness" end, span + 60000)
  if not m then error("fairness: no lateness report") end
  return m[2], m[3]
end

local function timers(n, span)
  math.randomseed(42)
  timers_once(math.min(n, 1000), 100)          -- warm up (and JIT)
  local idle, max = timers_once(n, span)
  u.result("fair_timer_idle_p99_ms", idle, "ms")
  u.result("fair_timer_idle_max_ms", max, "ms")
  for _, kind in ipairs(KINDS) do
    local pids = start_spinners(1, kind, mb.now() + span + 500)
    local p99, kmax = timers_once(n, span)
    spin_check(pids, kind)
    u.result("fair_timer_" .. kind .. "_p99_ms", p99, "ms")
    u.result("fair_timer_" .. kind .. "_ratio", p99 / idle, "x")
    u.result("fair_timer_" .. kind .. "_max_ms", kmax, "ms")
    stop_spinners(pids, kind)
  end
end

if mode == "pingpong" then
  pingpong(u.arg_int(2, 2000), u.arg_int(3, 2))
elseif mode == "timers" then
  timers(u.arg_int(2, 10000), u.arg_int(3, 1000))
else
  error("usage: fairness.lua pingpong MS SPINNERS KIND... | timers N SPAN_MS KIND...")
end
