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
-- docs/reference.md ("The console"), as globals of this state.
--
-- Output never waits on the scheduler thread (conn:send queues what the
-- terminal has not taken); a console whose terminal is behind waits for it
-- as a process does, in receive, so a slow terminal slows its own console
-- down and nothing else, and is never dropped for being slow.
local core = require "moonbeam.core"
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local pretty = require "moonbeam.pretty"

local type, tostring, select, pairs, ipairs, pcall, xpcall, loadstring, concat, sort =
  type, tostring, select, pairs, ipairs, pcall, xpcall, loadstring, table.concat, table.sort
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

local KEYWORDS = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
                   "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true",
                   "until", "while" }
local KEYWORD = {}
for _, k in ipairs(KEYWORDS) do KEYWORD[k] = true end

local function identifier(k) return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil end

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
    if not identifier(name) or KEYWORD[name] then return nil end
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

-- ---- completion ---------------------------------------------------------

local LAZY_LIBS = { "table", "math", "bit", "io", "os", "debug", "string", "coroutine", "package", "jit" }

-- Whether the text before the word leaves a string open.
local function in_string(s)
  local quote, i = nil, 1
  while i <= #s do
    local c = s:sub(i, i)
    if quote then
      if c == "\\" then i = i + 1 elseif c == quote then quote = nil end
    elseif c == '"' or c == "'" then
      quote = c
    elseif c == "-" and s:sub(i, i + 1) == "--" then
      return false
    end
    i = i + 1
  end
  return quote ~= nil
end


-- The value a dotted path of globals names, or nil. Indexing runs no
-- metamethods but those of the standard libraries' global table.
local function resolve_path(path)
  local v
  for seg in (path .. "."):gmatch("([^.]*)%.") do
    if not identifier(seg) then return nil end
    if v == nil then
      v = _G[seg]
    elseif type(v) == "table" then
      v = rawget(v, seg)
    else
      return nil
    end
    if v == nil then return nil end
  end
  return v
end

-- What completion offers of moonbeam's own modules. Of moonbeam itself,
-- whose table also holds the core's functions behind the other modules
-- (net_*, tab_*, call_*...), only its API (docs/reference.md, "Processes"):
local PUBLIC_MB = {}
for _, k in ipairs({
  "alias", "alive", "atom", "blocking", "cancel_timer", "connect", "demonitor", "exit", "info", "is_pid",
  "kind", "link", "make_ref", "max_message_size", "monitor", "monitor_node", "node", "nodes", "now",
  "process_count", "processes", "queue_len", "receive", "register", "registered", "reload", "self", "send",
  "send_after", "send_alias", "send_interval", "sleep", "spawn", "spawn_link", "spawn_monitor", "spawn_opt",
  "trap_exit", "tuple", "unalias", "unlink", "unregister", "version", "whereis", "yield",
}) do PUBLIC_MB[k] = true end
-- Of the others, every name but those that start with "_" and these, which
-- the modules use among themselves:
local INTERNAL = {}
for _, k in ipairs({
  -- moonbeam.gen_server, moonbeam.task: the bodies of their processes
  "enter", "run",
  -- moonbeam.agent: the callbacks of its gen_server
  "init", "handle_call", "handle_cast",
  -- moonbeam.registry: via names, for the name-taking calls
  "serve_started", "is_via", "check_via", "whereis_via", "register_via", "unregister_via",
  "take_for_spawn", "show",
  -- moonbeam.logger: the runtime's reports, and its level table
  "report", "LEVELS",
}) do INTERNAL[k] = true end

local function is_internal(v, k)
  if v == package.loaded.moonbeam then return not PUBLIC_MB[k] end
  return k:sub(1, 1) == "_" or INTERNAL[k] == true
end

-- Whether v is one of moonbeam's own modules (moonbeam, moonbeam.*).
local function is_moonbeam_module(v)
  if type(v) ~= "table" then return false end
  for name, m in pairs(package.loaded) do
    if m == v and type(name) == "string" and (name == "moonbeam" or name:sub(1, 9) == "moonbeam.") then
      return true
    end
  end
  return false
end

local function fields(v, methods_only, out)
  local seen = {}
  local hide = is_moonbeam_module(v)
  -- Their functions are put in them on a first look-up (bindings/core.c,
  -- gen_server's client half): one of a name none has puts them all.
  if hide then pcall(function() return v["\0complete"] end) end
  local function take(t)
    for k, x in pairs(t) do
      if identifier(k) and not seen[k] and (not methods_only or type(x) == "function")
         and not (hide and is_internal(v, k)) then
        seen[k] = true
        out[#out + 1] = k
      end
    end
  end
  if type(v) == "table" then take(v) end
  local mt = (type(v) == "table" or type(v) == "string") and getmetatable(v)
  if type(mt) == "table" and type(rawget(mt, "__index")) == "table" then take(mt.__index) end
  return out
end

local function candidates(word, before)
  local out = {}
  if in_string(before) then
    for _, name in ipairs(mb.registered()) do
      if name:sub(1, #word) == word then out[#out + 1] = name end
    end
  else
    local base, sep, part = word:match("^(.-)([.:])([%w_]*)$")
    if base then
      local v = resolve_path(base)
      if v ~= nil then
        for _, k in ipairs(fields(v, sep == ":", {})) do
          if k:sub(1, #part) == part then out[#out + 1] = base .. sep .. k end
        end
      end
    elseif word == "" or identifier(word) then
      local names = fields(_G, false, {})
      for _, k in ipairs(LAZY_LIBS) do names[#names + 1] = k end
      for _, k in ipairs(KEYWORDS) do names[#names + 1] = k end
      local seen = {}
      for _, k in ipairs(names) do
        if not seen[k] and k:sub(1, #word) == word then
          seen[k] = true
          out[#out + 1] = k
        end
      end
    end
  end
  sort(out)
  while #out > 500 do out[#out] = nil end
  return out
end

local function on_complete(text)
  local word, before = text:match("^([^\n]*)\n(.*)$")
  local ok, out = pcall(candidates, word or "", before or "")
  send("c", ok and concat(out, "\n") or "")
end

-- ---- the helpers ----------------------------------------------------------

local H = {}

-- A pid from a pid, a registered name, "<0.5.1>" or "0.5.1".
local function to_pid(x, fn)
  if is_pid(x) then return x end
  if type(x) == "string" then
    if x:match("^<?0%.%d+%.%d+>?$") then
      local p = H.pid(x)
      if p then return p end
      error(fn .. ": no process " .. x, 3)
    end
    local p = mb.whereis(x)
    if p then return p end
    error(fn .. ": no process is registered as '" .. x .. "'", 3)
  end
  error(fn .. ": a pid or a registered name expected, got " .. type(x), 3)
end

-- Pid-looking strings name pids; anything else goes to gen_server as is.
local function server(x)
  if type(x) == "string" and x:match("^<?0%.%d+%.%d+>?$") then return H.pid(x) or x end
  return x
end

--- pid("<0.5.1>"), pid("0.5.1") or pid(5, 1): that process's pid, or nil.
function H.pid(a, b)
  local slot, serial
  if type(a) == "number" then
    slot, serial = a, b
  elseif type(a) == "string" then
    slot, serial = a:match("^<?0%.(%d+)%.(%d+)>?$")
    slot, serial = tonumber(slot), tonumber(serial)
  end
  if not slot then error("pid: pid(\"<0.5.1>\") or pid(5, 1) expected", 2) end
  for _, p in ipairs(mb.processes()) do
    local s, n = tostring(p):match("^<0%.(%d+)%.(%d+)>$")
    if tonumber(s) == slot and (serial == nil or tonumber(n) == serial) then return p end
  end
  return nil
end

H.spawn = mb.spawn
H.spawn_link = mb.spawn_link
H.spawn_monitor = mb.spawn_monitor
H.self = mb.self
H.receive = mb.receive
H.sleep = mb.sleep
function H.send(dest, msg)
  local to = server(dest)
  if type(to) == "string" and to:match("^<?0%.%d+%.%d+>?$") then
    -- A pid no process has now: dropped, as mb.send drops what goes to a
    -- dead pid (what cannot be sent still raises).
    if msg == nil then error("send: a message cannot be nil", 2) end
    local ok, why = mb._sendable(msg, "msg", true)
    if not ok then error("send: " .. why, 2) end
    return true
  end
  return mb.send(to, msg)
end
function H.call(s, req, timeout) return gen.call(server(s), req, timeout) end
function H.cast(s, msg) return gen.cast(server(s), msg) end

--- flush(): print and drop every message waiting for the console.
function H.flush()
  while true do
    local m = mb.receive(function(m) return not is_console(m) end, 0)
    if m == nil then return end
    say("Shell got " .. show(m))
  end
end

local function human(bytes)
  if bytes < 1024 then return ("%d B"):format(bytes) end
  if bytes < 1024 * 1024 then return ("%.1f KB"):format(bytes / 1024) end
  return ("%.1f MB"):format(bytes / (1024 * 1024))
end

local GEN_ENTER = "moonbeam.gen_server:enter"
local MODULE_NAMES = { ["moonbeam.console:serve"] = "(console)", host = "(host)" }

-- What a process runs: a gen_server says its callback module (asked with a
-- short timeout, and for at most a second in all).
local function module_of(pid, info, deadline)
  local m = info.module
  if m ~= GEN_ENTER then return MODULE_NAMES[m] or m end
  if pid ~= mb.self() and mb.now() < deadline then
    local ok, st = pcall(gen.get_status, pid, 100)
    if ok and type(st) == "table" and type(st.module) == "string" then return st.module end
  end
  return "gen_server"
end

-- rows as text under heads; the last `numbers` columns (3 unless told)
-- are right-aligned.
local function columns(rows, heads, numbers)
  local widths = {}
  for i, h in ipairs(heads) do widths[i] = #h end
  for _, r in ipairs(rows) do
    for i = 1, #heads do widths[i] = math.max(widths[i], #r[i]) end
  end
  local lines = {}
  local function line(r)
    local cells = {}
    for i = 1, #heads do
      local right = i > #heads - (numbers or 3)
      cells[i] = right and (" "):rep(widths[i] - #r[i]) .. r[i] or r[i] .. (" "):rep(widths[i] - #r[i])
    end
    lines[#lines + 1] = (concat(cells, "  "):gsub("%s+$", ""))
  end
  line(heads)
  for _, r in ipairs(rows) do line(r) end
  return concat(lines, "\n")
end

-- What ps() and top() sort by: the key's column, biggest first.
local SORT_KEYS = { reductions = "reductions", memory = "memory", queue = "queue",
                    message_queue_len = "queue", received = "received" }

-- Raises, in the words of fn, for a key ps and top cannot sort by; called
-- by the helper itself, so the error names the typed line.
local function check_sort_key(key, fn)
  if key ~= nil and not SORT_KEYS[key] then
    error(fn .. ': sort by "reductions", "memory" or "queue", not ' .. show(key), 3)
  end
end

local function process_rows(key)
  local rows, deadline = {}, mb.now() + 1000
  for _, pid in ipairs(mb.processes()) do
    local i = mb.info(pid)
    if i then
      rows[#rows + 1] = { pid = pid, name = i.registered_name or "", module = module_of(pid, i, deadline),
                          status = i.status, queue = i.message_queue_len, received = i.messages_in,
                          memory = i.memory, reductions = i.reductions or 0 }
    end
  end
  local by = SORT_KEYS[key]
  sort(rows, function(a, b)
    if by and a[by] ~= b[by] then return a[by] > b[by] end
    if a.queue ~= b.queue then return a.queue > b.queue end
    if a.received ~= b.received then return a.received > b.received end
    return a.memory > b.memory
  end)
  return rows
end

local function process_table(rows, limit)
  local cells = {}
  for k = 1, math.min(#rows, limit or #rows) do
    local r = rows[k]
    cells[k] = { tostring(r.pid), r.name, r.module, r.status, ("%d"):format(r.queue),
                 ("%d"):format(r.received), human(r.memory), ("%d"):format(r.reductions) }
  end
  return columns(cells, { "PID", "NAME", "MODULE", "STATUS", "QUEUE", "RECEIVED", "MEMORY", "REDUCTIONS" }, 4)
end

--- ps([key]): every process, busiest first: the longest mailbox, then the
-- most messages received, then the most memory; or by key ("reductions",
-- "memory", "queue").
function H.ps(key)
  check_sort_key(key, "ps")
  local rows = process_rows(key)
  say(process_table(rows))
  say(("%d process%s"):format(#rows, #rows == 1 and "" or "es"))
end

local live_view = false   -- the host's own terminal, a tty: top() redraws (serve)

--- top([key], [n]): the n (default 20) processes that did the most work
-- (key "reductions", the default), use the most memory ("memory") or have
-- the longest mailboxes ("queue"). In the host's own terminal it is
-- redrawn every second until Ctrl-C; attached, or from a pipe, it prints
-- once.
function H.top(key, n)
  check_sort_key(key, "top")
  key = key or "reductions"
  if n ~= nil and (type(n) ~= "number" or n < 1) then error("top: n must be a number >= 1", 2) end
  n = n or 20
  local function frame()
    local rows = process_rows(key)
    return ("%d processes, by %s (%s)\n%s"):format(#rows, key, os.date("%H:%M:%S"), process_table(rows, n))
  end
  if not live_view then return say(frame()) end
  local ok, err = pcall(function()
    while true do
      write("\27[H\27[2J" .. frame() .. "\n(Ctrl-C ends top)\n")
      mb.sleep(1000)
    end
  end)
  if not ok and err ~= core.interrupted then error(err, 0) end
end

--- tables(): every shared table (moonbeam.table), largest first: handle,
-- name, owner, type, objects, bytes and max_memory.
function H.tables()
  local all = require("moonbeam.table").all()
  sort(all, function(a, b) return a.memory > b.memory end)
  local cells = {}
  for k, t in ipairs(all) do
    cells[k] = { tostring(t.table), t.name or "", tostring(t.owner), t.type .. " " .. t.access,
                 ("%d"):format(t.size), human(t.memory), t.max_memory and human(t.max_memory) or "" }
  end
  say(columns(cells, { "TABLE", "NAME", "OWNER", "TYPE", "SIZE", "MEMORY", "MAX" }))
  say(("%d table%s"):format(#all, #all == 1 and "" or "s"))
end

--- info(pid or name, [opts]) -> the process's mb.info table (module: a
-- gen_server's callback module; current_function: where it runs or
-- waits), or nil if it is gone. opts.messages = n adds messages, the first
-- n waiting for it (readable while it waits; else messages is a string
-- that says so).
function H.info(x, opts)
  if opts ~= nil and type(opts) ~= "table" then error("info: opts must be a table, as {messages = 5}", 2) end
  local pid = to_pid(x, "info")
  local n, messages = opts and opts.messages, nil
  if n ~= nil then
    if type(n) ~= "number" or n < 0 or n % 1 ~= 0 then error("info: opts.messages must be a whole number >= 0", 2) end
    -- Before mb.info, which wakes a waiting process for a moment.
    messages = core.peek(pid, math.min(n, 10000))
  end
  local i = mb.info(pid)
  -- The peek too leaves it runnable until its receive waits again (on
  -- another scheduler, woken from idle): its status is taken once it has,
  -- within 20 ms, not as "runnable". (Each mb.info wakes it likewise, after
  -- reading its status.)
  for _ = 1, messages and 20 or 0 do
    if not i or i.status ~= "runnable" then break end
    mb.sleep(1)
    i = mb.info(pid)
  end
  if n ~= nil and not messages then messages = "(it is running: its messages can be read while it waits)" end
  if not i then return nil end
  if i.module == GEN_ENTER then i.module = module_of(pid, i, mb.now() + 1000) end
  i.messages = messages
  return i
end

--- alive(pid or name) -> whether it is a live process.
function H.alive(x)
  if type(x) == "string" and not x:match("^<?0%.%d+%.%d+>?$") then return mb.whereis(x) ~= nil end
  if type(x) == "string" then
    local pid = H.pid(x)   -- nil when no live process has that text
    return pid ~= nil and mb.alive(pid)
  end
  if not is_pid(x) then error("alive: a pid or a registered name expected, got " .. type(x), 2) end
  return mb.alive(x)
end

--- v([n]): an earlier result: v() the last one, v(n) input n's (the
-- number in its prompt), v(-k) the one k inputs back.
function H.v(n)
  if n ~= nil and (type(n) ~= "number" or n % 1 ~= 0 or n == 0) then
    error("v: n must be an input's number, or a negative number to count back", 2)
  end
  n = n or -1
  if n < 0 then n = current_input + n end
  return results[n]
end

--- kill(pid or name): exit(pid, "kill"), which cannot be trapped.
function H.kill(x)
  return mb.exit(to_pid(x, "kill"), "kill")
end

--- tree(sup): the supervision tree under sup, indented.
function H.tree(x)
  local ok, sup = pcall(require, "moonbeam.supervisor")
  if not ok or type(sup) ~= "table" or type(sup.which_children) ~= "function" then
    say("tree: supervisors are not in this build yet (no moonbeam.supervisor)")
    return
  end
  local root = to_pid(x, "tree")
  local info = mb.info(root)   -- once: the root may exit between two looks
  -- A pid of a process that ended names no live process, as a name or a
  -- pid's text that names none: the same error.
  if not info then error("tree: no process " .. tostring(root), 2) end
  if info.module ~= "supervisor" then
    return say(("tree: %s is not a supervisor (it runs %s)"):format(tostring(root), module_of(root, info, mb.now() + 1000)))
  end
  local lines = { tostring(root) .. (info and info.registered_name and ("  " .. info.registered_name) or "") }
  local function walk(s, indent, depth)
    local okc, children = pcall(sup.which_children, s)
    if not okc then
      lines[#lines + 1] = indent .. "(cannot list: " .. show(children) .. ")"
      return
    end
    for i = #children, 1, -1 do   -- newest first: show them in start order
      local c = children[i]
      local last = i == 1
      local where = is_pid(c.pid) and tostring(c.pid) or (c.pid == nil and "(stopped)" or tostring(c.pid))
      lines[#lines + 1] = ("%s%s %s  %s  %s  %s"):format(indent, last and "`-" or "|-", tostring(c.id),
        where, tostring(c.type), tostring(c.restart))
      if c.type == "supervisor" and is_pid(c.pid) and depth < 20 then
        walk(c.pid, indent .. (last and "   " or "|  "), depth + 1)
      end
    end
  end
  walk(root, "", 0)
  say(concat(lines, "\n"))
end

--- reload(module, [opts]): mb.reload; says how many processes took the
-- new code, or why it was not loaded.
function H.reload(name, opts)
  -- mb.reload's own argument errors, raised again as this line's.
  local ok, n, err = pcall(mb.reload, name, opts)
  if not ok then error(n, 2) end
  if not n then return say("reload: " .. name .. " was not reloaded: " .. tostring(err)) end
  say(("reload: %s reloaded; %d process%s took the new code"):format(name, n, n == 1 and "" or "es"))
end

local HELP = [[
Helpers (globals of this console; it is a moonbeam process of its own):
  spawn(target, ...)        start a process: "module", "module:fn" or an upvalue-free function
  spawn_link, spawn_monitor the same, linked / monitored
  call(server, req, [ms])   gen_server call (a pid, "<0.5.1>" or a registered name)
  cast(server, msg)         gen_server cast
  send(dest, msg)           send a message
  receive([ms])             receive a message; flush() prints and drops all that wait
  self(), sleep(ms)         this console's pid; wait ms
  ps(), ps(key)             every process, busiest first, or by "reductions", "memory", "queue"
  top([key], [n])           the busiest processes, redrawn every second until Ctrl-C
  tables()                  every shared table: owner, type, size, memory
  info(pid, [{messages=n}]) what mb.info says about a process (and its first n messages)
  alive(pid)                whether a process (or a registered name) is alive
  kill(pid)                 exit(pid, "kill")
  tree(sup)                 a supervision tree
  nodes()                   the connected nodes (moonbeam --sname NAME: a node)
  pid("0.5.1")              a pid from its text
  v([n])                    an earlier result: the last one, input n's, or v(-k) k back
  reload(module)            hot code reload: every process that loaded module takes the new code
  help()                    this text
Modules: mb (moonbeam), gen (gen_server), sup (supervisor), task, agent.
Each line is one chunk: locals last one line; globals stay. A line that is not
complete continues on the next. Ctrl-C cancels the line, or stops an evaluation
(the console's globals stay); Ctrl-D ends the console. The console's own code
runs interpreted, so that Ctrl-C can stop any loop.]]

--- nodes(): the connected nodes of this node (docs/reference.md, "Nodes").
H.nodes = mb.nodes

function H.help() say(HELP) end

local function install(attached)
  for k, v in pairs(H) do _G[k] = v end
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
  live_view = kind == "terminal"
  install(attached)
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
