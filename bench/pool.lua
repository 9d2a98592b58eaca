-- bench/pool.lua — one gen_server against a pool of workers behind one name.
--
--   moonbeam run bench/pool.lua N CLIENTS WORKERS ROUNDS
--
-- CLIENTS processes make N calls in all, each call spin(ROUNDS) (ROUNDS
-- turns of a random-number generator: pure CPU work in one compiled loop,
-- ~0.15 ms for 20000), first to one gen_server that does the work itself,
-- then to the pool of examples/worker_pool.lua: a router registered under
-- one name handing each call to one of WORKERS workers, which answer with
-- gen.reply. Each side is warmed up first (every process JIT-compiles the
-- loop in its own state), then the clients are released together; the time
-- runs until the last one is done. Reports pool_one_per_s and pool_<W>w_per_s
-- (calls/s) and pool_speedup (pool / one). The pool can only win with more
-- than one scheduler: its bound is min(WORKERS, cores).
local mb = require "moonbeam"
local u = require "bench.lib.util"
local pool = require "examples.worker_pool"

local N = u.arg_int(1, 4000)
local C = u.arg_int(2, 8)
local W = u.arg_int(3, 4)
local ROUNDS = u.arg_int(4, 20000)
local WORK = "examples.worker_pool:spin"
local expected = pool.spin(ROUNDS)

local function client(parent, name, n, expected, warm)
  local mb = require "moonbeam"
  local p = require "examples.worker_pool"
  local call = p.call
  for _ = 1, warm do call(name, 100, 60000) end
  mb.send(parent, "ready")
  mb.receive()                                   -- "go"
  for _ = 1, n do
    local v = call(name, expected.n, 60000)
    if v ~= expected.v then error(("pool bench: got %s, expected %d"):format(tostring(v), expected.v)) end
  end
  mb.send(parent, "done")
end

-- C clients make N calls to name; returns calls/s.
local function run(name)
  for _ = 1, 4 * W do pool.call(name, ROUNDS, 60000) end   -- warm the workers (or the server)
  local me, pids = mb.self(), {}
  for i = 1, C do
    local n = math.floor(N / C) + (i <= N % C and 1 or 0)
    pids[i] = mb.spawn_link(client, me, name, n, { n = ROUNDS, v = expected }, 10)
  end
  for _ = 1, C do assert(mb.receive(60000) == "ready", "a client did not get ready") end
  local t0 = u.now_us()
  for i = 1, C do mb.send(pids[i], "go") end
  for _ = 1, C do assert(mb.receive(120000) == "done", "a client did not finish") end
  return N / ((u.now_us() - t0) / 1e6)
end

assert(pool.start_single("bench_one", { work = WORK }))
local one = run("bench_one")
u.result("pool_one_per_s", one, "call/s")
pool.stop("bench_one")

assert(pool.start_link("bench_pool", { size = W, work = WORK }))
local many = run("bench_pool")
u.result(("pool_%dw_per_s"):format(W), many, "call/s")
local calls = pool.stats("bench_pool").calls
pool.stop("bench_pool")

u.result("pool_speedup", many / one, "x")
u.err(("pool: %d clients, %d calls of spin(%d): one server %.0f call/s, %d workers %.0f call/s (%.2fx); per worker %s\n")
  :format(C, N, ROUNDS, one, W, many, many / one, table.concat(calls, "/")))
