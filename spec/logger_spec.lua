-- moonbeam.logger: docs/reference.md ("logger"), what a process sees:
-- levels, handlers, lines and their JSON, bad arguments, a full disk.
-- What needs other programs or a host of its own (SIGHUP, a pipe nobody
-- reads, stderr, reports, MOONBEAM_* variables) is in logger_run_spec.lua.
-- Levels and handlers are the host's: spec.support.log_util puts them back.

local mb = require "moonbeam"
local log = require "moonbeam.logger"
local cjson = require "cjson"
local h = require "spec.support.helpers"
local sh = require "spec.support.shell"
local L = require "spec.support.log_util"
local log_mod = require "spec.support.log_mod"

local line, lines_of, handler, setup, teardown = L.line, L.lines_of, L.handler, L.setup, L.teardown

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
    -- Nothing is left to write: a flush that does not wait says so too.
    assert.is_true(log.flush(0))
    local got = lines_of(path)
    assert.equal(4, #got, sh.read(path))
    assert.matches(" info <0%.%d+%.%d+> .* an info$", got[1])
    assert.matches(" notice ", got[2])
    assert.matches(" warning ", got[3])
    assert.matches(" error ", got[4])
  end)

  it("writes one plain line an event: a line break in the message shows as \\n or \\r", function()
    local path = handler()
    log.info("first\nforged 2026-01-01T00:00:00.000Z error <0.1.1> x\r\nlast")
    log.info("next")
    assert.is_true(log.flush())
    local got = lines_of(path)
    assert.equal(2, #got, sh.read(path))
    assert.matches(": first\\nforged .* x\\r\\nlast$", got[1])
    assert.matches(": next$", got[2])
  end)

  it("writes one plain line an event whose registered name or chunk name has a line break", function()
    local path = handler()
    local name = "worker\n2026-01-01T00:00:00.000Z error <0.9.9> forged"
    assert(mb.register(name, mb.self()))
    log.info("named")
    mb.unregister(name)
    assert(load("require('moonbeam.logger').info('from a chunk')", "=chunk\rsecond line"))()
    assert.is_true(log.flush())
    local got = lines_of(path)
    assert.equal(2, #got, sh.read(path))
    assert.matches(" %(worker\\n2026%-01%-01T00:00:00%.000Z error <0%.9%.9> forged%) .*: named$", got[1])
    assert.matches(" chunk\\rsecond line:1: from a chunk$", got[2])
  end)

  it("names the Lua line that called it through a C function (pcall(log.info, ...))", function()
    local path = handler()
    assert(pcall(log.info, "through pcall")); local here = h.here()
    assert.is_true(log.flush())
    local got = lines_of(path)
    assert.equal(1, #got, sh.read(path))
    assert.matches(" " .. here:gsub("%p", "%%%0") .. ": through pcall$", got[1])
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

  it("a module on two of package.path's templates is the name require loaded it as", function()
    local path = handler()
    local saved = package.path
    package.path = "./?.lua;./spec/support/?.lua;" .. saved
    local ok, why = pcall(function()
      log.set_level("debug", "log_alias")
      require("log_alias").debug("alias debug")
    end)
    package.path = saved
    log.set_level(nil, "log_alias")
    assert(ok, why)
    log.flush()
    assert.truthy(sh.read(path):find("alias debug", 1, true))
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

  it("keeps its lines UTF-8: a byte that is not, in the message or a report's fields, is \\ufffd", function()
    local path = handler("json")
    log.info("bytes \255 and \237\160\128, text \195\169\226\130\172")
    local gen = require "moonbeam.gen_server"
    local s = assert(gen.start({ init = function() return "ok", 0 end,
                                 handle_call = function(_, _, n) return "reply", n, n end }))
    mb.send(s, { "stray", "\254" })   -- a report: its fields come from lua-cjson
    gen.call(s, "sync")
    gen.stop(s)
    log.flush()
    local got = lines_of(path)
    assert.equal(2, #got)
    for _, l in ipairs(got) do assert.is_nil(l:find("[\254\255\237]")) end
    assert.equal("bytes \\ufffd and \\ufffd\\ufffd\\ufffd, text \195\169\226\130\172",
                 got[1]:match('"msg":"(.-)"'))
    assert.equal("bytes \239\191\189 and \239\191\189\239\191\189\239\191\189, text \195\169\226\130\172",
                 cjson.decode(got[1]).msg)
    assert.equal("unexpected_message", cjson.decode(got[2]).report)
    assert.matches("\239\191\189", cjson.decode(got[2]).message, 1, true)   -- U+FFFD
  end)
end)

describe("logger arguments", function()
  before_each(setup)
  after_each(teardown)

  it("raise clear errors for a bad fmt or bad format arguments", function()
    h.usage_error("logger.info", log.info, 42)
    h.usage_error("logger.error", log.error, nil)
    h.usage_error("logger.debug", log.debug, {})   -- filtered out, still checked
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
    assert.equal("logger.add_handler: name must be a non-empty string without NUL bytes",
      h.usage_error("logger.add_handler", log.add_handler, "a\0b", { type = "stderr" }))
    h.usage_error("logger.add_handler", log.add_handler, "x", "file")
    h.usage_error("logger.add_handler", log.add_handler, "x", { type = "syslog", path = "/tmp/x" })
    h.usage_error("logger.add_handler", log.add_handler, "x", { type = "file" })
    h.usage_error("logger.add_handler", log.add_handler, "x", { type = "stderr", path = "/tmp/x" })
    h.usage_error("logger.add_handler", log.add_handler, "x", { type = "json", path = "/tmp/x", level = "all" })
    assert.equal("logger.add_handler: unknown option 'lvl'",   -- a misspelt level was ignored
      h.usage_error("logger.add_handler", log.add_handler, "x", { type = "stderr", lvl = "info" }))
    local ok, err = log.add_handler("x", { type = "file", path = "/nonexistent-dir/a.log" })
    assert.is_nil(ok)
    assert.matches("cannot open /nonexistent%-dir/a%.log", err)
    local _, name = handler()
    local unmade = os.tmpname()
    os.remove(unmade)
    ok, err = log.add_handler(name, { type = "file", path = unmade })
    assert.is_nil(ok)
    assert.matches("exists", err)
    assert.is_nil(io.open(unmade), "a refused handler made its file")
    assert.is_false(log.remove_handler(name .. "\0x"))   -- not name's handler
    h.usage_error("logger.remove_handler", log.remove_handler, 42)
    h.usage_error("logger.flush", log.flush, -1)
  end)
end)

describe("logger on a handler that cannot keep up", function()
  before_each(setup)
  after_each(teardown)

  it("a full disk (/dev/full) neither blocks nor crashes a process", function()
    assert(log.add_handler("full", { type = "file", path = "/dev/full" }))
    L.added("full")
    local path = handler()
    local t0 = h.now_ms()
    for i = 1, 2000 do log.info("line %d", i) end
    assert.is_true(h.now_ms() - t0 < 5000)
    assert.is_true(log.flush())
    assert.equal(2000, #lines_of(path))
  end)

  -- mkfifo runs as a subprocess, which a sanitizer's runtime, inherited,
  -- keeps from making the FIFO: a plain file would be opened instead.
  local fifo_it = require("spec.support.sup_util").sanitized() and pending or it
  fifo_it("a FIFO nobody has open for reading is refused at once, not waited on by add_handler's scheduler", function()
    local fifo = os.tmpname()
    os.remove(fifo)
    assert(os.execute("mkfifo " .. fifo))
    local me = mb.self()
    -- In a process of its own: a wait in open would hold it (and its
    -- scheduler) for ever, and this spec would only time out.
    mb.spawn(function(me, fifo)
      local mb, log = require "moonbeam", require "moonbeam.logger"
      mb.send(me, { "added", log.add_handler("fifo_nobody", { type = "file", path = fifo }) })
    end, me, fifo)
    local m = mb.receive(function(m) return m[1] == "added" end, 2000)
    os.remove(fifo)
    assert(m, "add_handler waited on the FIFO")
    assert.is_nil(m[2])
    assert.matches("cannot open .*: No such device or address", m[3])
  end)
end)

describe("logger gen_server warnings", function()
  before_each(setup)
  after_each(teardown)

  local gen = require "moonbeam.gen_server"
  local function server()
    return assert(gen.start({ init = function() return "ok", 0 end,
                              handle_call = function(_, _, s) return "reply", s, s end }))
  end

  it("an unexpected message to a server without handle_info is a warning event with fields", function()
    local path = handler("json")
    local s = server()
    mb.send(s, { "stray", 4242 })
    gen.call(s, "sync")   -- the stray message was handled before this call
    log.flush()
    local e = cjson.decode(lines_of(path)[1])
    assert.equal("warning", e.level)
    assert.equal("unexpected_message", e.report)
    assert.equal(tostring(s), e.pid)
    assert.matches("4242", e.message)
    gen.stop(s)
  end)

  it("is filtered by the host's level", function()
    local path = handler()
    log.set_level("error")
    local s = server()
    mb.send(s, "stray")
    gen.call(s, "sync")
    log.flush()
    assert.equal("", sh.read(path))
    gen.stop(s)
  end)
end)
