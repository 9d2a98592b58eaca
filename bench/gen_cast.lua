-- bench/gen_cast.lua — gen_server.cast throughput into one server.
--
--   moonbeam run bench/gen_cast.lua N PRODUCERS LABEL
--
-- PRODUCERS processes (each warmed up with 1000 casts and a call) are
-- released together; each casts N / PRODUCERS times to one counter server
-- (bench.lib.gen_counter), then makes one call, which returns once the
-- server has handled all of that producer's casts. Reports
-- gen_cast_<LABEL>_per_s: N / (release until the last producer's call
-- returned). Erlang peer: bench_gen cast.
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local u = require "bench.lib.util"

local N = u.arg_int(1, 3000000)
local P = u.arg_int(2, 1)
local label = arg and arg[3] or (P .. "p")
local WARM = 1000

local server = assert(gen.start_link("bench.lib.gen_counter", 0))

local function producer(parent, srv, n, warm)
  local mb = require "moonbeam"
  local gen = require "moonbeam.gen_server"
  local cast, call = gen.cast, gen.call
  for _ = 1, warm do cast(srv, "inc") end
  call(srv, "get")
  mb.send(parent, "ready")
  mb.receive()                                 -- "go"
  for _ = 1, n do cast(srv, "inc") end
  call(srv, "get")                             -- the server has all our casts
  mb.send(parent, "done")
end

local me, pids = mb.self(), {}
for i = 1, P do
  local n = math.floor(N / P) + (i <= N % P and 1 or 0)
  pids[i] = mb.spawn_link(producer, me, server, n, WARM)
end
for _ = 1, P do
  local m = mb.receive(60000)
  if m ~= "ready" then error("gen_cast: expected 'ready', got " .. tostring(m)) end
end
local t0 = u.now_us()
for i = 1, P do mb.send(pids[i], "go") end
for _ = 1, P do
  local m = mb.receive(120000)
  if m ~= "done" then error("gen_cast: expected 'done', got " .. tostring(m)) end
end
local t1 = u.now_us()
u.result("gen_cast_" .. label .. "_per_s", N / ((t1 - t0) / 1e6), "cast/s")

local got = gen.call(server, "get")
if got ~= WARM * P + N then
  error(("gen_cast: the server counted %s casts, expected %d"):format(tostring(got), WARM * P + N))
end
gen.stop(server)
