--- moonbeam.logger: the host's log (docs/reference.md, "logger").
-- An event is formatted here and handed to the host (host/core/logger.h),
-- whose writer thread writes it to each handler: a process never waits on
-- a file or a terminal. Levels and handlers are host-wide.
local core = require "moonbeam.core"

local type, error, select, tostring, pcall, format = type, error, select, tostring, pcall, string.format
local getinfo = debug.getinfo
local c_log, c_generation, c_level_of = core.log, core.log_generation, core.log_level_of

local M = {}

local LEVELS = { debug = 0, info = 1, notice = 2, warning = 3, error = 4 }
local NAMES = { [0] = "debug", "info", "notice", "warning", "error" }

-- ---- the caller's module ------------------------------------------------

-- A source file's module: the name require finds it under on package.path
-- ("./lua/app/cache.lua" with "./lua/?.lua": "app.cache"), else its path
-- ("examples/app.lua"); a chunk from a string is its chunk name.
local modules, modules_path = {}, nil

local function module_of(source)
  if package.path ~= modules_path then modules, modules_path = {}, package.path end
  local m = modules[source]
  if m then return m end
  if source:sub(1, 1) ~= "@" then
    m = source:gsub("^=", "")
  else
    -- A file two templates name ("./?.lua" and "./lib/?.lua" both name
    -- ./lib/app/cache.lua) is the module require loaded it as: the name
    -- package.loaded has (set as its loading begins), else the first.
    local file = source:sub(2)
    for template in package.path:gmatch("[^;]+") do
      local pat = "^" .. template:gsub("[%^%$%(%)%%%.%[%]%*%+%-]", "%%%0"):gsub("%?", "(.+)") .. "$"
      local name = file:match(pat)
      if name then
        name = name:gsub("/", ".")
        m = m or name
        if package.loaded[name] ~= nil then
          m = name
          break
        end
      end
    end
    m = m or file:gsub("^%./", "")
  end
  modules[source] = m
  return m
end

-- ---- levels -------------------------------------------------------------

-- Each module's level, read from the host once per change of levels or
-- handlers (the generation).
local seen, thresholds = -1, {}

local function refresh()
  local g = c_generation()
  if g ~= seen then seen, thresholds = g, {} end
end

local function threshold(module)
  refresh()
  local l = thresholds[module]
  if not l then
    l = c_level_of(module)
    thresholds[module] = l
  end
  return l
end

local function check_level(level, fn, level_arg)
  if LEVELS[level] == nil then
    error(fn .. ": level must be \"debug\", \"info\", \"notice\", \"warning\" or \"error\", got " .. tostring(level),
          level_arg or 3)
  end
end

local function check_module(module, fn)
  if module ~= nil and not require("moonbeam.util").is_name(module) then
    error(fn .. ": module must be a non-empty string without NUL bytes (a module name or a file)", 3)
  end
end

--- set_level(level, [module]): the host's level, or module's (and its
-- submodules': "app" covers "app.cache"); set_level(nil, module) gives
-- module back its parent's level.
function M.set_level(level, module)
  check_module(module, "logger.set_level")
  if not (level == nil and module) then check_level(level, "logger.set_level") end
  core.log_set_level(level, module)
  return true
end

--- get_level([module]) -> the level module's events must reach.
function M.get_level(module)
  check_module(module, "logger.get_level")
  return NAMES[c_level_of(module)]
end

-- ---- events -------------------------------------------------------------

-- A JSON handler's fields, with lua-cjson; without it, JSON lines carry
-- the standard fields only.
local cjson
local function encode(fields)
  if fields == nil or seen % 2 == 0 then return nil end   -- even: no JSON handler
  if cjson == nil then
    local ok, m = pcall(require, "cjson")
    cjson = ok and m or false
  end
  if not cjson then return nil end
  local ok, s = pcall(cjson.encode, fields)
  return ok and s or nil
end

local HOST = {}   -- thresholds' key for the host's own level

local function host_threshold()
  local l = thresholds[HOST]
  if not l then
    l = c_level_of(nil)
    thresholds[HOST] = l
  end
  return l
end

-- Log at level from the function that called log.<level> (two levels up).
-- With no module levels set (bit 1), the host's level decides before the
-- caller is looked up: a filtered event costs next to nothing.
local function emit(level, name, fmt, ...)
  if type(fmt) ~= "string" then error("logger." .. name .. ": fmt must be a string, got " .. type(fmt), 3) end
  refresh()
  local n = LEVELS[level]
  if seen % 4 < 2 and n < host_threshold() then return false end
  local info = getinfo(3, "Sl")
  -- Called through a C function (pcall(log.info, ...)): the Lua code that called that.
  if info and info.what == "C" then info = getinfo(4, "Sl") or info end
  if seen % 4 >= 2 and n < threshold(info and module_of(info.source) or "?") then return false end
  local msg = fmt
  if select("#", ...) > 0 then
    local ok, s = pcall(format, fmt, ...)
    if not ok then
      -- "bad argument #2 to 'format' (number expected, got nil)": #2 is the first after fmt.
      local n, why = s:match("#(%d+) to '[^']*' %((.*)%)")
      s = n and ("argument " .. (n - 1) .. " after fmt: " .. why) or s
      error(("logger.%s: fmt %q does not fit its arguments (%s)"):format(name, fmt, s), 3)
    end
    msg = s
  end
  local where = info and info.currentline and info.currentline > 0
    and info.short_src:gsub("^%./", "") .. ":" .. info.currentline or nil
  return c_log(level, where, msg)
end

-- Not tail calls: emit finds the caller two levels up.
function M.debug(fmt, ...) local r = emit("debug", "debug", fmt, ...); return r end
function M.info(fmt, ...) local r = emit("info", "info", fmt, ...); return r end
function M.notice(fmt, ...) local r = emit("notice", "notice", fmt, ...); return r end
function M.warning(fmt, ...) local r = emit("warning", "warning", fmt, ...); return r end
function M.error(fmt, ...) local r = emit("error", "error", fmt, ...); return r end

--- report(level, msg, detail, fields): a report (a crash, a supervisor's,
-- a gen_server's) as one event: msg its first line, detail the lines that
-- follow in plain handlers, fields (strings and numbers) what JSON
-- handlers add; the host's level filters it, no module's. Not for users:
-- the reports' own modules call it.
function M.report(level, msg, detail, fields)
  refresh()   -- and encode reads the generation's JSON bit
  if LEVELS[level] < host_threshold() then return false end
  return c_log(level, nil, msg, detail, encode(fields))
end

-- ---- handlers -----------------------------------------------------------

local KINDS = { stderr = true, file = true, json = true }

local HANDLER_OPTS = { type = true, path = true, level = true }

--- add_handler(name, {type = "file" | "json" | "stderr", path = ..., level = ...})
-- -> true, or nil and why (the name is taken, the file cannot be opened).
function M.add_handler(name, opts)
  -- No NUL: the host keeps names as C strings, and "a\0b" would be "a".
  if type(name) ~= "string" or name == "" or name:find("\0", 1, true) then
    error("logger.add_handler: name must be a non-empty string without NUL bytes", 2)
  end
  if type(opts) ~= "table" then error("logger.add_handler: opts must be a table", 2) end
  require("moonbeam.util").check_known(opts, HANDLER_OPTS, "logger.add_handler")
  local kind, path, level = opts.type, opts.path, opts.level
  if level == nil then level = "debug" end
  if not KINDS[kind] then error("logger.add_handler: type must be \"file\", \"json\" or \"stderr\"", 2) end
  if kind == "stderr" then
    if path ~= nil then error("logger.add_handler: a stderr handler takes no path", 2) end
  elseif type(path) ~= "string" or path == "" or path:find("\0", 1, true) then
    error("logger.add_handler: path must be a file's path", 2)
  end
  check_level(level, "logger.add_handler")
  return core.log_add_handler(name, kind, path, level)
end

--- remove_handler(name) -> true, or false when there is no such handler.
function M.remove_handler(name)
  if type(name) ~= "string" then error("logger.remove_handler: name must be a string", 2) end
  if name:find("\0", 1, true) then return false end   -- no handler has one (add_handler); C would cut it there
  return core.log_remove_handler(name)
end

--- flush([timeout]) -> true once every event logged before is written,
-- nil on timeout (default 5000). Only the caller waits; the writer's word
-- comes through an alias, so after a timeout it never arrives.
function M.flush(timeout)
  local mb = require "moonbeam"
  local ms = require("moonbeam.util").check_timeout(timeout, "logger.flush", 5000)
  local ref = mb.make_ref()
  mb.alias(ref)
  if core.log_flush(ref) then   -- all written already: true even with timeout 0
    mb.unalias(ref)
    return true
  end
  local m = mb.receive(function(m)
    return type(m) == "table" and m[1] == "$log_flushed" and m[2] == ref
  end, ms)
  mb.unalias(ref)
  return m ~= nil or nil
end

M.LEVELS = NAMES
return M
