-- gen_server crash reports: docs/semantics.md ("gen_server", "Crash
-- reports"). On an abnormal exit a server prints to stderr its name or pid, the
-- last message, the state and the reason with the Lua traceback, all
-- size-capped, through the module's format_status callback when it has one.
-- Nothing is printed for "normal", "shutdown" or {"shutdown", x}, nor when
-- MOONBEAM_CRASH_LOG=0.
--
-- The suite itself runs with MOONBEAM_CRASH_LOG=0, so each case runs a small
-- script under `moonbeam run` and reads its stderr.

local sh = require "spec.support.shell"
local U = require "spec.support.gs_util"

-- describe for specs that run `moonbeam run` in a subprocess; where that
-- cannot run (under a preloaded sanitizer runtime), one pending test instead.
local function describe_subprocess(name, fn)
  if U.can_run_subprocesses() then return describe(name, fn) end
  describe(name, function() pending("needs subprocesses, which cannot run here") end)
end

local BIN = "./build/bin/moonbeam"

local PRELUDE = [[
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
-- Waits for pid to exit; returns its reason.
local function wait_down(pid)
  local ref = mb.monitor(pid)
  local m = mb.receive(function(m) return type(m) == "table" and m[1] == "DOWN" and m[2] == ref end, 30000)
  assert(m, "the server did not exit")
  return m[5]
end
local function start(arg, opts)
  local pid = assert(gen.start("spec.support.gs_script", arg, opts))
  io.stdout:write("pid ", tostring(pid), "\n")
  return pid
end
]]

-- Runs PRELUDE .. source under `moonbeam run`; env is a prefix such as
-- "MOONBEAM_CRASH_LOG=1" (the default) or "env -u MOONBEAM_CRASH_LOG".
-- Returns stderr, stdout (and fails when the script failed).
local function run(source, env)
  local path = sh.script(PRELUDE .. source)
  local status, out, err = sh.run((env or "MOONBEAM_CRASH_LOG=1") .. " " .. BIN .. " run " .. sh.quote(path), 60)
  assert.equal(0, status, "the script failed:\n" .. err)
  return err, out
end

local function has(haystack, needle)
  return haystack:find(needle, 1, true) ~= nil
end

local function assert_has(err, needle)
  assert(has(err, needle), "stderr lacks " .. needle .. ":\n" .. err:sub(1, 4000))
end

local function assert_lacks(err, needle)
  assert(not has(err, needle), "stderr has " .. needle .. ":\n" .. err:sub(1, 4000))
end

local function longest_line(s)
  local n = 0
  for line in s:gmatch("[^\n]*") do if #line > n then n = #line end end
  return n
end

describe_subprocess("a gen_server crash report", function()
  after_each(sh.cleanup)

  it("names the pid and shows the last message, the state, the reason and the traceback", function()
    local err, out = run([[
      local s = start({ state = { marker = "STATE-MARKER-1" } })
      pcall(gen.call, s, { "crash", "REASON-MARKER-2", "MESSAGE-MARKER-3" })
      wait_down(s)
    ]])
    local pid = out:match("pid (%S+)")
    assert_has(err, pid)
    assert_has(err, "STATE-MARKER-1")
    assert_has(err, "REASON-MARKER-2")
    assert_has(err, "MESSAGE-MARKER-3")
    assert_has(err, "traceback")
    assert_has(err, "gs_script.lua")  -- where it raised
  end)

  it("names a registered server by its name", function()
    local err = run([[
      local s = start({ state = 1 }, { name = "my_named_server" })
      gen.cast(s, { "crash", "boom" })
      wait_down(s)
    ]])
    assert_has(err, "my_named_server")
    assert_has(err, "boom")
  end)

  it("shows an atom in the state or the last message as mb.atom(name), not as the table it is", function()
    local err = run([[
      local s = start({ state = { mb.atom("STATE_ATOM") } })
      gen.cast(s, { "crash", "boom", mb.atom("MSG_ATOM") })
      wait_down(s)
    ]])
    assert_has(err, 'mb.atom("STATE_ATOM")')
    assert_has(err, 'mb.atom("MSG_ATOM")')
  end)

  it("shows the cast that was the last message", function()
    local err = run([[
      local s = start({ state = 1 })
      gen.cast(s, "LAST-CAST-0")
      gen.cast(s, { "crash", "CAST-CRASH", "LAST-CAST-1" })
      wait_down(s)
    ]])
    assert_has(err, "LAST-CAST-1")
    assert_lacks(err, "LAST-CAST-0")
  end)

  it("shows a cast's envelope as the last message of a bad return or a stop", function()
    local err = run([[
      local s = start({ state = 1 })
      gen.cast(s, { "ret", "BAD-RETURN-TAG", "LAST-CAST-2" })
      wait_down(s)
      s = start({ state = 1 })
      gen.cast(s, { "ret", "stop", "STOP-REASON-4", "$state", n = 4, marker = "LAST-CAST-3" })
      wait_down(s)
    ]])
    assert_has(err, "bad_return_value")   -- once: the stop is a stop
    assert.equal(1, select(2, err:gsub("bad_return_value", "")), err)
    assert_has(err, "LAST-CAST-2")
    assert_has(err, "STOP-REASON-4")
    assert_has(err, "LAST-CAST-3")
    local _, envelopes = err:gsub("%$gen_cast", "")
    assert.is_true(envelopes >= 2, err)
  end)

  it("shows the info message that was the last message", function()
    local err = run([[
      local s = start({ state = 1 })
      mb.send(s, { "crash", "INFO-CRASH", "LAST-INFO-1" })
      wait_down(s)
    ]])
    assert_has(err, "LAST-INFO-1")
    assert_has(err, "INFO-CRASH")
  end)

  it("is printed for mb.exit(reason) in a callback, with the reason", function()
    local err = run([[
      local s = start({ state = 1 })
      gen.cast(s, { "fn", function() require("moonbeam").exit({ "EXIT-REASON-3" }) end })
      wait_down(s)
    ]])
    assert_has(err, "EXIT-REASON-3")
  end)

  it("is printed for a bad return value, naming it", function()
    local err = run([[
      local s = start({ state = 1 })
      gen.cast(s, { "ret", "BAD-VALUE-4" })
      wait_down(s)
    ]])
    assert_has(err, "bad_return_value")
    assert_has(err, "BAD-VALUE-4")
    -- and where the callback that returned it is
    assert.matches("%*%* Bad return from handle_cast %([%./]*spec/support/gs_script%.lua:%d+%)", err)
  end)

  it("is printed for \"stop\" with an abnormal reason", function()
    local err = run([[
      local s = start({ state = 1 })
      gen.cast(s, { "ret", "stop", "STOP-REASON-5", "$state" })
      wait_down(s)
    ]])
    assert_has(err, "STOP-REASON-5")
  end)

  it("is printed for gen.stop with an abnormal reason", function()
    local err = run([[
      local s = start({ state = 1 })
      gen.stop(s, "STOP-REASON-6")
    ]])
    assert_has(err, "STOP-REASON-6")
  end)

  it("is printed when terminate crashes, with terminate's error", function()
    local err = run([[
      local s = start({ state = 1, terminate = function() error("TERMINATE-CRASH-7") end })
      pcall(gen.stop, s)
    ]])
    assert_has(err, "TERMINATE-CRASH-7")
  end)

  for _, how in ipairs({
    { "gen.stop(s)", "normal" },
    { "gen.stop(s, 'shutdown')", "shutdown" },
    { "gen.stop(s, { 'shutdown', 'detail' })", "{shutdown, detail}" },
    { "gen.cast(s, { 'ret', 'stop', 'normal', '$state' }); wait_down(s)", "stop normal" },
    { "gen.cast(s, { 'ret', 'stop', { 'shutdown', 1 }, '$state' }); wait_down(s)", "stop {shutdown, 1}" },
  }) do
    it("is not printed for " .. how[2], function()
      local err = run("local s = start({ state = 'QUIET-STATE' })\n" .. how[1] .. "\n")
      assert_lacks(err, "QUIET-STATE")
      assert.equal("", err)
    end)
  end

  -- A failed init logged nothing; OTP logs a crash report for each of
  -- these (only init's "error", reason is silent, as OTP 26's).
  it("is printed when init fails: it raises, returns \"stop\" with an abnormal reason, or a bad value", function()
    local err = run([[
      assert(not gen.start({ init = function() error("INIT-RAISED-8") end }))
      assert(not gen.start({ init = function() return "stop", "INIT-STOPPED-9" end }))
      assert(not gen.start({ init = function() return "INIT-BAD-10" end }))
      assert(not gen.start({ init = function() return "error", "INIT-SILENT-11" end }))
      assert(not gen.start({ init = function() return "stop", "normal" end }))
    ]])
    assert_has(err, "INIT-RAISED-8")
    assert_has(err, "INIT-STOPPED-9")
    assert_has(err, "INIT-BAD-10")
    assert_has(err, "failed in init")
    assert_lacks(err, "INIT-SILENT-11")
    assert.equal(3, select(2, err:gsub("failed in init", "")), err)
  end)

  it("is not printed with MOONBEAM_CRASH_LOG=0", function()
    local err = run([[
      local s = start({ state = "MUTED-STATE" })
      gen.cast(s, { "crash", "muted" })
      wait_down(s)
    ]], "MOONBEAM_CRASH_LOG=0")
    assert.equal("", err)
  end)

  it("is printed when MOONBEAM_CRASH_LOG is not set", function()
    local err = run([[
      local s = start({ state = "DEFAULT-STATE" })
      gen.cast(s, { "crash", "default on" })
      wait_down(s)
    ]], "env -u MOONBEAM_CRASH_LOG")
    assert_has(err, "DEFAULT-STATE")
  end)
end)

describe_subprocess("a gen_server crash report's size", function()
  after_each(sh.cleanup)

  local CAP = 64 * 1024   -- generous: a report is a few KB at most

  local cases = {
    ["a 10 MB string state"] = [[
      local s = start({ state = string.rep("s", 10 * 1024 * 1024) })
      gen.cast(s, { "crash", "big state" })
      wait_down(s)
    ]],
    ["a state of a million entries"] = [[
      local s = start({ init = function()
        local t = {}
        for i = 1, 1000000 do t[i] = { i, "entry" } end
        return "ok", t
      end })
      gen.cast(s, { "crash", "wide state" })
      wait_down(s)
    ]],
    ["a state with a million keys"] = [[
      local s = start({ init = function()
        local t = {}
        for i = 1, 1000000 do t["key" .. i] = i end
        return "ok", t
      end })
      gen.cast(s, { "crash", "wide state" })
      wait_down(s)
    ]],
    ["a deeply nested state"] = [[
      local s = start({ init = function()
        local t = {}
        for i = 1, 10000 do t = { t, string.rep("d", 100) } end
        return "ok", t
      end })
      gen.cast(s, { "crash", "deep state" })
      wait_down(s)
    ]],
    ["a 10 MB last message"] = [[
      local s = start({ state = 1 })
      gen.cast(s, { "crash", "big message", string.rep("m", 10 * 1024 * 1024) })
      wait_down(s)
    ]],
    ["a 10 MB error message"] = [[
      local s = start({ state = 1 })
      gen.cast(s, { "fn", function() error(string.rep("e", 10 * 1024 * 1024)) end })
      wait_down(s)
    ]],
    ["a 10 MB exit reason"] = [[
      local s = start({ state = 1 })
      gen.cast(s, { "fn", function()
        local r = {}
        for i = 1, 100000 do r[i] = string.rep("r", 100) end
        require("moonbeam").exit(r)
      end })
      wait_down(s)
    ]],
    ["a deep traceback"] = [[
      local s = start({ state = 1 })
      gen.cast(s, { "fn", function()
        local function f(n) if n == 0 then error("deep") end return (f(n - 1)) end
        f(10000)
      end })
      wait_down(s)
    ]],
  }

  for what, source in pairs(cases) do
    it("stays small for " .. what, function()
      local err, out = run(source)
      local pid = out:match("pid (%S+)")
      assert_has(err, pid)
      assert.is_true(#err < CAP, #err .. " bytes on stderr")
      assert.is_true(longest_line(err) < 16 * 1024, "a line of " .. longest_line(err) .. " bytes")
    end)
  end
end)

describe_subprocess("a gen_server's format_status callback", function()
  after_each(sh.cleanup)

  it("redacts the state and the last message of a crash report", function()
    local err, out = run([[
      local s = assert(gen.start("spec.support.gs_secret",
        { user = "ann", password = "SECRET-PASSWORD", blob = string.rep("b", 1000) }))
      io.stdout:write("pid ", tostring(s), "\n")
      pcall(gen.call, s, { "login", "SECRET-IN-MESSAGE" })
      wait_down(s)
    ]])
    assert_has(err, out:match("pid (%S+)"))
    assert_has(err, "login refused")
    assert_has(err, "<redacted>")
    assert_has(err, "ann")
    assert_lacks(err, "SECRET-PASSWORD")
    assert_lacks(err, "SECRET-IN-MESSAGE")
    assert_lacks(err, "bbbbbbbbbb")
  end)

  it("can redact the reason too", function()
    local err = run([[
      local s = assert(gen.start({
        init = function() return "ok", 1 end,
        handle_cast = function(msg, state) error("token SECRET-IN-REASON leaked") end,
        format_status = function(status)
          local r = status.reason
          if type(r) == "table" and type(r[2]) == "string" then
            r = { r[1], (r[2]:gsub("SECRET%-IN%-REASON", "<token>")), r[3] }
          end
          return { state = status.state, message = status.message, reason = r }
        end,
      }))
      gen.cast(s, "go")
      wait_down(s)
    ]])
    assert_has(err, "<token>")
    assert_lacks(err, "SECRET-IN-REASON")
  end)

  it("that crashes leaks nothing and the report is still printed", function()
    local err, out = run([[
      local s = assert(gen.start({
        init = function() return "ok", { password = "SECRET-STATE-2" } end,
        handle_cast = function(msg, state) error("cast failed") end,
        format_status = function(status) error("format_status broke") end,
      }))
      io.stdout:write("pid ", tostring(s), "\n")
      gen.cast(s, { "SECRET-MESSAGE-2" })
      wait_down(s)
    ]])
    assert_has(err, out:match("pid (%S+)"))
    assert_has(err, "cast failed")
    assert_lacks(err, "SECRET-STATE-2")
    assert_lacks(err, "SECRET-MESSAGE-2")
  end)
end)
