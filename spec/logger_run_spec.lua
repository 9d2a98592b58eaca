-- moonbeam.logger: docs/reference.md ("logger"), what takes other programs
-- or a host of its own: SIGHUP reopening files, a pipe nobody reads, the
-- default stderr handler, MOONBEAM_LOG_LEVEL, and crash and supervisor
-- reports as events (the suite runs with MOONBEAM_CRASH_LOG=0, so those run
-- under `moonbeam run`). Levels and handlers are the host's:
-- spec.support.log_util puts them back.

local mb = require "moonbeam"
local log = require "moonbeam.logger"
local cjson = require "cjson"
local h = require "spec.support.helpers"
local sh = require "spec.support.shell"
local U = require "spec.support.gs_util"
local L = require "spec.support.log_util"

local BIN = "./build/bin/moonbeam"

local function describe_subprocess(name, fn)
  if U.can_run_subprocesses() then return describe(name, fn) end
  describe(name, function() pending("needs subprocesses, which cannot run here") end)
end

local handler = L.handler

describe_subprocess("logger file handler and signals", function()
  before_each(L.setup)
  after_each(L.teardown)

  it("reopens its file on SIGHUP (logrotate renamed it)", function()
    local path = handler()
    log.info("first")
    log.flush()   -- the writer has the handler, so SIGHUP is caught
    local rotated = path .. ".1"
    assert(os.rename(path, rotated))
    local pid = sh.read("/proc/self/stat"):match("^(%d+)")
    assert(os.execute("kill -HUP " .. pid))
    -- The signal reaches the writer's loop in its own time: log until the new file has it.
    local n = 0
    assert.is_true(h.wait_until(function()
      n = n + 1
      log.info("after %d", n)
      log.flush()
      return sh.read(path):find("after", 1, true) ~= nil
    end, 10000))
    assert.truthy(sh.read(rotated):find("first", 1, true))
    assert.is_nil(sh.read(rotated):find("after " .. n, 1, true))
    os.remove(rotated)
  end)

  it("reopens its file on SIGHUP while loggers keep it behind (its queue never empties)", function()
    local path = handler()
    log.info("first")
    log.flush()
    local loggers = {}
    for i = 1, 2 do
      loggers[i] = mb.spawn(function()
        local log, mb = require "moonbeam.logger", require "moonbeam"
        local n = 0
        while true do
          n = n + 1
          log.warning("busy %d", n)
          if n % 100 == 0 then mb.yield() end
        end
      end)
    end
    mb.sleep(300)
    local rotated = path .. ".1"
    assert(os.rename(path, rotated))
    local pid = sh.read("/proc/self/stat"):match("^(%d+)")
    assert(os.execute("kill -HUP " .. pid))
    local reopened = h.wait_until(function() return io.open(path) ~= nil end, 5000)
    for _, p in ipairs(loggers) do mb.exit(p, "kill") end
    log.flush(10000)
    assert.is_true(reopened, "no new file while the loggers ran")
    assert.truthy(sh.read(path):find("busy", 1, true))
    os.remove(rotated)
  end)
end)

describe_subprocess("logger on a reader that does not read", function()
  before_each(L.setup)
  after_each(L.teardown)

  it("a reader that does not read: logging goes on, events are dropped and counted", function()
    local fifo, ready, go, out = os.tmpname(), os.tmpname(), os.tmpname(), os.tmpname()
    os.remove(fifo); os.remove(ready); os.remove(go)
    assert(os.execute("mkfifo " .. fifo))
    -- Holds the fifo open (so the handler's open does not wait), reads nothing until told.
    assert(os.execute(("sh -c 'exec 3<>%s; touch %s; while [ ! -e %s ]; do sleep 0.02; done; " ..
                       "timeout 20 grep -m1 dropped <&3 >%s' >/dev/null 2>&1 &"):format(fifo, ready, go, out)))
    assert.is_true(h.wait_until(function() return io.open(ready) ~= nil end, 10000))
    assert(log.add_handler("fifo", { type = "file", path = fifo }))
    L.added("fifo", fifo)
    local t0 = h.now_ms()
    for i = 1, 30000 do log.info("event %d of thirty thousand", i) end
    local took = h.now_ms() - t0
    assert.is_true(took < 10000, "logging took " .. took .. " ms")
    assert.is_nil(log.flush(50))       -- the writer is stuck on the fifo
    assert(io.open(go, "w")):close()  -- the reader reads
    assert.is_true(h.wait_until(function() return sh.read(out) ~= "" end, 20000))
    local dropped = tonumber(sh.read(out):match("(%d+) events dropped"))
    assert.is_number(dropped)
    assert.is_true(dropped > 0 and dropped < 30000, tostring(dropped))
    log.remove_handler("fifo")
    assert.is_true(log.flush())
    assert.same({}, h.drain())   -- the timed-out flush's word never arrived
    for _, f in ipairs({ ready, go, out }) do os.remove(f) end
  end)
end)

describe_subprocess("logger in a host run by moonbeam run", function()
  after_each(sh.cleanup)

  local function run(source, env)
    local path = sh.script(source)
    local status, out, err = sh.run((env or "") .. " " .. BIN .. " run " .. sh.quote(path), 60)
    assert.equal(0, status, err)
    return err, out, path
  end

  -- Its writer blocks in a write for good: the host waits for it a while
  -- (at most 2 s), then exits without it, as it would with the writer done.
  it("exits, with its status, while a handler writes to a pipe nobody reads", function()
    local fifo, reader = os.tmpname(), os.tmpname()
    os.remove(fifo)
    os.remove(reader)
    assert(os.execute("mkfifo " .. fifo))
    -- Holds the fifo open (so the handler's open, which does not wait for a
    -- reader, finds one), and reads nothing; its pid is written once it does.
    assert(os.execute(("sh -c 'exec 3<>%s; echo $$ >%s.new; mv %s.new %s; exec sleep 30' >/dev/null 2>&1 &")
                      :format(fifo, reader, reader, reader)))
    assert.is_true(h.wait_until(function()
      local f = io.open(reader)
      if f then f:close() end
      return f ~= nil
    end, 10000), "the fifo's holder did not start")
    for _, ending in ipairs({ "", "os.exit(3)" }) do
      local path = sh.script(([[
        local log = require "moonbeam.logger"
        assert(log.add_handler("stuck", { type = "file", path = %q }))
        for i = 1, 5000 do log.info("event %%d %%s", i, string.rep("x", 100)) end
        %s
      ]]):format(fifo, ending))
      local t0 = h.now_ms()
      local status, _, err = sh.run(BIN .. " run " .. sh.quote(path), 30)
      assert.equal(ending == "" and 0 or 3, status, err)
      assert.is_true(h.now_ms() - t0 < 15000, "the exit took " .. (h.now_ms() - t0) .. " ms")
    end
    os.execute(("kill %s 2>/dev/null; rm -f %s %s"):format(sh.read(reader):match("%d+") or "", sh.quote(fifo),
                                                           sh.quote(reader)))
  end)

  it("exits, with its status, when its script dies while stderr is a pipe nobody reads", function()
    local fifo, reader = os.tmpname(), os.tmpname()
    os.remove(fifo)
    assert(os.execute("mkfifo " .. fifo))
    -- Holds the fifo open for reading for 30 s, and reads nothing.
    assert(os.execute(("sh -c 'exec 3<%s; exec sleep 30' >/dev/null 2>&1 & echo $! >%s"):format(fifo, reader)))
    local path = sh.script([[
      local log = require "moonbeam.logger"
      for i = 1, 20000 do log.info("event %d %s", i, string.rep("x", 100)) end
      error("the script dies")
    ]])
    local t0 = h.now_ms()
    local status = sh.run(BIN .. " run " .. sh.quote(path) .. " 2>" .. sh.quote(fifo), 60)
    local took = h.now_ms() - t0
    os.execute(("kill %s 2>/dev/null; rm -f %s %s"):format(sh.read(reader):match("%d+") or "", sh.quote(fifo),
                                                           sh.quote(reader)))
    assert.equal(1, status)
    assert.is_true(took < 15000, "the exit took " .. took .. " ms")
  end)

  it("writes to stderr by default, one line an event", function()
    local err, _, path = run([[
      local log = require "moonbeam.logger"
      log.info("hello %s", "world")
      log.debug("not shown")
    ]])
    local base = path:match("[^/]+$")
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT[%d:.]+Z info <0%.%d+%.%d+> [^\n]*" .. base:gsub("%p", "%%%0") ..
                   ":2: hello world\n$", err)
  end)

  it("takes its first level from MOONBEAM_LOG_LEVEL, and says when that is no level", function()
    local src = [[
      local log = require "moonbeam.logger"
      log.debug("debug shown")
      log.notice("notice shown")
    ]]
    local err = run(src, "MOONBEAM_LOG_LEVEL=debug")
    assert.truthy(err:find("debug shown", 1, true), err)
    err = run(src, "MOONBEAM_LOG_LEVEL=warning")
    assert.equal("", err)
    err = run(src, "MOONBEAM_LOG_LEVEL=chatty")
    assert.truthy(err:find("MOONBEAM_LOG_LEVEL=chatty is no level", 1, true), err)
    assert.truthy(err:find("notice shown", 1, true), err)
  end)

  local CRASHES = [[
    local mb = require "moonbeam"
    local gen = require "moonbeam.gen_server"
    local log = require "moonbeam.logger"
    assert(log.add_handler("json", { type = "json", path = arg[1] }))
    local s = assert(gen.start({ init = function() return "ok", "STATE-7" end,
                                 handle_call = function() error("CALL-BOOM") end }))
    pcall(gen.call, s, "the request")
    local p, ref = mb.spawn_monitor(function() error("PLAIN-BOOM") end)
    mb.receive(function(m) return type(m) == "table" and m[2] == ref end)
    log.flush()
  ]]

  it("makes crash reports error events; the JSON handler shows their fields", function()
    local json = os.tmpname()
    local path = sh.script(CRASHES)
    local status, _, err = sh.run("MOONBEAM_CRASH_LOG=1 " .. BIN .. " run " .. sh.quote(path) .. " " .. json, 60)
    assert.equal(0, status, err)
    assert.truthy(err:find("=CRASH REPORT====", 1, true), err)   -- stderr reads as it did
    assert.truthy(err:find("** State: \"STATE-7\"", 1, true), err)
    local by = {}
    for l in sh.read(json):gmatch("[^\n]+") do
      local e = cjson.decode(l)
      by[e.report or "none"] = e
    end
    os.remove(json)
    local g = by.gen_server_crash
    assert.is_table(g, "no gen_server crash event")
    assert.equal("error", g.level)
    assert.equal('"STATE-7"', g.state)
    assert.equal('"the request"', g.last_message)
    assert.matches("CALL%-BOOM", g.reason)
    assert.matches("traceback", g.traceback)
    assert.matches("%.lua:%d+$", g.where)   -- where the callback raised
    local c = by.crash
    assert.is_table(c, "no process crash event")
    assert.equal("error", c.level)
    assert.matches("PLAIN%-BOOM", c.reason)
    assert.equal("function", c.target)
    assert.matches("%.lua:%d+$", c.where)
  end)

  it("shows a table or an atom a process raised as a value, on stderr and in the JSON reason", function()
    local json = os.tmpname()
    local path = sh.script([[
      local mb = require "moonbeam"
      local log = require "moonbeam.logger"
      assert(log.add_handler("j", {type = "json", path = arg[1]}))
      for _, e in ipairs({ {code = 1, list = {1, 2}}, mb.atom("an_atom") }) do
        local _, ref = mb.spawn_monitor(function(e) error(e) end, e)
        mb.receive(function(m) return type(m) == "table" and m[2] == ref end)
      end
      log.flush()
    ]])
    local status, _, err = sh.run("MOONBEAM_CRASH_LOG=1 " .. BIN .. " run " .. sh.quote(path) .. " " .. json, 60)
    assert.equal(0, status, err)
    assert.truthy(err:find("crashed: {code = 1, list = {1, 2}}\n", 1, true)
      or err:find("crashed: {list = {1, 2}, code = 1}\n", 1, true), err)
    assert.truthy(err:find('crashed: mb.atom("an_atom")\n', 1, true), err)
    local reasons = {}
    for l in sh.read(json):gmatch("[^\n]+") do reasons[#reasons + 1] = cjson.decode(l).reason end
    os.remove(json)
    assert.matches("^{.*code = 1", reasons[1])
    assert.equal('mb.atom("an_atom")', reasons[2])
  end)

  it("MOONBEAM_CRASH_LOG=0 still silences them", function()
    local json = os.tmpname()
    local path = sh.script(CRASHES)
    local status, _, err = sh.run("MOONBEAM_CRASH_LOG=0 " .. BIN .. " run " .. sh.quote(path) .. " " .. json, 60)
    assert.equal(0, status, err)
    assert.equal("", err)
    assert.equal("", sh.read(json))
    os.remove(json)
  end)

  it("makes a supervisor's give-up report an error event with its fields", function()
    local json = os.tmpname()
    local path = sh.script([[
      local mb = require "moonbeam"
      local sup = require "moonbeam.supervisor"
      local log = require "moonbeam.logger"
      assert(log.add_handler("json", { type = "json", path = arg[1] }))
      mb.trap_exit(true)
      local s = assert(sup.start_link({ { id = "w", type = "process", start = { "spec.support.log_mod:info", "x" },
                                          restart = "permanent" } }, { intensity = 1, period = 5000, name = "top" }))
      mb.receive(function(m) return type(m) == "table" and m[1] == "EXIT" and m[2] == s end, 10000)
      log.flush()
    ]])
    local status, _, err = sh.run("MOONBEAM_CRASH_LOG=1 MOONBEAM_LOG_LEVEL=warning " .. BIN .. " run " ..
                                  sh.quote(path) .. " " .. json, 60)
    assert.equal(0, status, err)
    assert.truthy(err:find("=SUPERVISOR REPORT==== top gave up", 1, true), err)
    local e
    for l in sh.read(json):gmatch("[^\n]+") do
      local x = cjson.decode(l)
      if x.report == "supervisor" then e = x end
    end
    os.remove(json)
    assert.is_table(e, "no supervisor event")
    assert.equal("error", e.level)
    assert.equal("top", e.supervisor)
    assert.equal("w", e.child)
    assert.equal("1", e.intensity)
  end)

  it("writes a give-up report's last exit that is a table as its text", function()
    local path = sh.script([[
      local mb = require "moonbeam"
      local sup = require "moonbeam.supervisor"
      mb.trap_exit(true)
      local s = assert(sup.start_link({ { id = "w", type = "process",
                                          start = { "spec.support.sup_proc:die_with", { 7, code = 42 } } } },
                                      { intensity = 1, period = 5000, name = "top" }))
      mb.receive(function(m) return type(m) == "table" and m[1] == "EXIT" and m[2] == s end, 10000)
    ]])
    local status, _, err = sh.run("MOONBEAM_CRASH_LOG=1 " .. BIN .. " run " .. sh.quote(path), 60)
    assert.equal(0, status, err)
    assert.truthy(err:find('last exit: {7, code = 42}.', 1, true), err)
  end)
end)
