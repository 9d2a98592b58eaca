-- moonbeam.logger: docs/reference.md ("logger"). Levels and handlers are
-- the host's, so every test puts them back as it found them; the default
-- stderr handler is taken off while the tests run (their events would be
-- noise) and checked in a subprocess instead. log.flush() is the barrier:
-- once it returns, every event logged before it is in the files.

local mb = require "moonbeam"
local log = require "moonbeam.logger"
local cjson = require "cjson"
local h = require "spec.support.helpers"
local sh = require "spec.support.shell"
local U = require "spec.support.gs_util"
local log_mod = require "spec.support.log_mod"

local BIN = "./build/bin/moonbeam"

local function describe_subprocess(name, fn)
  if U.can_run_subprocesses() then return describe(name, fn) end
  describe(name, function() pending("needs subprocesses, which cannot run here") end)
end

local function line() return debug.getinfo(2, "l").currentline end

local function lines_of(path)
  local out = {}
  for l in sh.read(path):gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- A file handler (or json) on a fresh file; returns its path.
local handlers = {}
local function handler(kind, level)
  local path = os.tmpname()
  local name = h.name("handler")
  assert(log.add_handler(name, { type = kind or "file", path = path, level = level }))
  handlers[#handlers + 1] = { name, path }
  return path, name
end

local function setup()
  h.before()
  assert.is_true(log.remove_handler("default"))
  log.set_level("info")
end

local function teardown()
  for _, x in ipairs(handlers) do
    log.remove_handler(x[1])
    os.remove(x[2])
  end
  handlers = {}
  log.set_level("info")
  for _, m in ipairs({ "spec", "spec.support", "spec.support.log_mod" }) do log.set_level(nil, m) end
  assert(log.add_handler("default", { type = "stderr" }))
  h.after()
end

describe("logger levels", function()
  before_each(setup)
  after_each(teardown)

  it("lets events at or above the host's level through (info by default)", function()
    local path = handler()
    assert.equal("info", log.get_level())
    log.debug("no debug")
    log.info("an info")
    log.notice("a notice")
    log.warning("a warning")
    log.error("an error")
    assert.is_true(log.flush())
    local got = lines_of(path)
    assert.equal(4, #got, sh.read(path))
    assert.matches(" info <0%.%d+%.%d+> .* an info$", got[1])
    assert.matches(" notice ", got[2])
    assert.matches(" warning ", got[3])
    assert.matches(" error ", got[4])
  end)

  it("set_level changes it for every process of the host", function()
    local path = handler()
    log.set_level("warning")
    log.info("dropped")
    local _, ref = mb.spawn_monitor(function()
      local log = require "moonbeam.logger"
      log.notice("child notice")
      log.warning("child warning")
    end)
    h.down(ref)
    log.set_level("debug")
    assert.equal("debug", log.get_level())
    mb.spawn_monitor(function() require("moonbeam.logger").debug("child debug") end)
    assert.is_true(h.wait_until(function()
      log.flush()
      return #lines_of(path) == 2
    end))
    local text = sh.read(path)
    assert.is_nil(text:find("dropped", 1, true))
    assert.is_nil(text:find("child notice", 1, true))
    assert.truthy(text:find("child warning", 1, true))
    assert.truthy(text:find("child debug", 1, true))
  end)

  it("a module's level covers its submodules; the nearest one wins; nil gives it back", function()
    local path = handler()
    log.set_level("debug", "spec.support")
    assert.equal("debug", log.get_level("spec.support.log_mod"))
    assert.equal("info", log.get_level("spec"))
    assert.equal("info", log.get_level("spec.supportx"))   -- a prefix of names, not of text
    log_mod.debug("module debug 1")
    log.debug("spec file debug")    -- this file's module is not under spec.support
    log.set_level("error", "spec.support.log_mod")
    log_mod.info("module info hidden")
    log.set_level(nil, "spec.support.log_mod")
    log_mod.debug("module debug 2")
    log.set_level(nil, "spec.support")
    log_mod.debug("module debug hidden")
    log.flush()
    local text = sh.read(path)
    assert.truthy(text:find("module debug 1", 1, true), text)
    assert.truthy(text:find("module debug 2", 1, true), text)
    assert.is_nil(text:find("spec file debug", 1, true), text)
    assert.is_nil(text:find("hidden", 1, true), text)
  end)

  it("a handler's own level filters what it writes", function()
    local all, warn = handler("file"), handler("file", "warning")
    log.info("for all")
    log.warning("for both")
    log.flush()
    assert.equal(2, #lines_of(all))
    assert.same(1, #lines_of(warn))
    assert.matches("for both$", lines_of(warn)[1])
  end)
end)

describe("logger file handler", function()
  before_each(setup)
  after_each(teardown)

  it("writes one line an event: time, level, pid, registered name, file:line, message", function()
    local path = handler()
    local name = h.name("logging")
    mb.register(name, mb.self())
    local at = line(); log.warning("%d apples and %s", 3, "pears")
    mb.unregister(name)
    log.flush()
    local l = lines_of(path)[1]
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ warning ", l)
    assert.truthy(l:find(" " .. tostring(mb.self()) .. " (" .. name .. ") ", 1, true), l)
    assert.truthy(l:find("logger_spec.lua:" .. at .. ": 3 apples and pears", 1, true), l)
  end)

  it("takes a message without arguments as it is (a % in it is no format)", function()
    local path = handler()
    log.info("100% sure")
    log.flush()
    assert.matches(": 100%% sure$", lines_of(path)[1])
  end)

  it("gets the events of every process, once added (handlers are the host's)", function()
    local path = handler()
    local _, ref = mb.spawn_monitor(function() require("moonbeam.logger").info("from <%s>", "a child") end)
    h.down(ref)
    log.flush()
    assert.truthy(sh.read(path):find("from <a child>", 1, true))
  end)

  it("writes nothing more once removed", function()
    local path, name = handler()
    log.info("before")
    assert.is_true(log.remove_handler(name))
    log.info("after")
    log.flush()
    assert.equal(1, #lines_of(path))
    assert.is_false(log.remove_handler(name))
  end)

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
end)

describe("logger JSON handler", function()
  before_each(setup)
  after_each(teardown)

  it("writes one JSON object a line: time, level, pid, name, where, msg", function()
    local path = handler("json")
    local name = h.name("json")
    mb.register(name, mb.self())
    local at = line(); log.error("quote \" and\nnewline %s", "ok")
    mb.unregister(name)
    log.info("second")
    log.flush()
    local got = lines_of(path)
    assert.equal(2, #got)
    local e = cjson.decode(got[1])
    assert.equal("error", e.level)
    assert.equal(tostring(mb.self()), e.pid)
    assert.equal(name, e.name)
    assert.equal("quote \" and\nnewline ok", e.msg)
    assert.matches("logger_spec%.lua:" .. at .. "$", e.where)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT[%d:.]+Z$", e.time)
    local e2 = cjson.decode(got[2])
    assert.equal("info", e2.level)
    assert.is_nil(e2.name)
  end)
end)

describe("logger arguments", function()
  before_each(setup)
  after_each(teardown)

  it("raise clear errors for a bad fmt or bad format arguments", function()
    h.usage_error("logger.info", log.info, 42)
    h.usage_error("logger.error", log.error, nil)
    assert.matches("argument 1 after fmt: number expected",
      h.usage_error("logger.warning", log.warning, "%d items", "many"))
  end)

  it("raise clear errors for a bad level or module", function()
    h.usage_error("logger.set_level", log.set_level, "loud")
    h.usage_error("logger.set_level", log.set_level, nil)
    h.usage_error("logger.set_level", log.set_level, "info", "")
    h.usage_error("logger.set_level", log.set_level, "info", 42)
    h.usage_error("logger.get_level", log.get_level, {})
    assert.equal("info", log.get_level())
  end)

  it("add_handler raises for bad options and returns nil, why for what it cannot do", function()
    h.usage_error("logger.add_handler", log.add_handler, "", { type = "file", path = "/tmp/x" })
    h.usage_error("logger.add_handler", log.add_handler, "x", "file")
    h.usage_error("logger.add_handler", log.add_handler, "x", { type = "syslog", path = "/tmp/x" })
    h.usage_error("logger.add_handler", log.add_handler, "x", { type = "file" })
    h.usage_error("logger.add_handler", log.add_handler, "x", { type = "stderr", path = "/tmp/x" })
    h.usage_error("logger.add_handler", log.add_handler, "x", { type = "json", path = "/tmp/x", level = "all" })
    local ok, err = log.add_handler("x", { type = "file", path = "/nonexistent-dir/a.log" })
    assert.is_nil(ok)
    assert.matches("cannot open /nonexistent%-dir/a%.log", err)
    local _, name = handler()
    ok, err = log.add_handler(name, { type = "file", path = os.tmpname() })
    assert.is_nil(ok)
    assert.matches("exists", err)
    h.usage_error("logger.remove_handler", log.remove_handler, 42)
    h.usage_error("logger.flush", log.flush, -1)
  end)
end)

describe("logger on a handler that cannot keep up", function()
  before_each(setup)
  after_each(teardown)

  it("a full disk (/dev/full) neither blocks nor crashes a process", function()
    assert(log.add_handler("full", { type = "file", path = "/dev/full" }))
    handlers[#handlers + 1] = { "full", "/nonexistent-never-removed" }
    local path = handler()
    local t0 = h.now_ms()
    for i = 1, 2000 do log.info("line %d", i) end
    assert.is_true(h.now_ms() - t0 < 5000)
    assert.is_true(log.flush())
    assert.equal(2000, #lines_of(path))
  end)

  it("a reader that does not read: logging goes on, events are dropped and counted", function()
    local fifo, ready, go, out = os.tmpname(), os.tmpname(), os.tmpname(), os.tmpname()
    os.remove(fifo); os.remove(ready); os.remove(go)
    assert(os.execute("mkfifo " .. fifo))
    -- Holds the fifo open (so the handler's open does not wait), reads nothing until told.
    assert(os.execute(("sh -c 'exec 3<>%s; touch %s; while [ ! -e %s ]; do sleep 0.02; done; " ..
                       "timeout 20 grep -m1 dropped <&3 >%s' >/dev/null 2>&1 &"):format(fifo, ready, go, out)))
    assert.is_true(h.wait_until(function() return io.open(ready) ~= nil end, 10000))
    assert(log.add_handler("fifo", { type = "file", path = fifo }))
    handlers[#handlers + 1] = { "fifo", fifo }
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
    local c = by.crash
    assert.is_table(c, "no process crash event")
    assert.equal("error", c.level)
    assert.matches("PLAIN%-BOOM", c.reason)
    assert.equal("function", c.target)
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
end)
