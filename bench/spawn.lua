-- bench/spawn.lua — spawn cost and memory of idle processes.
--
--   moonbeam run bench/spawn.lua N LABEL [module]
--
-- Spawns N processes that each tell the parent they are running and then
-- block in receive. Reports, per process:
--   spawn_<LABEL>_us       wall time from the first spawn until all N ran
--   spawn_call_<LABEL>_us  time until the last mb.spawn call returned (a
--                          spawner gives its turn every 20 spawns: the new
--                          processes run meanwhile)
--   spawn_cpu_<LABEL>_us   CPU time (all threads) over the same span
--   idle_proc_<LABEL>_kb   VmRSS growth of the host
--   idle_state_<LABEL>_kb  mb.info(pid).memory, averaged over a sample
-- With "module", the processes are spawned by module name
-- ("bench.lib.procs:idle") instead of as a function (bytecode), and the
-- keys read spawn_module_<LABEL>_us and so on.
-- Erlang peer: bench_core spawn.
local mb = require "moonbeam"
local u = require "bench.lib.util"

local N = u.arg_int(1, 10000)
local label = arg and arg[2] or tostring(N)
local by_module = arg and arg[3] == "module"
if by_module then label = "module_" .. label end

local function idle(parent)
  local mb = require "moonbeam"
  mb.send(parent, "ready")
  mb.receive()
end

local me = mb.self()
collectgarbage()
local rss0, cpu0 = u.rss_kb(), u.cpu_us()
local pids = {}
local t0 = u.now_us()
local target = by_module and "bench.lib.procs:idle" or idle
for i = 1, N do pids[i] = mb.spawn(target, me) end
local t_call = u.now_us()
for _ = 1, N do
  local m = mb.receive(30000)
  if m ~= "ready" then error("spawn: expected 'ready', got " .. tostring(m)) end
end
local t1, cpu1 = u.now_us(), u.cpu_us()
local rss1 = u.rss_kb()

local sample, bytes = 0, 0
for i = 1, N, math.max(1, math.floor(N / 200)) do
  local info = mb.info(pids[i])
  if info and info.memory then sample, bytes = sample + 1, bytes + info.memory end
end

u.result("spawn_" .. label .. "_us", (t1 - t0) / N, "us")
u.result("spawn_call_" .. label .. "_us", (t_call - t0) / N, "us")
u.result("spawn_cpu_" .. label .. "_us", (cpu1 - cpu0) / N, "us")
u.result("idle_proc_" .. label .. "_kb", (rss1 - rss0) / N, "KB")
if sample > 0 then u.result("idle_state_" .. label .. "_kb", bytes / sample / 1024, "KB") end

u.stop_all(mb, pids, 30000)
