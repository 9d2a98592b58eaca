-- bench/pingpong.lua — round-trip latency between two processes.
--
--   moonbeam run bench/pingpong.lua N
--
-- The script sends i to an echo process and waits for i back, N times.
-- Reports pingpong_rt_us (µs per round trip). Erlang peer: bench_core pingpong.
local mb = require "moonbeam"
local u = require "bench.lib.util"

local N = u.arg_int(1, 2000000)

local function pong(ping)
  local mb = require "moonbeam"
  while true do
    local x = mb.receive()
    if x == "stop" then return end
    mb.send(ping, x)
  end
end

local p = mb.spawn(pong, mb.self())

local function rounds(n)
  for i = 1, n do
    mb.send(p, i)
    local r = mb.receive()
    if r ~= i then error(("pingpong: sent %d, got back %s"):format(i, tostring(r))) end
  end
end

rounds(1000)                                   -- warm up (and JIT)
local t0 = u.now_us()
rounds(N)
local t1 = u.now_us()
u.result("pingpong_rt_us", (t1 - t0) / N, "us")

u.stop_all(mb, {p})
