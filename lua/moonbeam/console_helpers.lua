--- moonbeam.console_helpers: the console's helpers (docs/reference.md,
-- "The console"): ps, top, info, tree, v... They become globals of the
-- console's state (moonbeam.console, install), and write through the
-- console's own output, which new(console) hands them.
local core = require "moonbeam.core"
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"

local type, tostring, ipairs, pcall, concat, sort =
  type, tostring, ipairs, pcall, table.concat, table.sort
local is_pid = mb.is_pid

-- The console's (new): its output, its printer, which of its messages
-- are the terminal's, its earlier results, and whether top() may redraw.
local say, write, show, is_console, earlier
local live_view = false   -- the host's own terminal, a tty: top() redraws

local H = {}

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
  return earlier(n or -1)
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

local M = {}

--- new(console) -> the helpers, by name, writing through console: say(s)
-- and write(s) (a line, and text as it is), show(v) (a value as printed),
-- is_console(m) (a message of the terminal's, which flush() leaves),
-- earlier(n) (input n's first result, n < 0 counting back) and live_view
-- (top() redraws).
function M.new(console)
  say, write, show = console.say, console.write, console.show
  is_console, earlier, live_view = console.is_console, console.earlier, console.live_view
  return H
end

return M
