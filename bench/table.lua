-- bench/table.lua — puts moonbeam's and BEAM's benchmark results side by side.
--
--   luajit bench/table.lua [--present] MOONBEAM_FILE BEAM_FILE
--
-- Both files hold lines "RESULT<TAB>key<TAB>value<TAB>unit" (anything else
-- is ignored, except "FAIL<TAB>what<TAB>why" lines, listed under the
-- table). A key given more than once (BENCH_ROUNDS) shows its median. A
-- missing file or key prints "-"; with --present (a run of some
-- workloads only) a row neither side reported is left out. ratio is always
-- moonbeam/BEAM; the target column says which way is better and whether
-- it is met.

-- The median of a key's values (bench/run.sh's BENCH_ROUNDS runs each
-- workload more than once); a value that is not a number counts as none.
local function median(values)
  local v = {}
  for _, x in ipairs(values) do
    if x == x then v[#v + 1] = x end           -- not nan
  end
  if #v == 0 then return values[1] end
  table.sort(v)
  local mid = (#v + 1) / 2
  return (v[math.floor(mid)] + v[math.ceil(mid)]) / 2
end

local function read_results(path)
  local res, order, fails = {}, {}, {}
  local f = path and io.open(path, "r")
  if not f then return res, order, fails end
  for line in f:lines() do
    local key, value, unit = line:match("^RESULT\t([^\t]+)\t([^\t]+)\t([^\t]*)")
    if key then
      if not res[key] then
        order[#order + 1] = key
        res[key] = { values = {}, unit = unit }
      end
      local r = res[key]
      r.values[#r.values + 1] = tonumber(value)
    else
      local what, why = line:match("^FAIL\t([^\t]+)\t(.*)")
      if what then fails[#fails + 1] = what .. ": " .. why end
    end
  end
  f:close()
  for _, r in pairs(res) do r.value = median(r.values) end
  return res, order, fails
end

local present_only = arg[1] == "--present"
local files = present_only and { arg[2], arg[3] } or { arg[1], arg[2] }
local mb, mb_order, mb_fails = read_results(files[1])
local beam, beam_order, beam_fails = read_results(files[2])

local function val(t, key) return t[key] and t[key].value end

-- A check returns the target text, and true/false when it can be judged.
local function vs_beam(op, factor)
  return function(key, beam_key)
    local m, b = val(mb, key), val(beam, beam_key or key)
    local text = ("%s %s× BEAM"):format(op, factor)
    if not (m and b) then return text end
    if op == "≤" then return text, m <= factor * b end
    return text, m >= factor * b
  end
end

local function vs_newstate(key)
  local m, n = val(mb, key), val(mb, "newstate_libs_us")
  local text = "≤ 1.3× newstate_libs_us"
  if not (m and n) then return text end
  return text, m <= 1.3 * n
end

local function at_most(limit, unit)
  return function(key)
    local m = val(mb, key)
    local text = ("≤ %s %s"):format(limit, unit)
    if not m then return text end
    return text, m <= limit
  end
end

-- moonbeam's own value against a limit (BEAM's is shown beside it).
local function own_at_most(limit, what)
  return function(key)
    local m = val(mb, key)
    local text = ("≤ %s (%s)"):format(limit, what)
    if not m then return text end
    return text, m <= limit
  end
end

-- moonbeam's own value against a floor.
local function own_at_least(limit, what)
  return function(key)
    local m = val(mb, key)
    local text = ("≥ %s (%s)"):format(limit, what)
    if not m then return text end
    return text, m >= limit
  end
end

-- Fairness: the rate with spinners against moonbeam's own idle rate, and
-- its p99 round trip with spinners.
local function fair_pingpong(kind)
  return function()
    local pct = val(mb, "fair_pp_" .. kind .. "_of_idle_pct")
    local p99 = val(mb, "fair_pp_" .. kind .. "_p99_ms")
    local text = "≥ 50% of idle rate, p99 ≤ 20 ms"
    if not (pct and p99) then return text end
    return text, pct >= 50 and p99 <= 20
  end
end

-- Fairness: timer lateness p99 with a spinner against moonbeam's own idle p99.
local function fair_timers(kind)
  return function()
    local r = val(mb, "fair_timer_" .. kind .. "_ratio")
    local text = "≤ 1.5× the idle figure"
    if not r then return text end
    return text, r <= 1.5
  end
end

-- RESP: at least factor × BEAM and at least rfactor × redis-server (its
-- own row, under redis_key); either missing is left unjudged.
local function vs_beam_redis(factor, rfactor, redis_key)
  return function(key)
    local m, b, r = val(mb, key), val(beam, key), val(mb, redis_key)
    local parts, ok = {}, true
    if factor then
      parts[#parts + 1] = ("≥ %s× BEAM"):format(factor)
      if m and b then ok = ok and m >= factor * b else ok = nil end
    end
    parts[#parts + 1] = ("≥ %s× redis-server"):format(rfactor)
    if ok ~= nil and m and r then ok = ok and m >= rfactor * r else ok = nil end
    return table.concat(parts, ", "), ok
  end
end

-- A row is { key, label, unit, check }, and beam = the key BEAM reports it
-- under when that differs (BEAM's one kind of spinner stands beside both
-- of moonbeam's).
local rows = {
  { "newstate_libs_us",  "lua_newstate+libs+close (C)", "µs" },
  { "switch_1_ns",       "resume+yield of a state (C)", "ns" },
  { "switch_ring_ns",    "  over 1000 states in turn",  "ns" },
  { "spawn_exit_us",     "spawn+exit 100k, per process", "µs", vs_newstate },
  { "spawn_10k_us",      "spawn 10k held, per process", "µs" },
  { "spawn_100k_us",     "spawn 100k held, per process", "µs" },
  { "idle_proc_10k_kb",  "RSS per idle process (10k)",  "KB", at_most(40, "KB") },
  { "idle_proc_100k_kb", "RSS per idle process (100k)", "KB", at_most(40, "KB") },
  { "pingpong_rt_us",    "pingpong round trip",         "µs", vs_beam("≤", "1.0") },
  { "pause_rt_us",       "  after a 2 ms pause (median)", "µs" },
  { "pause_spawn_us",    "spawn + a message back, after a pause", "µs" },
  { "send_msgs_per_s",   "send throughput",             "msg/s" },
  { "ring_hops_per_s",   "ring 1000 procs",             "hop/s", vs_beam("≥", "1.0") },
  { "timer_late_p50_ms", "timer lateness p50",          "ms" },
  { "timer_late_p99_ms", "timer lateness p99",          "ms", vs_beam("≤", "1.0") },
  { "recv_timeout_late_p50_ms", "receive timeout lateness p50", "ms" },
  { "recv_timeout_late_p99_ms", "receive timeout lateness p99", "ms" },
  { "timer_burst_late_p50_ms", "timer lateness in a burst, p50", "ms" },
  { "timer_burst_late_p99_ms", "timer lateness in a burst, p99", "ms" },
  { "idle_cpu_pct",      "idle CPU, 10k procs",         "%" },
  { "gen_call_rt_us",     "gen call round trip, 1 client", "µs",     vs_beam("≤", "0.6") },
  { "gen_call_2c_per_s",  "gen call, 2 clients",           "call/s" },
  { "gen_call_8c_per_s",  "gen call, 8 clients",           "call/s" },
  { "gen_call_64c_per_s", "gen call, 64 clients",          "call/s", vs_beam("≥", "1.5") },
  { "echo_64c_per_s",     "  raw echo, 64 clients",        "rt/s" },
  { "gen_cast_1p_per_s",  "gen cast, 1 producer",          "cast/s", vs_beam("≥", "1.0") },
  { "gen_cast_2p_per_s",  "gen cast, 2 producers",         "cast/s" },
  { "gen_cast_8p_per_s",  "gen cast, 8 producers",         "cast/s" },
  { "gen_call_empty_us",  "gen call, empty mailbox",       "µs" },
  { "gen_call_10k_queued_us",    "gen call, 10k msgs queued", "µs" },
  { "gen_call_10k_queued_ratio", "  10k queued / empty",      "×",
    own_at_most(1.05, "moonbeam's own") },
  { "gen_start_us",       "start a gen_server",            "µs",     at_most(25, "µs") },
  { "gen_start_cpu_us",   "  CPU per start, all threads",  "µs" },
  { "gen_start_spaced_us", "  one start after a pause (median)", "µs" },
  { "gen_start_spaced_p10_us", "  the same, tenth percentile", "µs" },
  { "idle_gen_server_kb", "memory per idle gen_server",    "KB",     at_most(40, "KB") },
  { "tab_lookup_1p_per_s",  "table lookup, 1 process",       "op/s",   vs_beam("≥", "1.0") },
  { "tab_lookup_2p_per_s",  "table lookup, 2 processes",     "op/s",   vs_beam("≥", "1.0") },
  { "tab_insert_per_s",     "table insert, 1 process",       "op/s" },
  { "tab_counter_2p_per_s", "update_counter, 1 key, 2 procs", "op/s",  vs_beam("≥", "1.0") },
  { "tab_dbag_1key_per_s",  "duplicate_bag insert, 1 key",   "op/s" },
  { "cfg_call_8r_per_s",    "config read via gen call, 8 readers", "op/s" },
  { "cfg_table_8r_per_s",   "config read via table, 8 readers",    "op/s" },
  { "cfg_table_vs_call",    "  table / gen call",            "×",      own_at_least(5, "moonbeam's own") },
  { "pool_one_per_s",     "CPU-bound calls, 1 server",     "call/s" },
  { "pool_4w_per_s",      "CPU-bound calls, pool of 4",    "call/s" },
  { "pool_speedup",       "  pool / one server",           "×",
    own_at_least(1.5, "moonbeam's own, ≥ 2 cores") },
  { "dist_call_rt_us",    "dist call rt, erl → this node",  "µs",     vs_beam("≤", "1.0") },
  { "dist_cast_per_s",    "dist casts, erl → this node",    "cast/s", vs_beam("≥", "1.0") },
  { "dist_call_mb_rt_us", "dist call rt, moonbeam → moonbeam", "µs",  vs_beam("≤", "1.0"), beam = "dist_call_rt_us" },
  { "dist_cast_mb_per_s", "dist casts, moonbeam → moonbeam", "cast/s", vs_beam("≥", "1.0"), beam = "dist_cast_per_s" },
  { "resp_set_per_s",      "RESP SET, 50 clients",          "req/s", vs_beam_redis(1.5, 0.5, "redis_set_per_s") },
  { "resp_get_per_s",      "RESP GET, 50 clients",          "req/s", vs_beam_redis(1.5, 0.5, "redis_get_per_s") },
  { "resp_p16_set_per_s",  "RESP SET, pipelined 16",        "req/s", vs_beam_redis(nil, 0.3, "redis_p16_set_per_s") },
  { "resp_p16_get_per_s",  "RESP GET, pipelined 16",        "req/s", vs_beam_redis(nil, 0.3, "redis_p16_get_per_s") },
  { "redis_set_per_s",     "  redis-server SET (reference)", "req/s" },
  { "redis_get_per_s",     "  redis-server GET (reference)", "req/s" },
  { "redis_p16_set_per_s", "  redis-server SET, -P 16",     "req/s" },
  { "redis_p16_get_per_s", "  redis-server GET, -P 16",     "req/s" },
  { "http_per_s",          "HTTP GET /, wrk 100 conns",     "req/s", vs_beam("≥", "1.5") },
  { "idle_conn_kb",        "RSS per idle connection (10k)", "KB",    at_most(50, "KB") },
  { "accept_per_s",        "accepted connections",          "conn/s", own_at_least(10000, "moonbeam's own") },
  { "fair_pp_idle_per_s",  "pingpong 2 s, idle (2 scheds)", "rt/s" },
  { "fair_pp_idle_p99_ms", "  p99 round trip",              "ms" },
  { "fair_pp_compiled_per_s",  "pingpong, 2 compiled spinners", "rt/s", beam = "fair_pp_spin_per_s" },
  { "fair_pp_compiled_p99_ms", "  p99 round trip",               "ms",   beam = "fair_pp_spin_p99_ms" },
  { "fair_pp_compiled_of_idle_pct", "  % of idle rate",          "%",    fair_pingpong("compiled"),
    beam = "fair_pp_spin_of_idle_pct" },
  { "fair_pp_interpreted_per_s",  "pingpong, 2 interpreted spinners", "rt/s", beam = "fair_pp_spin_per_s" },
  { "fair_pp_interpreted_p99_ms", "  p99 round trip",                  "ms",   beam = "fair_pp_spin_p99_ms" },
  { "fair_pp_interpreted_of_idle_pct", "  % of idle rate",             "%",    fair_pingpong("interpreted"),
    beam = "fair_pp_spin_of_idle_pct" },
  { "fair_pp_compiled_kill_ms",    "kill 2 compiled spinners",    "ms", at_most(100, "ms"), beam = "fair_pp_spin_kill_ms" },
  { "fair_pp_interpreted_kill_ms", "kill 2 interpreted spinners", "ms", at_most(100, "ms"), beam = "fair_pp_spin_kill_ms" },
  { "fair_timer_idle_p99_ms", "timer lateness p99, idle (2 scheds)", "ms" },
  { "fair_timer_compiled_p99_ms", "  1 compiled spinner",  "ms", beam = "fair_timer_spin_p99_ms" },
  { "fair_timer_compiled_ratio",  "    / idle",            "×",  fair_timers("compiled"),
    beam = "fair_timer_spin_ratio" },
  { "fair_timer_interpreted_p99_ms", "  1 interpreted spinner", "ms", beam = "fair_timer_spin_p99_ms" },
  { "fair_timer_interpreted_ratio",  "    / idle",              "×",  fair_timers("interpreted"),
    beam = "fair_timer_spin_ratio" },
}

local known = {}
for _, r in ipairs(rows) do
  known[r[1]] = true
  if r.beam then known[r.beam] = true end
end
local main_rows = #rows
-- Extra keys either side reported (diagnostics), after the main rows.
local function add_extras(order, results)
  for _, key in ipairs(order) do
    if not known[key] then
      known[key] = true
      rows[#rows + 1] = { key, key, results[key].unit }
    end
  end
end
add_extras(mb_order, mb)
add_extras(beam_order, beam)

local function num(v)
  if not v then return "-" end
  if v ~= v then return "nan" end
  local a = math.abs(v)
  if a >= 1e5 then                             -- group thousands
    local s = ("%d"):format(math.floor(v + 0.5))
    repeat local n; s, n = s:gsub("^(-?%d+)(%d%d%d)", "%1,%2") until n == 0
    return s
  elseif a >= 100 then return ("%.0f"):format(v)
  elseif a >= 10 then return ("%.1f"):format(v)
  elseif a >= 1 then return ("%.2f"):format(v)
  elseif a == 0 then return "0"
  else return ("%.3f"):format(v) end
end

local out = { { "benchmark", "unit", "moonbeam", "BEAM", "ratio", "target" } }
local shown_main = 0
for i, r in ipairs(rows) do
  local key, label, unit, check = r[1], r[2], r[3], r[4]
  local m, b = val(mb, key), val(beam, r.beam or key)
  if present_only and not (m or b) then goto next_row end
  if i <= main_rows then shown_main = shown_main + 1 end
  local ratio = (m and b and m >= 0 and b > 0) and ("%.2f×"):format(m / b) or "-"
  local target = ""
  if check then
    local text, ok = check(key, r.beam)
    target = text .. (ok == true and "  ok" or ok == false and "  MISSED" or "")
  end
  out[#out + 1] = { label, unit, num(m), num(b), ratio, target }
  ::next_row::
end

local function width(s) return #s:gsub("[\128-\191]", "") end
local w = {}
for _, row in ipairs(out) do
  for i, cell in ipairs(row) do w[i] = math.max(w[i] or 0, width(cell)) end
end
local function line(row)
  local cells = {}
  for i, cell in ipairs(row) do
    local pad = (" "):rep(w[i] - width(cell))
    -- numbers right-aligned, text left-aligned
    cells[i] = (i >= 3 and i <= 5) and pad .. cell or cell .. pad
  end
  return "| " .. table.concat(cells, " | ") .. " |"
end
print(line(out[1]))
local rule = {}
for i = 1, #w do rule[i] = ("-"):rep(w[i]) end
print("|-" .. table.concat(rule, "-|-") .. "-|")
for i = 2, #out do
  print(line(out[i]))
  if i == shown_main + 1 and i < #out then          -- diagnostics follow
    print(line({ "(diagnostics)", "", "", "", "", "" }))
  end
end

for _, f in ipairs(mb_fails) do print("moonbeam FAILED  " .. f) end
for _, f in ipairs(beam_fails) do print("BEAM FAILED      " .. f) end
