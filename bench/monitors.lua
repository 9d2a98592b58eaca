-- bench/monitors.lua — demonitor and DOWN with many monitors held.
--
--   moonbeam run bench/monitors.lua N
--
-- One process monitors an idle process N times, removes every other
-- monitor in a scattered order, then the target exits and the N/2 DOWNs
-- left are received. Reports, per operation:
--   monitor_<N>_us      mb.monitor
--   demonitor_<N>_us    mb.demonitor with up to N monitors held
--   down_<N>_us         from the target's exit until its last DOWN was received
-- Each should stay flat as N grows. No Erlang peer (a diagnostics row).
local mb = require "moonbeam"
local u = require "bench.lib.util"

local N = u.arg_int(1, 100000)
N = N - N % 2
local label = N >= 1000 and (math.floor(N / 1000) .. "k") or tostring(N)

local target = mb.spawn(function() require("moonbeam").receive() end)
local refs = {}
local t0 = u.now_us()
for i = 1, N do refs[i] = mb.monitor(target) end
local t1 = u.now_us()
local half, j = N / 2, 0
for _ = 1, half do
  j = (j + 7919) % half   -- 7919 is prime: every odd monitor once unless it divides N/2
  mb.demonitor(refs[2 * j + 1])
end
local t2 = u.now_us()
mb.exit(target, "bye")
local got = 0
while mb.receive(function(m) return type(m) == "table" and m[1] == "DOWN" end, 30000) do
  got = got + 1
  if got == half then break end
end
local t3 = u.now_us()
if got ~= half then error(("monitors: %d DOWNs, expected %d"):format(got, half)) end

u.result("monitor_" .. label .. "_us", (t1 - t0) / N, "us")
u.result("demonitor_" .. label .. "_us", (t2 - t1) / half, "us")
u.result("down_" .. label .. "_us", (t3 - t2) / half, "us")
