-- examples/worker_pool.lua: the seeds' answer to the single-process
-- bottleneck. One gen_server does one thing at a time: when each request
-- costs real work, every client waits behind all the others, however many
-- cores sit idle. Here a pool of worker processes stands behind one
-- registered name: a router takes each call, hands it to a worker (in turn,
-- or by the hash of a key) and is free again at once; the worker does the
-- work and answers the caller with gen.reply. The callers still make one
-- gen.call to one name, and the work runs on as many cores as there are
-- workers. (examples/app/pool.lua is the supervision-tree demo's pool, whose
-- workers a supervisor owns.)
--
--   moonbeam run examples/worker_pool.lua          the demo (from the repository root)
--
--   local pool = require "examples.worker_pool"
--   pool.start_link("fib", {size = 4, work = "examples.worker_pool:fib"})
--   pool.call("fib", 25)                       --> 75025, computed by one of the 4 workers
--   pool.call("fib", {key = "user:7", ...})    -- with dispatch = "hash": always the same worker
--   pool.stats("fib")                          --> {size =, calls = {per worker}, restarts =}
--   pool.start_single("fib1", {work = ...})    -- one plain server doing the work, to compare
--
-- The work is a function "module:fn", called as fn(request) in the worker's
-- own Lua state; an error in it comes back to the caller as nil, message.
-- Workers are linked to the router, which traps exits and starts a new one
-- in the place of one that dies (its callers in flight get no answer: their
-- gen.call times out).
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"

local Pool = {}

local function resolve(target)
  local name, fn = target:match("^([^:]+):(.+)$")
  local f = name and require(name)[fn]
  if type(f) ~= "function" then error(("worker_pool: no function '%s'"):format(target), 0) end
  return f
end

local function run(work, req)
  local ok, r = pcall(work, req)
  if ok then return { "ok", r } end
  return { "error", tostring(r) }
end

-- ---- the servers: one module, three roles (router, worker, single) -----------

local function start_worker(st, i)
  local pid, why = gen.start_link("examples.worker_pool", { role = "worker", work = st.work, n = i })
  if not pid then return nil, why end
  st.workers[i] = pid
  st.slot[pid] = i
  return pid
end

function Pool.init(opts)
  if opts.role == "worker" or opts.role == "single" then
    return "ok", { role = opts.role, work = resolve(opts.work), n = opts.n, done = 0 }
  end
  mb.trap_exit(true)                           -- a worker's death is a message
  local st = { role = "router", work = opts.work, dispatch = opts.dispatch, size = opts.size,
               workers = {}, slot = {}, calls = {}, next = 0, restarts = 0 }
  for i = 1, st.size do
    local ok, why = start_worker(st, i)
    if not ok then return "stop", { "worker_failed", why } end   -- the started ones die with us
    st.calls[i] = 0
  end
  return "ok", st
end

-- djb2 over the key's text: the same key, the same worker.
local function hash(key)
  local h = 5381
  local s = tostring(key)
  for i = 1, #s do h = (h * 33 + s:byte(i)) % 4294967296 end
  return h
end

local function pick(st, req)
  if st.dispatch == "hash" then
    local key = req
    if type(req) == "table" then key = req.key end
    return hash(key) % st.size + 1
  end
  st.next = st.next % st.size + 1
  return st.next
end

function Pool.handle_call(req, from, st)
  if req[1] == "job" then
    if st.role == "single" then                -- does the work itself: callers queue up
      st.done = st.done + 1
      return "reply", run(st.work, req[2]), st
    end
    local i = pick(st, req[2])
    st.calls[i] = st.calls[i] + 1
    gen.cast(st.workers[i], { "job", from, req[2] })
    return "noreply", st                       -- the worker answers
  elseif req[1] == "stats" then
    if st.role ~= "router" then return "reply", { size = 1, calls = { st.done }, restarts = 0 }, st end
    return "reply", { size = st.size, calls = st.calls, restarts = st.restarts }, st
  elseif req[1] == "workers" then
    return "reply", st.workers or { mb.self() }, st
  end
  return "reply", nil, st
end

function Pool.handle_cast(msg, st)
  if msg[1] == "job" then                      -- a worker: work, then answer the caller
    st.done = st.done + 1
    gen.reply(msg[2], run(st.work, msg[3]))
  end
  return "noreply", st
end

function Pool.handle_info(msg, st)
  if type(msg) == "table" and msg[1] == "EXIT" and st.slot and st.slot[msg[2]] then
    local i = st.slot[msg[2]]
    st.slot[msg[2]] = nil
    assert(start_worker(st, i))                -- if a new one cannot start, neither can the pool
    st.restarts = st.restarts + 1
  end
  return "noreply", st
end

function Pool.terminate(_reason, st)
  if st.role ~= "router" then return end
  for _, pid in ipairs(st.workers) do
    mb.unlink(pid)
    mb.exit(pid, "shutdown")
  end
end

-- ---- the client -------------------------------------------------------------

--- start_link(name, opts) -> the router's pid, registered as name, or nil
-- and why. opts: work ("module:fn", required), size (workers, default 4),
-- dispatch ("round_robin", the default, or "hash": by request.key, or the
-- request itself when it is not a table).
function Pool.start_link(name, opts)
  opts = opts or {}
  if type(opts.work) ~= "string" then error("worker_pool.start_link: opts.work must be \"module:fn\"", 2) end
  local dispatch = opts.dispatch or "round_robin"
  if dispatch ~= "round_robin" and dispatch ~= "hash" then
    error("worker_pool.start_link: dispatch must be \"round_robin\" or \"hash\"", 2)
  end
  return gen.start_link("examples.worker_pool", { role = "router", work = opts.work, size = opts.size or 4,
                                                  dispatch = dispatch }, { name = name })
end

--- start_single(name, opts) -> one server that does the work itself
-- (opts.work), registered as name: the bottleneck, for comparison.
function Pool.start_single(name, opts)
  opts = opts or {}
  if type(opts.work) ~= "string" then error("worker_pool.start_single: opts.work must be \"module:fn\"", 2) end
  return gen.start_link("examples.worker_pool", { role = "single", work = opts.work }, { name = name })
end

--- call(pool, request, [timeout]) -> the work's result, or nil and its
-- error. Raises as gen.call does (timeout default 5000).
function Pool.call(pool, req, timeout)
  local r = gen.call(pool, { "job", req }, timeout)
  if r[1] == "ok" then return r[2] end
  return nil, r[2]
end

--- stats(pool) -> {size =, calls = {calls handed to each worker}, restarts =}.
function Pool.stats(pool) return gen.call(pool, { "stats" }) end
--- workers(pool) -> the workers' pids, in dispatch order.
function Pool.workers(pool) return gen.call(pool, { "workers" }) end
function Pool.stop(pool) return gen.stop(pool) end

-- ---- work for the demo, the specs and bench/pool.lua ---------------------------

--- fib(n): the naive recursion, about 1.6^n calls of pure CPU work.
local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end
Pool.fib = fib

--- spin(n): n rounds of the MINSTD random-number generator (exact in
-- doubles, and in BEAM's small integers for bench_pool.erl); steady CPU
-- work in one compiled loop, for bench/pool.lua.
function Pool.spin(n)
  local x = 1
  for _ = 1, n do x = x * 48271 % 2147483647 end
  return x
end

--- nap(ms): work that only waits (I/O, say): the pool overlaps it on any number of cores.
function Pool.nap(ms)
  mb.sleep(ms)
  return ms
end

--- A request {n =, key =}: fib(n) and which worker computed it.
function Pool.keyed_fib(req) return { key = req.key, fib = fib(req.n), by = tostring(mb.self()) } end

-- ---- the demo: moonbeam run examples/worker_pool.lua -----------------------------

-- `clients` processes call pool `calls` times each, all at once; returns ms.
local function load(pool, clients, calls, n)
  local me, t0 = mb.self(), mb.now()
  for _ = 1, clients do
    mb.spawn(function(parent, pool, calls, n)
      local p = require "examples.worker_pool"
      for _ = 1, calls do assert(p.call(pool, n, 30000)) end
      require("moonbeam").send(parent, "done")
    end, me, pool, calls, n)
  end
  for _ = 1, clients do assert(mb.receive(function(m) return m == "done" end, 60000)) end
  return mb.now() - t0
end

function Pool.demo()
  local work = "examples.worker_pool:fib"
  assert(Pool.start_single("fib_one", { work = work }))
  assert(Pool.start_link("fib_pool", { size = 4, work = work }))
  print("one server \"fib_one\" and a pool \"fib_pool\" of 4 workers, both doing fib(n)")
  print("pool.call(\"fib_pool\", 25) ->", Pool.call("fib_pool", 25))

  local clients, calls, n = 8, 20, 24
  load("fib_one", 2, 2, n)                     -- warm up (the JIT, in each state)
  load("fib_pool", 8, 2, n)
  local one = load("fib_one", clients, calls, n)
  local pooled = load("fib_pool", clients, calls, n)
  print(("%d clients x %d calls of fib(%d): one server %d ms, the pool %d ms (%.1fx)"):format(
    clients, calls, n, one, pooled, one / pooled))
  local s = Pool.stats("fib_pool")
  print(("calls handed to each worker, in turn: %s"):format(table.concat(s.calls, ", ")))
  print("(CPU-bound work: the pool wins by up to min(4, cores), less on a busy machine, not at all on one core)")

  -- Work that waits (a query, a request to another service) overlaps on any number of cores.
  assert(Pool.start_single("nap_one", { work = "examples.worker_pool:nap" }))
  assert(Pool.start_link("nap_pool", { size = 4, work = "examples.worker_pool:nap" }))
  one, pooled = load("nap_one", 8, 1, 50), load("nap_pool", 8, 1, 50)
  print(("8 clients x 1 call that waits 50 ms: one server %d ms, the pool %d ms (%.1fx)"):format(
    one, pooled, one / pooled))

  -- By key: the same key always reaches the same worker.
  assert(Pool.start_link("by_key", { size = 4, work = "examples.worker_pool:keyed_fib", dispatch = "hash" }))
  for _, key in ipairs({ "alice", "bob", "alice", "carol", "bob", "alice" }) do
    local r = Pool.call("by_key", { key = key, n = 10 })
    print(("by key: %-5s -> fib(10) = %d, computed by %s"):format(key, r.fib, r.by))
  end

  -- A worker that dies is replaced; the name and the other workers stay.
  local w = Pool.workers("fib_pool")[2]
  mb.exit(w, "kill")
  mb.sleep(20)
  s = Pool.stats("fib_pool")
  local now = {}
  for i, p in ipairs(Pool.workers("fib_pool")) do now[i] = tostring(p) end
  print(("killed worker %s: %d restart, the workers now %s"):format(tostring(w), s.restarts, table.concat(now, " ")))
  print("pool.call(\"fib_pool\", 20) ->", Pool.call("fib_pool", 20))
  Pool.stop("nap_one")
  Pool.stop("nap_pool")
  Pool.stop("by_key")
  Pool.stop("fib_pool")
  Pool.stop("fib_one")
end

if arg and arg[0] and arg[0]:match("worker_pool%.lua$") and (...) ~= "examples.worker_pool" then
  Pool.demo()
end

return Pool
