--- moonbeam.console: the interactive console's process.
-- host/console/console_server.c starts one per terminal (moonbeam's own, or one
-- attached through --console-socket) as serve(id, prev, why, kind, setup...).
-- What is typed arrives as messages {"$console", type, text} (the frame types
-- of host/console/console_wire.h). Each chunk is evaluated in this process's own Lua
-- state: as an expression first (its values are printed), then as a
-- statement; a chunk that ends too early (LuaJIT's message ends in '<eof>')
-- continues on the next line. Every value is printed with moonbeam.pretty. An error prints its
-- message and traceback, and a linked process that crashes prints a line:
-- the console traps exits, so neither ends it. The helpers are those of
-- docs/reference.md ("The console"), as globals of this state
-- (moonbeam.console_helpers); Tab's completions are
-- moonbeam.console_complete's.
--
-- Output never waits on the scheduler thread (conn:send queues what the
-- terminal has not taken); a console whose terminal is behind waits for it
-- as a process does, in receive, so a slow terminal slows its own console
-- down and nothing else, and is never dropped for being slow.
local core = require "moonbeam.core"
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local pretty = require "moonbeam.pretty"
local complete = require "moonbeam.console_complete"

local type, tostring, select, pairs, ipairs, pcall, xpcall, loadstring, concat =
  type, tostring, select, pairs, ipairs, pcall, xpcall, loadstring, table.concat
local running, isyieldable = coroutine.running, coroutine.isyieldable
local is_pid = mb.is_pid

local M = {}

local conn          -- the terminal (core.console_open)
local body          -- the process's own coroutine: the only place it may wait
local chunk_running -- the function of the chunk being evaluated
local count = 1     -- inputs evaluated, for the prompt
local pending       -- the lines of a chunk that is not complete yet

local function pack(...) return { n = select("#", ...), ... } end

-- Output goes in frames of at most this: well under what the host queues
-- for a terminal before it drops it, so waiting between frames keeps a
-- slow terminal attached.
local FRAME = 64 * 1024

local held = {}   -- frames held back where waiting was impossible, oldest first

local function is_caught_up(m) return type(m) == "table" and m[1] == "$console" and m[2] == "W" end

-- Whether this process may wait here: not in a coroutine of the user's,
-- nor under a C function (string.gsub's callback, a metamethod).
local function can_wait() return running() == body and isyieldable() end

local function send_in_pace(kind, text)
  if conn:tell_when_caught_up() then mb.receive(is_caught_up) end
  return conn:send(kind, text)
end

-- Send a frame once the terminal is not behind. Where this process cannot
-- wait, a frame for a terminal that is behind is held back (in this
-- process's memory) and goes, in order, at the next send that can wait.
local function send(kind, text)
  if can_wait() then
    for i = 1, #held do send_in_pace(held[i][1], held[i][2]) end
    held = {}
    return send_in_pace(kind, text)
  end
  if #held == 0 and not conn:behind() then return conn:send(kind, text) end
  if conn:gone() then
    held = {}
    return false
  end
  held[#held + 1] = { kind, text }
  return true
end

local function write(s)
  if not conn then return end
  for i = 1, #s, FRAME do
    if not send("O", s:sub(i, i + FRAME - 1)) then
      -- The terminal is gone (or was dropped): nobody sees what the
      -- evaluation prints, so it stops here instead of running on.
      if chunk_running then error("console: the terminal is gone", 0) end
      return
    end
  end
end

local function say(s) write(s .. "\n") end

-- The console's own io output (io.write's result, io.output()): a file
-- to the program, as io.stdout is, and shown as one.
local console_out

local function show(v)
  if v ~= nil and v == console_out then return "file (console)" end
  return pretty.format(v)
end

-- ---- what the terminal sends -------------------------------------------

local function is_console(m) return type(m) == "table" and m[1] == "$console" and type(m[2]) == "string" end
local function is_exit(m) return type(m) == "table" and m[1] == "EXIT" and is_pid(m[2]) end
local function is_input(m) return is_console(m) or is_exit(m) end

-- An error as words: a string as it is, an error with a __tostring (the
-- API's error tables: moonbeam.util's failure) as it reads, else printed.
-- An atom has a __tostring too, but it prints as what makes it, as
-- everywhere in the console: mb.atom("name").
local function error_words(e)
  if type(e) == "string" then return e end
  local mt = getmetatable(e)
  if type(mt) == "table" and mt.__tostring and core.kind(e) ~= "atom" then
    local ok, s = pcall(tostring, e)
    if ok and type(s) == "string" then return s end
  end
  return show(e)
end

-- A linked process ended: one line, unless it ended normally.
local function report_exit(m)
  local reason = m[3]
  if reason == "normal" then return end
  local text
  if type(reason) == "table" and reason[1] == "error" then
    text = "crashed: " .. error_words(reason[2])   -- a table error value printed, not "table: 0x..."
  else
    text = "exited: " .. pretty.format(reason, { width = 10000 })
  end
  say(("** (EXIT from %s) %s"):format(tostring(m[2]), text))
end

-- Exits that came during an evaluation are shown before the next prompt.
-- Behind a long queue of input (lines pasted, or a flood) they wait their
-- turn in step's receive instead: scanning the whole queue after every
-- line would make n lines cost n^2 message decodes.
local EXIT_SCAN_MAX = 64

local function report_exits()
  if core.queue_len() > EXIT_SCAN_MAX then return end
  while true do
    local m = mb.receive(is_exit, 0)
    if not m then return end
    report_exit(m)
  end
end

-- ---- evaluation ---------------------------------------------------------

local function frame_text(info)
  local where = info.what == "C" and "[C]" or
    (info.currentline and info.currentline > 0 and (info.short_src .. ":" .. info.currentline) or info.short_src)
  local what
  if info.what == "main" then what = "main chunk"
  elseif info.name then what = "function '" .. info.name .. "'"
  elseif info.what == "C" then what = "?"
  else what = ("function <%s:%d>"):format(info.short_src, info.linedefined or 0) end
  return "\t" .. where .. ": in " .. what
end

-- The error and the frames of the evaluated chunk (not the console's own,
-- nor error's).
local function on_error(e)
  local lines = { "stack traceback:" }
  for level = 2, 40 do
    local info = debug.getinfo(level, "Slnf")
    if not info or info.func == xpcall then break end
    -- moonbeam's own modules (embedded: their source is their name) are noise
    local skip = info.func == error or info.func == assert or (info.source or ""):match("^moonbeam")
      or (info.short_src or ""):match("^%[builtin#")
    if not skip then lines[#lines + 1] = frame_text(info) end
    if info.func == chunk_running then break end
  end
  return { e, #lines > 1 and concat(lines, "\n") or nil }
end

local function show_error(e, tb)
  if e == core.interrupted then
    say("** interrupted" .. (tb and ("\n" .. tb) or ""))
    return
  end
  say("** error: " .. error_words(e) .. (tb and ("\n" .. tb) or ""))
end

local function show_results(r)
  if r.n < 2 then return end
  local parts, multi = {}, false
  for i = 2, r.n do
    local ok, s = pcall(show, r[i])
    parts[#parts + 1] = ok and s or ("<cannot print: " .. tostring(s) .. ">")
    multi = multi or parts[#parts]:find("\n", 1, true) ~= nil
  end
  say(concat(parts, multi and ",\n" or ", "))
end

-- Earlier results, for v(): results[n] is the first value input n gave.
local results, RESULTS_KEPT = {}, 100
local current_input = 0   -- the input being evaluated

-- The globals a statement assigns to ("p = spawn(...)", "a, b = 1, 2"):
-- their values are printed as an expression's would be.
local function assigned(chunk)
  local names = chunk:match("^%s*([%a_][%w_]*%s*,?[%w_,%s]-)%s*=[^=]")
  if not names then return nil end
  local list = {}
  for name in names:gmatch("[^,%s]+") do
    if not complete.is_identifier(name) or complete.is_keyword(name) then return nil end
    list[#list + 1] = name
  end
  return list
end

local function is_interrupt(m) return type(m) == "table" and m[1] == "$console" and m[2] == "I" end

-- Run f: the terminal's Ctrl-C stops it with an error (and the console
-- goes on, its globals kept). Compiled loops never look at the hook that
-- raises it: the console's state runs interpreted (serve), and what does
-- not stop within a second (a long C call) is killed (console_server.c).
local function run_interruptible(f)
  conn:interruptible(true)
  local r = pack(xpcall(f, on_error))
  conn:interruptible(false)
  while mb.receive(is_interrupt, 0) do end   -- the wake-ups of a Ctrl-C
  return r
end

--- eval(chunk) -> "more" when the chunk is not complete yet.
local function eval(chunk)
  -- Not "return <chunk>": a tail call would hide where error() was called.
  -- The closing parenthesis on the chunk's last line, where LuaJIT counts
  -- the expression's last instructions ("console:2:" for a one-line
  -- input); on a line of its own where the chunk ends in a comment.
  local f, err = loadstring("return select(1, " .. chunk .. ")", "=console")
  if not f then f, err = loadstring("return select(1, " .. chunk .. "\n)", "=console") end
  local names
  if not f then
    f, err = loadstring(chunk, "=console")
    names = f and assigned(chunk)
  end
  if not f then
    -- An expression cut short ("1 +", "{1,") reads as complete to the
    -- wrapper above and as a bad statement: only "return" .. chunk shows
    -- that more is to come.
    local _, as_expr = loadstring("return " .. chunk, "=console")
    if err:sub(-7) == "'<eof>'" or (as_expr or ""):sub(-7) == "'<eof>'" then return "more" end
    count = count + 1
    say("** syntax error: " .. err)
    return
  end
  local input = count
  count = count + 1
  current_input = input
  chunk_running = f
  local r = run_interruptible(f)
  chunk_running = nil
  if r[1] then
    if names and r.n == 1 then   -- a chunk's own return values come first ("t = now(); return now() - t")
      r = { n = #names + 1, true }
      for i, name in ipairs(names) do r[i + 1] = rawget(_G, name) end
    end
    results[input], results[input - RESULTS_KEPT] = r[2], nil
    -- Printing a big result takes a while too: a Ctrl-C there stops it,
    -- as it stops the evaluation (it killed the console, globals and all).
    r = run_interruptible(function() show_results(r) end)
  end
  if not r[1] then
    local e = r[2]
    show_error(e[1], e[2])
  end
end

local function on_line(line)
  if not pending and line:match("^%s*$") then return end
  local chunk = pending and (pending .. "\n" .. line) or line
  pending = nil
  if eval(chunk) == "more" then pending = chunk end
end

local function prompt()
  return pending and ("...(%d)> "):format(count) or ("mb(%d)> "):format(count)
end

local function on_complete(text)
  local word, before = text:match("^([^\n]*)\n(.*)$")
  local ok, out = pcall(complete.candidates, word or "", before or "")
  send("c", ok and concat(out, "\n") or "")
end

-- v(n): input n's first result, n < 0 counting back from the one evaluated.
local function earlier(n)
  if n < 0 then n = current_input + n end
  return results[n]
end

-- The helpers and modules as globals, and print and io.write to the
-- terminal; live_view: the host's own terminal, a tty (top() redraws).
local function install(attached, live_view)
  local helpers = require("moonbeam.console_helpers").new({
    say = say, write = write, show = show, is_console = is_console, earlier = earlier, live_view = live_view,
  })
  for k, v in pairs(helpers) do _G[k] = v end
  _G.mb, _G.gen = mb, gen
  _G.sup = require "moonbeam.supervisor"
  _G.task = require "moonbeam.task"
  _G.agent = require "moonbeam.agent"
  _G.print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    write(concat(parts, "\t") .. "\n")
  end
  local out = {}
  console_out = out
  function out.write(self, ...)
    for i = 1, select("#", ...) do
      local v = select(i, ...)
      if type(v) ~= "string" and type(v) ~= "number" then
        error(("bad argument #%d to 'write' (string expected, got %s)"):format(i, type(v)), 2)
      end
      write(tostring(v))
    end
    return self
  end
  function out.flush(self) return self end
  io.write = function(...) return out.write(out, ...) end
  if attached then
    -- os.exit here would end the host someone else runs.
    os.exit = function()
      error("os.exit would stop the host this console is attached to; Ctrl-D detaches", 2)
    end
  else
    -- The host's own console: os.exit ends the host in order, with the
    -- shutdown asked for before the terminal is told goodbye (so that the
    -- terminal's end finds it), and no console started again behind it.
    local exit = os.exit
    os.exit = function(code, close)
      core.shutdown_start(code)
      if conn then
        conn:close(true)
        conn = nil
      end
      return exit(code, close)
    end
  end
end

-- ---- the session ----------------------------------------------------------

local function greet(prev, why, attached)
  local me = tostring(mb.self())
  if prev then
    if why == "interrupted" then
      say(("** interrupted: console %s was killed; this is %s (the globals are gone)"):format(tostring(prev), me))
    else
      say(("** console %s ended; this is %s (the globals are gone)"):format(tostring(prev), me))
    end
    return
  end
  say(("moonbeam %s (%s), console %s%s. help() lists the helpers; Ctrl-D %s."):format(
    core.version or "?", jit and jit.version or _VERSION, me, attached and " attached to a running host" or "",
    attached and "detaches" or "quits"))
end

local function setup(list)
  local before = count   -- the prompt counts what was typed, not these
  for i = 1, #list - 1, 2 do
    local what, arg = list[i], list[i + 1]
    if what == "l" then
      local ok, mod = pcall(require, arg)
      if ok then
        local short = arg:match("([%a_][%w_]*)$")
        if short and rawget(_G, short) == nil then _G[short] = mod end
      else
        show_error(mod)
      end
    elseif what == "e" then
      if eval(arg) == "more" then say("** syntax error: -e: the code is not complete") end
    end
  end
  count = before
end

-- One prompt and what comes of it; false when the session is over.
local function step()
  report_exits()
  if conn:gone() then return false end
  if not send("P", prompt()) then return false end
  while true do
    local m = mb.receive(is_input)
    if is_exit(m) then
      report_exit(m)
    else
      local kind, text = m[2], m[3]
      if kind == "C" then
        on_complete(text)
      elseif kind == "L" then
        on_line(text)
        return not conn:gone()
      elseif kind == "K" then
        pending = nil
        return true
      elseif kind == "I" then
        -- a Ctrl-C for an evaluation that had ended: nothing to stop
      elseif kind == "E" then
        return false, true
      end
    end
  end
end

--- The body of a console process.
function M.serve(id, prev, why, kind, ...)
  body = running()
  conn = core.console_open(id)
  mb.trap_exit(true)
  -- Interpreted: compiled loops never look at the hook Ctrl-C stops them with.
  jit.off()
  local attached = kind == "attached"
  install(attached, kind == "terminal")
  greet(prev, why, attached)
  setup({ ... })
  while true do
    local ok, more, goodbye = pcall(step)
    if not ok then
      say("** console error: " .. tostring(more))   -- a bug of the console's own: carry on
    elseif not more then
      conn:close(goodbye or false)
      conn = nil
      return
    end
  end
end

return M
