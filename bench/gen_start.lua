-- bench/gen_start.lua — starting gen_servers, and what an idle one costs.
--
--   moonbeam run bench/gen_start.lua N [spaced]
--
-- Starts N counter servers (bench.lib.gen_counter, by module name) one
-- after another, each gen_server.start returning once init has acked, and
-- keeps them all running. Reports gen_start_us (wall µs per start) and
-- idle_gen_server_kb (VmRSS growth of the host per idle server) and
-- gen_start_cpu_us (CPU time of all threads per start). Erlang peer:
-- bench_gen start.
--
-- With "spaced", each start follows a 2 ms pause (a host that starts a
-- server per connection now and then, not in a loop): reports the median
-- and tenth percentile of one start's wall time, gen_start_spaced_us and
-- gen_start_spaced_p10_us.
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local u = require "bench.lib.util"

local N = u.arg_int(1, 10000)
local WARM = 100

if arg[2] == "spaced" then
  local pids, took = {}, {}
  for i = 1, WARM do pids[i] = assert(gen.start("bench.lib.gen_counter", 0)) end
  for i = 1, N do
    mb.sleep(2)
    local t0 = u.now_us()
    pids[WARM + i] = assert(gen.start("bench.lib.gen_counter", 0))
    took[i] = u.now_us() - t0
  end
  table.sort(took)
  u.result("gen_start_spaced_us", took[math.ceil(N / 2)], "us")
  u.result("gen_start_spaced_p10_us", took[math.max(1, math.ceil(N / 10))], "us")
  u.stop_all(mb, pids)
  return
end

local pids = {}
for i = 1, WARM do pids[i] = assert(gen.start("bench.lib.gen_counter", 0)) end
collectgarbage()
local rss0, cpu0 = u.rss_kb(), u.cpu_us()
local t0 = u.now_us()
for i = 1, N do pids[WARM + i] = assert(gen.start("bench.lib.gen_counter", 0)) end
local t1, cpu1 = u.now_us(), u.cpu_us()
local rss1 = u.rss_kb()
u.result("gen_start_us", (t1 - t0) / N, "us")
u.result("gen_start_cpu_us", (cpu1 - cpu0) / N, "us")
u.result("idle_gen_server_kb", (rss1 - rss0) / N, "KB")
-- Every server is alive and serves.
assert(gen.call(pids[#pids], "get") == 0)
u.stop_all(mb, pids)
