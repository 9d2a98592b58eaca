-- bench/idle_cpu.lua — CPU an idle host burns.
--
--   moonbeam run bench/idle_cpu.lua N MS
--
-- Starts N processes blocked in receive, lets the host settle, then sleeps
-- MS and reports the host's CPU use (user + system, all threads, from
-- getrusage) over that time as idle_cpu_pct (100 = one core busy).
-- Erlang peer: bench_core idle.
local mb = require "moonbeam"
local u = require "bench.lib.util"

local N = u.arg_int(1, 10000)
local MS = u.arg_int(2, 2000)

local function idle(parent)
  local mb = require "moonbeam"
  mb.send(parent, "ready")
  mb.receive()
end

local me = mb.self()
local pids = {}
for i = 1, N do pids[i] = mb.spawn(idle, me) end
for _ = 1, N do
  local m = mb.receive(30000)
  if m ~= "ready" then error("idle_cpu: expected 'ready', got " .. tostring(m)) end
end
mb.sleep(200)                                  -- let the schedulers settle

local c0, t0 = u.cpu_us(), u.now_us()
mb.sleep(MS)
local c1, t1 = u.cpu_us(), u.now_us()
u.result("idle_cpu_pct", 100 * (c1 - c0) / (t1 - t0), "%")

u.stop_all(mb, pids, 30000)
