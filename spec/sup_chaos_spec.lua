-- Chaos on the example application's tree (examples/app/tree.lua): KILLS times,
-- kill a random process of the tree (never the top supervisor),
-- then check that the tree is whole again: every supervisor and server
-- back, the pool at full size, the registered names on the live servers,
-- each server answering, and no process more or less than a whole tree.
-- Also: the demo (`moonbeam run examples/app.lua`) runs and exits by itself.

local mb = require "moonbeam"
local sup = require "moonbeam.supervisor"
local h = require "spec.support.helpers"
local U = require "spec.support.sup_util"
local G = require "spec.support.gs_util"
local sh = require "spec.support.shell"

local tree = require "examples.app.tree"
local cache = require "examples.app.cache"
local sessions = require "examples.app.session_store"
local pool = require "examples.app.pool"

local WORKERS = 4
local TREE_SIZE = 6 + WORKERS   -- app, cache, sessions, jobs, workers, pool + the workers
local KILLS = 20   -- about 3 s of chaos on an idle machine

-- Every process under s (not s itself), depth first.
local function members(s, into)
  into = into or {}
  local ok, kids = pcall(sup.which_children, s)
  if not ok then return into end
  for _, c in ipairs(kids) do
    if h.is_pid(c.pid) then
      into[#into + 1] = c.pid
      if c.type == "supervisor" then members(c.pid, into) end
    end
  end
  return into
end

-- The live child id -> pid of s, or nil when a child is not running.
local function running(s, ids)
  local ok, kids = pcall(sup.which_children, s)
  if not ok then return nil end
  local map = {}
  for _, c in ipairs(kids) do
    if h.is_pid(c.pid) and mb.alive(c.pid) then map[c.id] = c.pid end
  end
  for _, id in ipairs(ids) do
    if not map[id] then return nil end
  end
  return map, kids
end

-- Whether the tree under top is whole and working; on false, why.
local function whole(top)
  if not mb.alive(top) then return false, "the top supervisor is gone" end
  local app = running(top, { "cache", "sessions", "jobs" })
  if not app then return false, "a child of the top is not running" end
  local jobs = running(app.jobs, { "workers", "pool" })
  if not jobs then return false, "a child of jobs is not running" end
  local _, workers = running(jobs.workers, {})
  if not workers or #workers ~= WORKERS then return false, "the pool has " .. (workers and #workers or "no") .. " workers" end
  for _, w in ipairs(workers) do
    if not (h.is_pid(w.pid) and mb.alive(w.pid)) then return false, "a worker is not running" end
  end
  if mb.whereis("cache") ~= app.cache then return false, "\"cache\" is not the cache" end
  if mb.whereis("sessions") ~= app.sessions then return false, "\"sessions\" is not the session store" end
  if mb.whereis("pool") ~= jobs.pool then return false, "\"pool\" is not the pool" end
  local ok, why = pcall(function()
    assert(cache.put("k", "v") == true)
    assert(cache.get("k") == "v")
    local token = sessions.create("chaos")
    assert(sessions.lookup(token) == "chaos")
    for _ = 1, WORKERS do assert(pool.run({ "sum", 1, 10 }).result == 55) end
  end)
  if not ok then return false, "a server did not answer: " .. h.text(why) end
  return true
end

describe("the example tree under chaos", function()
  local top
  before_each(h.before)
  after_each(function()
    if top and mb.alive(top) then
      U.bounded(5000, function(s) return require("moonbeam.supervisor").stop(s) end, top)
      U.stop_quietly(top)
    end
    h.wait_until(function() return not mb.whereis("cache") and not mb.whereis("pool") end)
    h.after()
  end)

  it("is whole again after " .. KILLS .. " random kills", function()
    local before = #mb.processes()
    local err
    top, err = tree.start({ workers = WORKERS, name = h.name("app"), cleanup_ms = 100, session_ttl_ms = 1000 })
    assert.is_true(h.is_pid(top), h.text(err))
    local ok, why
    assert.is_true(h.wait_until(function() ok, why = whole(top) return ok end), why)
    assert.equal(before + TREE_SIZE, #mb.processes())

    -- A count of kills, not a time: a loaded machine does them all, slower.
    -- There is always a victim while the top supervisor lives.
    local top_down = mb.monitor(top)
    local kills, last = 0, h.now_ms()
    while kills < KILLS do
      local victims = members(top)
      if #victims > 0 then
        mb.exit(victims[math.random(#victims)], "kill")
        kills, last = kills + 1, h.now_ms()
      else
        local down = mb.receive(h.tuple("DOWN", top_down), 0)
        assert.is_nil(down, ("the top supervisor ended after %d kills: %s"):format(kills, h.text(down and down[5])))
        assert.is_true(h.now_ms() - last < 10000, ("no member to kill for 10 s after %d kills; the top supervisor: %s")
          :format(kills, h.text(mb.info(top))))
      end
      mb.sleep(math.random(50, 200))
    end

    assert.is_true(h.wait_until(function() ok, why = whole(top) return ok end),
      "not whole after " .. kills .. " kills: " .. tostring(why))
    -- exactly one tree's worth of processes: nothing leaked, nothing missing
    assert.is_true(h.wait_until(function() return #mb.processes() == before + TREE_SIZE end),
      ("%d processes, want %d"):format(#mb.processes(), before + TREE_SIZE))

    -- and it still stops cleanly
    local stopped = U.bounded(5000, function(s) return require("moonbeam.supervisor").stop(s) end, top)
    assert.is_true(stopped, "the tree did not stop")
    assert.is_true(h.wait_until(function() return #mb.processes() == before end))
    assert.is_nil(mb.whereis("cache"))
    assert.is_nil(mb.whereis("pool"))
  end)
end)

local function describe_subprocess(name, fn)
  if G.can_run_subprocesses() then return describe(name, fn) end
  describe(name, function() pending("needs subprocesses, which cannot run here") end)
end

describe_subprocess("the demo, moonbeam run examples/app.lua", function()
  it("boots the tree, shows a worker and the cache restarted, and exits 0 by itself", function()
    local t0 = h.now_ms()
    local status, out, err = sh.run("MOONBEAM_CRASH_LOG=1 ./build/bin/moonbeam run examples/app.lua", 60)
    assert.equal(0, status, out .. err)
    assert.is_true(h.now_ms() - t0 < 30000)
    assert.matches("booting the tree", out)
    assert.matches("%(restarted%)", out)
    assert.matches("the cache is back", out)
    assert.matches("stopped; bye", out)
    -- the crash is on purpose and reported; no supervisor gave up
    assert.matches("=CRASH REPORT====", err)
    assert.is_nil(err:find("=SUPERVISOR REPORT====", 1, true))
  end)

  -- The README's quick start keeps it up with "forever"; Ctrl-C or SIGTERM
  -- must stop its tree in order (terminate callbacks run), not wait out the
  -- shutdown timeout.
  for _, sig in ipairs({ { "TERM", 0 }, { "INT", 130 } }) do
    it("with forever, stops its tree in order on SIG" .. sig[1] .. " and exits " .. sig[2], function()
      local job = sh.start("./build/bin/moonbeam --shutdown-timeout 5000 run examples/app.lua forever")
      job:wait_for("tick 1:", 30000)
      job:signal(sig[1])
      local status, out, err = job:wait(20000)
      assert.equal(sig[2], status, out .. err)
      assert.matches("%[cache%]    stopping %(shutdown%)", out)
      assert.matches("stopped; bye", out)
    end)
  end
end)
