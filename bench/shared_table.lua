-- bench/shared_table.lua — shared tables (moonbeam.table) beside ETS.
--
--   moonbeam run bench/shared_table.lua N
--
-- A public set of 1000 string keys ("key:1".."key:1000"), each holding a
-- 32-byte string. Reports (op/s, in all):
--   tab_lookup_1p_per_s   N lookups from one process
--   tab_lookup_2p_per_s   N lookups from two processes at once
--   tab_insert_per_s      N inserts (overwriting the 1000 keys), one process
--   tab_counter_2p_per_s  N update_counter calls on one key, two processes
--   tab_dbag_1key_per_s   N/10 inserts under one key of a duplicate_bag (a
--                         registry topic's subscribers), one process
--   cfg_call_8r_per_s     8 readers, N reads of a config value in all,
--                         each through a gen_server call
--   cfg_table_8r_per_s    the same reads as direct lookups in a table
-- Erlang peer: bench_ets (ets, read_concurrency / write_concurrency).
local mb = require "moonbeam"
local tab = require "moonbeam.table"
local gen = require "moonbeam.gen_server"
local u = require "bench.lib.util"

local N = u.arg_int(1, 1000000)
local KEYS = 1000

local t = tab.new("bench_set", { access = "public" })
for i = 1, KEYS do tab.insert(t, "key:" .. i, ("v"):rep(32)) end
tab.insert(t, "counter", 0)
local cfg = assert(gen.start({
  init = function() return "ok", { ["config:timeout"] = 5000 } end,
  handle_call = function(req, _, s) return "reply", s[req[2]], s end,
}))

-- body(n, arg) in `workers` processes at once; ops/s in all, from the
-- release until the last is done. body runs in each worker's own state.
local function in_parallel(workers, total, body, arg)
  local me, pids = mb.self(), {}
  local n = math.floor(total / workers)
  for w = 1, workers do
    pids[w] = mb.spawn(function(parent, n, body, arg)
      local mb = require "moonbeam"
      body(1000, arg)                      -- warm up (and JIT)
      mb.send(parent, "ready")
      mb.receive()                         -- "go"
      body(n, arg)
      mb.send(parent, "done")
    end, me, n, body, arg)
  end
  for _ = 1, workers do assert(mb.receive(60000) == "ready") end
  local t0 = u.now_us()
  for w = 1, workers do mb.send(pids[w], "go") end
  for _ = 1, workers do assert(mb.receive(300000) == "done") end
  return workers * n / ((u.now_us() - t0) / 1e6)
end

local function lookups(n)
  local tab = require "moonbeam.table"
  local t, lookup, keys = tab.whereis("bench_set"), tab.lookup, {}
  for i = 1, 1000 do keys[i] = "key:" .. i end
  for i = 1, n do
    if not lookup(t, keys[i % 1000 + 1]) then error("missing key") end
  end
end

local function inserts(n)
  local tab = require "moonbeam.table"
  local t, insert, keys, v = tab.whereis("bench_set"), tab.insert, {}, ("w"):rep(32)
  for i = 1, 1000 do keys[i] = "key:" .. i end
  for i = 1, n do insert(t, keys[i % 1000 + 1], v) end
end

local function counter(n)
  local tab = require "moonbeam.table"
  local t, update = tab.whereis("bench_set"), tab.update_counter
  for _ = 1, n do update(t, "counter", 1) end
end

local function one_key_inserts(n)
  local tab = require "moonbeam.table"
  local t, insert = tab.new({ type = "duplicate_bag" }), tab.insert
  for i = 1, n do insert(t, "topic", i) end
  tab.delete_table(t)
end

local function config_by_call(n, server)
  local call = require("moonbeam.gen_server").call
  for _ = 1, n do
    if call(server, { "get", "config:timeout" }) ~= 5000 then error("wrong config") end
  end
end

local function config_by_table(n)
  local tab = require "moonbeam.table"
  local t, lookup = tab.whereis("bench_cfg"), tab.lookup
  for _ = 1, n do
    if lookup(t, "config:timeout") ~= 5000 then error("wrong config") end
  end
end

u.result("tab_lookup_1p_per_s", in_parallel(1, N, lookups), "op/s")
u.result("tab_lookup_2p_per_s", in_parallel(2, N, lookups), "op/s")
u.result("tab_insert_per_s", in_parallel(1, N, inserts), "op/s")
local before = tab.lookup(t, "counter")
local rate = in_parallel(2, N, counter)
assert(tab.lookup(t, "counter") == before + 2 * (1000 + math.floor(N / 2)), "update_counter lost updates")
u.result("tab_counter_2p_per_s", rate, "op/s")
u.result("tab_dbag_1key_per_s", in_parallel(1, math.floor(N / 10), one_key_inserts), "op/s")
local c = tab.new("bench_cfg")
tab.insert(c, "config:timeout", 5000)
local by_call = in_parallel(8, math.floor(N / 10), config_by_call, cfg)
local by_table = in_parallel(8, math.floor(N / 10), config_by_table)
u.result("cfg_call_8r_per_s", by_call, "op/s")
u.result("cfg_table_8r_per_s", by_table, "op/s")
u.result("cfg_table_vs_call", by_table / by_call, "x")
