-- bench/ring.lua — a token around a ring of processes.
--
--   moonbeam run bench/ring.lua SIZE HOPS
--
-- SIZE processes, each knowing the next; a counter token is passed HOPS
-- times (each hop decrements it); the node that sees 0 tells the script.
-- Reports ring_hops_per_s. Erlang peer: bench_core ring.
local mb = require "moonbeam"
local u = require "bench.lib.util"

local SIZE = u.arg_int(1, 1000)
local HOPS = u.arg_int(2, 1000000)

local function node(main)
  local mb = require "moonbeam"
  local receive, send = mb.receive, mb.send
  local nxt = receive()[2]                     -- {"next", pid}
  while true do
    local k = receive()
    if k == "stop" then return end
    if k == 0 then send(main, "ring_done") else send(nxt, k - 1) end
  end
end

local me = mb.self()
local pids = {}
for i = 1, SIZE do pids[i] = mb.spawn(node, me) end
for i = 1, SIZE do mb.send(pids[i], {"next", pids[i % SIZE + 1]}) end

local function lap(hops)
  mb.send(pids[1], hops)
  local m = mb.receive(120000)
  if m ~= "ring_done" then error("ring: expected 'ring_done', got " .. tostring(m)) end
end

lap(1000)                                      -- warm up
local t0 = u.now_us()
lap(HOPS)
local t1 = u.now_us()
u.result("ring_hops_per_s", HOPS / ((t1 - t0) / 1e6), "hop/s")

u.stop_all(mb, pids)
