-- Reliability: the host under abuse (docs/semantics.md, "Preemption,
-- hand-off and kill", "Mailbox bounds", "Memory limit").
-- These are the short forms; `make soak` runs the same scenarios long
-- (MOONBEAM_SOAK=1) and prints what each measured as a table. Hostile
-- console clients (never reading, garbage, 300 connections) are in
-- attach_spec.lua.
--
-- Every check is on what happened (a reply or an error per call, an order,
-- a reason, a count); the only times compared are upper bounds far above
-- what the host needs (a call's timeout plus seconds), so a loaded machine
-- passes as an idle one does.

local mb = require "moonbeam"
local sup = require "moonbeam.supervisor"
local h = require "spec.support.helpers"
local U = require "spec.support.sup_util"

local SOAK = os.getenv("MOONBEAM_SOAK") == "1"
local SANITIZED = U.sanitized()
-- Kills by signal cannot be observed under ThreadSanitizer (sup_util.lua).
local kill_it = U.under_tsan() and pending or it

-- A size: the short form's, the soak's, and a smaller one under a sanitizer.
local function size(short, soak, sanitized)
  if SOAK then return soak end
  return SANITIZED and sanitized or short
end

-- Soak figures: one line per scenario on stderr, "SOAK <scenario> k=v ...",
-- which `make soak` gathers into its table.
local function report(scenario, figures)
  if not SOAK then return end
  local keys, parts = {}, {}
  for k in pairs(figures) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = figures[k]
    parts[#parts + 1] = k .. "=" .. (type(v) == "number" and v % 1 ~= 0 and ("%.1f"):format(v) or tostring(v))
  end
  io.stderr:write("SOAK ", scenario, " ", table.concat(parts, " "), "\n")
end

-- One caller of the kill storm: for `seconds`, calls and casts to random
-- servers (by name), everything numbered from one counter; each call's
-- outcome and time are tallied. Tells parent {"caller_done", tally}.
local function storm_caller(parent, names, seconds, timeout, seed)
  local mb = require "moonbeam"
  local gen = require "moonbeam.gen_server"
  local h = require "spec.support.helpers"
  math.randomseed(seed)
  local t = { calls = 0, replies = 0, errors = {}, worst = 0, wrong = 0 }
  local n, stop = 0, h.now_ms() + seconds * 1000
  while h.now_ms() < stop do
    local name = names[math.random(#names)]
    n = n + 1
    if math.random() < 0.5 then
      gen.cast(name, { "seq", mb.self(), n })
    else
      local t0 = h.now_ms()
      local reply, err = gen.try_call(name, { "seq", mb.self(), n }, timeout)
      local took = h.now_ms() - t0
      t.calls = t.calls + 1
      if took > t.worst then t.worst = took end
      if reply ~= nil then
        t.replies = t.replies + 1
        if reply ~= n then t.wrong = t.wrong + 1 end
      else
        local why = type(err) == "table" and tostring(err[1]) or tostring(err)
        t.errors[why] = (t.errors[why] or 0) + 1
      end
    end
  end
  mb.send(parent, { "caller_done", t })
end

-- One of `n` processes, spawned and gone at once: spawn/exit churn.
local function blink() end

describe("the host under abuse", function()
  before_each(h.before)
  after_each(h.after)

  it("a kill storm: servers killed at random while 64 callers call and cast; every call ends "
     .. "within its timeout, each server sees each caller's messages in order, the tree is whole", function()
    local SERVERS, CALLERS, TIMEOUT = 8, 64, 500
    local seconds = size(3, 60, 2)
    local names, children = {}, {}
    for i = 1, SERVERS do
      names[i] = h.name("storm")
      children[i] = { id = "s" .. i, module = "spec.support.storm_server", name = names[i],
                      arg = { watcher = mb.self() }, shutdown = "brutal_kill" }
    end
    local s = assert(sup.start_link(children, { intensity = 1e9, period = 1000 }))
    for i = 1, CALLERS do mb.spawn(storm_caller, mb.self(), names, seconds, TIMEOUT, i) end

    -- The storm: kill a random server every few ms until the callers stop.
    math.randomseed(42)
    local kills, stop = 0, h.now_ms() + seconds * 1000
    while h.now_ms() < stop do
      local kids = sup.which_children(s)
      local victim = kids[math.random(#kids)].pid
      if h.is_pid(victim) then
        mb.exit(victim, "kill")
        kills = kills + 1
      end
      mb.sleep(math.random(2, 20))
    end

    local total = { calls = 0, replies = 0, worst = 0, wrong = 0, errors = {} }
    for i = 1, CALLERS do
      local t = h.expect(h.tuple("caller_done"), "caller " .. i, TIMEOUT + 10000)[2]
      total.calls = total.calls + t.calls
      total.replies = total.replies + t.replies
      total.wrong = total.wrong + t.wrong
      total.worst = math.max(total.worst, t.worst)
      for why, k in pairs(t.errors) do total.errors[why] = (total.errors[why] or 0) + k end
    end
    local disorder = mb.receive(h.tuple("disorder"), 0)
    assert.is_nil(disorder, "a server saw a caller's messages out of order")
    assert.equal(0, total.wrong, "a call got another call's reply")
    -- A call ends by its timeout; seconds more would be a stuck host.
    assert.is_true(total.worst < TIMEOUT + 3000, ("a call took %d ms (timeout %d)"):format(total.worst, TIMEOUT))
    for why in pairs(total.errors) do
      assert.is_true(why == "noproc" or why == "exit" or why == "timeout", "a call failed with " .. why)
    end
    assert.is_true(kills > 0 and total.replies > 0)
    -- The tree is whole: every server back and answering.
    assert.is_true(h.wait_until(function()
      for _, c in ipairs(sup.which_children(s)) do
        if not h.is_pid(c.pid) then return false end
      end
      return true
    end, 10000), "a server was not restarted")
    local gen = require "moonbeam.gen_server"
    for i = 1, SERVERS do assert.equal(-1, gen.call(names[i], { "seq", mb.self(), -1 }, 5000)) end
    report("kill_storm", { seconds = seconds, kills = kills, calls = total.calls, replies = total.replies,
                           noproc = total.errors.noproc or 0, exit = total.errors.exit or 0,
                           timeout = total.errors.timeout or 0, worst_call_ms = total.worst })
    U.stop_quietly(s)
  end)

  it("spawn/exit churn: processes started and ended by the hundred thousand leave the host's "
     .. "memory and process table as they were", function()
    local N, WARMUP, BATCH = size(100000, 1000000, 10000), size(20000, 100000, 2000), 1000
    local base = #mb.processes()
    local function churn(n)
      for _ = 1, n / BATCH do
        local refs = {}
        for j = 1, BATCH do refs[j] = select(2, mb.spawn_monitor(blink)) end
        for j = 1, BATCH do assert.equal("normal", h.reason(refs[j], 10000)) end
      end
    end
    churn(WARMUP)
    collectgarbage("collect")
    local before = U.rss_kb()
    local t0 = h.now_ms()
    churn(N)
    local took = h.now_ms() - t0
    collectgarbage("collect")
    local after = U.rss_kb()
    assert.is_true(h.wait_until(function() return #mb.processes() == base end), "processes left behind")
    if before and after and not SANITIZED then
      -- Flat: 16 MB over 100k lives is 160 bytes each.
      assert.is_true(after <= before + 16 * 1024, ("RSS went from %d to %d KB over %d processes"):format(before, after, N))
    end
    report("spawn_exit", { processes = N, per_s = N / (took / 1000), rss_before_kb = before, rss_after_kb = after })
  end)

  kill_it("spinners killed in compiled code, one after another: every kill lands, and no thread or "
     .. "memory is left behind", function()
    local N = size(300, 20000, 100)
    local function spin(parent, n)
      local mb = require "moonbeam"
      mb.send(parent, { "spinning", n })
      local x = 0
      for i = 1, 1e15 do x = x + i end
      return x
    end
    local function kill_some(n, worst)
      for i = 1, n do
        local pid, ref = mb.spawn_monitor(spin, mb.self(), i)
        h.expect(h.tuple("spinning", i), "spinner " .. i)
        mb.sleep(i % 5)   -- killed in its first slice, or after it was handed off
        local t0 = h.now_ms()
        mb.exit(pid, "kill")
        assert.equal("killed", h.reason(ref, 10000))
        worst = math.max(worst, h.now_ms() - t0)
      end
      return worst
    end
    local threads = U.os_threads()
    kill_some(20, 0)
    collectgarbage("collect")
    local before = U.rss_kb()
    local t0 = h.now_ms()
    local worst = kill_some(N, 0)
    local took = h.now_ms() - t0
    collectgarbage("collect")
    local after = U.rss_kb()
    assert.is_true(h.wait_until(function() return U.os_threads() <= threads end),
                   ("OS threads: %d before, %d after"):format(threads, U.os_threads()))
    if before and after and not SANITIZED then
      -- Each abandoned state's arena and machine code are freed: 64 KB
      -- kept per kill would be 19 MB over 300.
      assert.is_true(after <= before + 16 * 1024, ("RSS went from %d to %d KB over %d kills"):format(before, after, N))
    end
    report("kill_compiled", { kills = N, per_s = N / (took / 1000), worst_kill_ms = worst,
                              rss_before_kb = before, rss_after_kb = after })
  end)

  it("100,000 timers armed and cancelled in one slice: none fires, and the host goes on", function()
    local N = size(100000, 1000000, 20000)
    local rss0 = U.rss_kb()
    local t0 = h.now_ms()
    local cancelled = 0
    for i = 1, N do
      if mb.cancel_timer(mb.send_after(200, mb.self(), { "stray", i })) then cancelled = cancelled + 1 end
    end
    local took = h.now_ms() - t0
    assert.equal(N, cancelled)
    -- Some armed and kept: each arrives, once.
    local KEEP = math.floor(N / 100)
    for i = 1, KEEP do mb.send_after(i % 50, mb.self(), { "kept", i }) end
    local seen = {}
    for _ = 1, KEEP do
      local m = h.expect(h.tuple("kept"), "a kept timer", 10000)
      assert.is_nil(seen[m[2]], "timer " .. m[2] .. " fired twice")
      seen[m[2]] = true
    end
    assert.is_nil(mb.receive(h.tuple("stray"), 400), "a cancelled timer fired")
    assert.is_nil(mb.receive(h.tuple("kept"), 0), "a timer fired twice")
    report("timers", { armed_and_cancelled = N, per_s = N / (took / 1000), kept = KEEP,
                       rss_growth_kb = (U.rss_kb() or 0) - (rss0 or 0) })
  end)

  it("spinners, blocking calls and a memory bomb beside a ticker: the ticker is served, the bomb "
     .. "alone ends", function()
    local seconds = size(2, 30, 1)
    -- The ticker: sleeps 10 ms at a time and measures how late it wakes.
    local ticker = mb.spawn(function(parent, seconds)
      local mb = require "moonbeam"
      local h = require "spec.support.helpers"
      local late, ticks, stop = {}, 0, h.now_ms() + seconds * 1000
      while h.now_ms() < stop do
        local t = h.now_ms()
        mb.sleep(10)
        ticks = ticks + 1
        late[ticks] = h.now_ms() - t - 10
      end
      table.sort(late)
      mb.send(parent, { "ticked", ticks, late[math.ceil(#late * 0.99)], late[#late] })
    end, mb.self(), seconds)
    -- Four spinners that never yield, for as long as the ticker ticks: two
    -- in compiled loops (their schedulers are handed off), two interpreted
    -- (preempted). They end by themselves: kill is isolation_spec's.
    local spinners, until_ms = {}, h.now_ms() + seconds * 1000
    for i = 1, 4 do
      local kind = i > 2 and "interpreted" or "compiled"
      spinners[i] = select(2, mb.spawn_monitor("bench.lib.procs:spin", kind, until_ms, mb.self()))
    end
    -- Four processes in blocking calls, one after another.
    local blockers = {}
    for i = 1, 4 do
      blockers[i] = select(2, mb.spawn_monitor(function(seconds)
        local mb = require "moonbeam"
        local h = require "spec.support.helpers"
        local nap = require "spec.support.nap"
        local stop = h.now_ms() + seconds * 1000
        while h.now_ms() < stop do mb.blocking(nap, 100) end
      end, seconds))
    end
    -- The memory bomb: allocates without end, under a limit.
    local _, bomb = mb.spawn_opt(function()
      local t = {}
      for i = 1, 1e9 do t[i] = string.rep("x", 1000) .. i end
    end, { monitor = true, memory_limit = 32 * 1024 * 1024 })

    assert.equal("memory_limit", h.reason(bomb, 20000))
    local ticked = h.expect(h.tuple("ticked"), "the ticker", seconds * 1000 + 10000)
    local ticks, p99, worst = ticked[2], ticked[3], ticked[4]
    for _, ref in ipairs(spinners) do assert.equal("normal", h.reason(ref, 20000)) end
    for _, ref in ipairs(blockers) do assert.equal("normal", h.reason(ref, 20000)) end
    -- Served: at most 10 ms asleep, so at least a tick every few hundred ms.
    assert.is_true(ticks >= seconds * 3, ("the ticker ticked %d times in %d s"):format(ticks, seconds))
    assert.is_true(worst < 2000, ("the ticker woke %d ms late"):format(worst))
    report("ticker_beside_abuse", { seconds = seconds, ticks = ticks, late_p99_ms = p99, late_worst_ms = worst })
    assert.is_not_nil(ticker)
  end)
end)
