-- bench/dist_server.lua — the counter that bench/dist.sh's clients call
-- across nodes (bench.lib.dist_counter), registered as "counter", as
-- bench_dist.erl's server is on BEAM.
--
--   moonbeam run --sname NAME bench/dist_server.lua
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"

assert(gen.start("bench.lib.dist_counter", nil, { name = "counter" }))
mb.receive()   -- until killed
