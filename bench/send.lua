-- bench/send.lua — one-way message throughput.
--
--   moonbeam run bench/send.lua N
--
-- The script sends N small messages to a consumer that counts them and
-- says "done" when it has all. Reports send_msgs_per_s, from the first send
-- until "done" arrives. Erlang peer: bench_core send.
local mb = require "moonbeam"
local u = require "bench.lib.util"

local N = u.arg_int(1, 4000000)

local function consumer(parent, n)
  local mb = require "moonbeam"
  local receive = mb.receive
  for _ = 1, n do receive() end
  mb.send(parent, "done")
end

local c = mb.spawn(consumer, mb.self(), N)
local send = mb.send
local t0 = u.now_us()
for i = 1, N do send(c, i) end
local t_sent = u.now_us()
local m = mb.receive(60000)
local t1 = u.now_us()
if m ~= "done" then error("send: expected 'done', got " .. tostring(m)) end
u.result("send_msgs_per_s", N / ((t1 - t0) / 1e6), "msg/s")
u.result("send_producer_msgs_per_s", N / ((t_sent - t0) / 1e6), "msg/s")
