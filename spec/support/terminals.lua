-- What the specs of the console and of `moonbeam attach` share: the
-- moonbeam binary, a HOME of each test's own (history, sockets), and the
-- terminals a test starts, all stopped after it. See spec/support/tty.lua.

local tty = require "spec.support.tty"
local sh = require "spec.support.shell"

local T = {}

T.BIN = os.getenv("MOONBEAM_BIN") or "./build/bin/moonbeam"   -- another build: MOONBEAM_BIN
T.CWD = os.getenv("PWD") or "."

local started = {}

-- The environment a command runs in: the test's HOME, no crash reports.
function T.env(extra)
  local e = { HOME = T.home, LUA_PATH = os.getenv("LUA_PATH") or "./lua/?.lua;./?.lua;;",
              MOONBEAM_CRASH_LOG = "0" }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

-- A terminal running command (in T.env(extra_env)), stopped after the test.
function T.start(command, extra_env)
  local t = tty.start(command, T.env(extra_env), T.CWD)
  started[#started + 1] = t
  return t
end

-- For before_each and after_each.
function T.before()
  T.home = tty.tempdir()
  started = {}
end

function T.after()
  for _, t in ipairs(started) do t:stop() end
  tty.rmdir_all(T.home)
  sh.cleanup()
end

return T
