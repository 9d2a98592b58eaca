-- bench/dist_client.lua — gen_server calls and casts from one moonbeam
-- node to the counter on another (bench/dist.sh; bench_dist.erl's client
-- on BEAM), over one connection:
--
--   moonbeam run --sname NAME bench/dist_client.lua SERVER_NODE N
--
-- dist_call_mb_rt_us: µs per call, after 1000 warm-up calls;
-- dist_cast_mb_per_s: N casts, then one call, casts/s until it returns.
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local u = require "bench.lib.util"

local node = assert(arg[1], "usage: dist_client.lua SERVER_NODE N")
local N = u.arg_int(2, 100000)
local WARM = 1000
local S, GET, INC = { "counter", node }, mb.atom("get"), mb.atom("inc")

-- Until the server answers (its node starts beside us): 20 ms apart.
local base
for _ = 1, 500 do
  base = gen.try_call(S, GET, 1000)
  if base then break end
  mb.sleep(20)
end
assert(base, "dist_client: the server never answered")

local call, cast = gen.call, gen.cast
for _ = 1, WARM do call(S, INC) end
local t0 = u.now_us()
for _ = 1, N do call(S, INC) end
local t1 = u.now_us()
u.result("dist_call_mb_rt_us", (t1 - t0) / N, "us")
for _ = 1, N do cast(S, INC) end
local got = call(S, GET, 60000)
local t2 = u.now_us()
u.result("dist_cast_mb_per_s", N / ((t2 - t1) / 1e6), "cast/s")
if got - base ~= WARM + 2 * N then
  error(("dist_client: the server counted %d, expected %d"):format(got - base, WARM + 2 * N))
end
