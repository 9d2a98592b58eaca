-- bench/gen_call.lua — gen_server.call latency and throughput.
--
--   moonbeam run bench/gen_call.lua N CLIENTS LABEL
--
-- A counter server (bench.lib.gen_counter) answers N calls in all.
-- CLIENTS = 1: the script itself calls N times; reports gen_call_rt_us (µs
-- per call, round trip). CLIENTS > 1: that many client processes, each
-- warmed up with 1000 calls, are released together and make N / CLIENTS
-- calls each; reports gen_call_<LABEL>_per_s (calls/s in total, from the
-- release until the last client is done). Erlang peer: bench_gen call.
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local u = require "bench.lib.util"

local N = u.arg_int(1, 500000)
local C = u.arg_int(2, 1)
local label = arg and arg[3] or (C .. "c")
local WARM = 1000

local server = assert(gen.start_link("bench.lib.gen_counter", 0))
local expected

if C <= 1 then
  local call = gen.call
  for _ = 1, WARM do call(server, "inc") end   -- warm up (and JIT)
  local t0 = u.now_us()
  for _ = 1, N do call(server, "inc") end
  local t1 = u.now_us()
  u.result("gen_call_rt_us", (t1 - t0) / N, "us")
  expected = WARM + N
else
  local function client(parent, n, srv, warm)
    local mb = require "moonbeam"
    local call = require("moonbeam.gen_server").call
    for _ = 1, warm do call(srv, "inc") end
    mb.send(parent, "ready")
    mb.receive()                               -- "go"
    for _ = 1, n do call(srv, "inc") end
    mb.send(parent, "done")
  end
  local took = u.race("gen_call", client, N, C, server, WARM)
  u.result("gen_call_" .. label .. "_per_s", N / (took / 1e6), "call/s")
  expected = WARM * C + N
end

local got = gen.call(server, "get")
if got ~= expected then
  error(("gen_call: the server counted %s calls, expected %d"):format(tostring(got), expected))
end
gen.stop(server)
