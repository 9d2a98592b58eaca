-- Soak: 10,000 restarts of a gen_server child and 10,000 of a process
-- child, with flat memory. Measured before and after (past a warm-up): the
-- host's resident set (/proc/self/status), this process's Lua heap, the
-- supervisor's and the restarted child's mb.info(pid).memory, the number of
-- processes, and the supervisor's mailbox. The intensity is set far above
-- what the soak needs.
--
-- Under a sanitizer runtime (make asan, make tsan) the run is shorter and
-- the resident set is not compared (ASan keeps freed memory in quarantine).
-- SOAK_DEBUG=1 prints the figures.

local mb = require "moonbeam"
local sup = require "moonbeam.supervisor"
local h = require "spec.support.helpers"
local U = require "spec.support.sup_util"

local SANITIZED = U.sanitized()
local RESTARTS = SANITIZED and 1000 or 10000
local WARMUP = SANITIZED and 200 or 2000
local RSS_SLACK_KB = 4096   -- 4 MB over 10,000 restarts: ~400 bytes each
local STEP_TIMEOUT = 5000   -- one restart that takes longer fails the soak

-- Waits for n more "init" events of id (ignoring the other messages);
-- returns the last one.
local function await_inits(id, n)
  local got, last = 0, nil
  while got < n do
    local m = mb.receive(STEP_TIMEOUT)
    assert(m ~= nil, ("stuck after %d of %d restarts of %s"):format(got, n, id))
    if type(m) == "table" and m[1] == "sup_ev" and m[2] == id and m[3] == "init" then
      got, last = got + 1, m
    elseif m == "blink" and id == "blink" then
      got = got + 1
    end
  end
  return last
end

-- What is measured; the number of processes is checked apart (against the
-- count before the supervisor started), as a churning child may be between
-- two lives at any moment.
local function snapshot(s)
  collectgarbage("collect")
  collectgarbage("collect")
  local info = mb.info(s)
  return {
    rss = U.rss_kb(),
    lua = collectgarbage("count"),
    sup_memory = info and info.memory,
    sup_queue = info and info.message_queue_len,
  }
end

local function check_flat(before, after, what)
  if os.getenv("SOAK_DEBUG") then   -- SOAK_DEBUG=1: print the figures
    io.stderr:write(("%s: rss %s -> %s KB, Lua heap %.0f -> %.0f KB, supervisor %s -> %s bytes\n"):format(
      what, tostring(before.rss), tostring(after.rss), before.lua, after.lua,
      tostring(before.sup_memory), tostring(after.sup_memory)))
  end
  assert.equal(0, after.sup_queue, what .. ": the supervisor's mailbox is not empty")
  if before.sup_memory and after.sup_memory then
    assert.is_true(after.sup_memory <= before.sup_memory + 64 * 1024,
      ("%s: the supervisor's memory went from %d to %d bytes"):format(what, before.sup_memory, after.sup_memory))
  end
  assert.is_true(after.lua <= before.lua + 1024,
    ("%s: this process's Lua heap went from %d to %d KB"):format(what, before.lua, after.lua))
  if not SANITIZED and before.rss and after.rss then
    assert.is_true(after.rss <= before.rss + RSS_SLACK_KB,
      ("%s: RSS went from %d to %d KB over %d restarts"):format(what, before.rss, after.rss, RESTARTS))
  end
end

describe("a supervisor soaked in restarts", function()
  before_each(h.before)
  after_each(h.after)

  it(RESTARTS .. " restarts of a gen_server child leave memory flat", function()
    local base = #mb.processes()
    local s = U.start({ U.worker("w", { exit_now = true, ballast = 10000 }) }, { intensity = 1e9, period = 1000 })
    -- The first lives' memory, read as each reports its init: the child
    -- exits at any moment, and a reading taken as its state closes is a
    -- few bytes, so the largest of several stands for a live one.
    local first_memory
    for _ = 1, 5 do
      local info = mb.info(await_inits("w", 1)[4])
      if info and info.memory and (not first_memory or info.memory > first_memory) then first_memory = info.memory end
    end
    await_inits("w", WARMUP)
    local before = snapshot(s)
    local t0 = h.now_ms()
    local last = await_inits("w", RESTARTS)
    local took = h.now_ms() - t0
    sup.terminate_child(s, "w")   -- stop the churn before measuring
    h.drain()
    local after = snapshot(s)
    check_flat(before, after, "gen_server child")
    assert.is_true(h.wait_until(function() return #mb.processes() == base + 1 end), "processes left behind")
    assert.is_true(mb.alive(s))
    assert.same({ specs = 1, active = 0, supervisors = 0, workers = 1 }, sup.count_children(s))
    assert.is_true(took > 0)
    -- the child comes back as it was, with a state the size of the first
    -- one's: both measured the same way, as their init is reported (the
    -- child stops right after, so any other moment is a different one)
    assert.is_true(h.is_pid(sup.restart_child(s, "w")))
    local again = await_inits("w", 1)
    local again_info = mb.info(again[4])
    if first_memory and again_info then
      assert.is_true(again_info.memory < first_memory * 2 + 65536,
        ("the restarted child holds %d bytes, the first held %d"):format(again_info.memory, first_memory))
    end
  end)

  it(RESTARTS .. " restarts of a process child leave memory flat", function()
    local base = #mb.processes()
    local s = U.start({ { id = "blink", type = "process", start = { U.PROC .. ":blink", mb.self() } } },
                      { intensity = 1e9, period = 1000 })
    await_inits("blink", WARMUP)
    local before = snapshot(s)
    await_inits("blink", RESTARTS)
    sup.terminate_child(s, "blink")
    h.drain()
    local after = snapshot(s)
    check_flat(before, after, "process child")
    local settled = h.wait_until(function() return #mb.processes() == base + 1 end, 10000)
    if not settled then
      for _, p in ipairs(mb.processes()) do
        local i = mb.info(p)
        if i then io.stderr:write(("left: %s %s %s q=%d\n"):format(tostring(p), tostring(i.module), i.status, i.message_queue_len)) end
      end
    end
    assert.is_true(settled, "processes left behind")
    assert.same({ specs = 1, active = 0, supervisors = 0, workers = 1 }, sup.count_children(s))
  end)

  it("a nested supervisor restarted " .. math.floor(RESTARTS / 10) .. " times leaves memory flat", function()
    local base = #mb.processes()
    local s = U.start({
      { id = "inner", type = "supervisor", intensity = 0,
        children = { U.worker("w", { exit_now = true }) } },
    }, { intensity = 1e9, period = 1000 })
    -- each time w exits, inner gives up (intensity 0) and s restarts it
    await_inits("w", math.floor(WARMUP / 10))
    local before = snapshot(s)
    await_inits("w", math.floor(RESTARTS / 10))
    sup.terminate_child(s, "inner")
    h.drain()
    local after = snapshot(s)
    check_flat(before, after, "nested supervisor")
    assert.is_true(h.wait_until(function() return #mb.processes() == base + 1 end), "processes left behind")
  end)
end)
