-- bench/blocking.lua — a ping-pong while other processes sit in blocking calls.
--
--   moonbeam run bench/blocking.lua --schedulers 2 [BLOCKERS] [MS]
--
-- Round trips per second between the script and an echo process, first
-- alone (blocking_base_rt_per_s), then for a window of MS - 300 ms while
-- BLOCKERS processes (default 2, as many as the schedulers above) each run
-- mb.blocking(os.execute, "sleep MS/1000") (blocking_rt_per_s). The window
-- is fixed on the clock beforehand, so a host whose schedulers the calls
-- held shows next to no round trips. No Erlang peer (a dirty I/O scheduler
-- would be its twin).
local mb = require "moonbeam"
local u = require "bench.lib.util"

local BLOCKERS = u.arg_int(1, 2)
local MS = u.arg_int(2, 1000)

local function echo()
  local mb = require "moonbeam"
  while true do
    local m = mb.receive()
    if m == "stop" then return end
    mb.send(m[1], m[2])
  end
end

local p = mb.spawn(echo)
local me = mb.self()

-- Round trips until the clock reads `deadline` (ms).
local function rounds_until(deadline)
  local n = 0
  while u.now_ms() < deadline do
    for _ = 1, 100 do
      n = n + 1
      mb.send(p, { me, n })
      if mb.receive() ~= n then error("blocking: a round trip came back wrong") end
    end
  end
  return n
end

rounds_until(u.now_ms() + 100)                     -- warm up (and JIT)
local window = MS - 300
local t0 = u.now_ms()
u.result("blocking_base_rt_per_s", rounds_until(t0 + window) / (window / 1e3), "rt/s")

for _ = 1, BLOCKERS do
  mb.spawn(function(parent, ms)
    local mb = require "moonbeam"
    mb.blocking(os.execute, ("sleep %g"):format(ms / 1e3))
    mb.send(parent, "slept")
  end, me, MS)
end
local from = u.now_ms() + 100                      -- once every call has begun
mb.sleep(100)
local n = rounds_until(from + window)
local took = u.now_ms() - from
u.result("blocking_rt_per_s", n / (math.max(took, window) / 1e3), "rt/s")
for _ = 1, BLOCKERS do
  if mb.receive(MS + 10000) ~= "slept" then error("blocking: a blocking call did not end") end
end
u.stop_all(mb, { p })
