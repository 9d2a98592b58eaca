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

local function producer(parent, n, srv, warm)
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

local took = u.race("gen_cast", producer, N, P, server, WARM)
u.result("gen_cast_" .. label .. "_per_s", N / (took / 1e6), "cast/s")

local got = gen.call(server, "get")
if got ~= WARM * P + N then
  error(("gen_cast: the server counted %s casts, expected %d"):format(tostring(got), WARM * P + N))
end
gen.stop(server)
