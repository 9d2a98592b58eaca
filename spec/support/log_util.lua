-- What spec/logger_spec.lua and spec/logger_run_spec.lua share: handlers
-- on fresh files, removed after each test, and the host's levels and
-- default handler put back as they were. The default stderr handler is off
-- while a test runs (its events would be noise); log.flush() is the
-- barrier: once it returns, every event logged before it is in the files.
local log = require "moonbeam.logger"
local h = require "spec.support.helpers"
local sh = require "spec.support.shell"

local L = {}

--- The line this is called from.
function L.line() return debug.getinfo(2, "l").currentline end

--- A file's lines.
function L.lines_of(path)
  local out = {}
  for l in sh.read(path):gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

local handlers = {}

--- A handler of kind ("file" unless told) on a fresh file: its path and name.
function L.handler(kind, level)
  local path = os.tmpname()
  local name = h.name("handler")
  assert(log.add_handler(name, { type = kind or "file", path = path, level = level }))
  handlers[#handlers + 1] = { name, path }
  return path, name
end

--- A handler added by the test itself, removed (and its file) after it.
function L.added(name, path) handlers[#handlers + 1] = { name, path } end

function L.setup()
  h.before()
  assert(log.remove_handler("default"), "the default handler was not there")
  log.set_level("info")
end

function L.teardown()
  for _, x in ipairs(handlers) do
    log.remove_handler(x[1])
    if x[2] then os.remove(x[2]) end
  end
  handlers = {}
  log.set_level("info")
  for _, m in ipairs({ "spec", "spec.support", "spec.support.log_mod" }) do log.set_level(nil, m) end
  assert(log.add_handler("default", { type = "stderr" }))
  h.after()
end

return L
