--- moonbeam.task: Elixir's Task. A task is a process that runs one
-- function and sends its result to its owner: async links it to the
-- owner (a crash brings the owner down, as OTP's does), await collects
-- the result. See docs/reference.md ("task") and docs/semantics.md ("Task
-- and agent").
local mb = require "moonbeam"

local type, error, require = type, error, require
local receive, self = mb.receive, mb.self

local M = {}
local RESULT = "$task"

M.DEFAULT_TIMEOUT = 5000

-- The caller's checks (moonbeam.util) are loaded on first use: a task
-- process, which only runs M.run, does not carry them.
local util = require("moonbeam")._lazy "moonbeam.util"

--- The body of every task process. A "mod" or "mod:fn" target runs as a
-- spawned process's own would (moonbeam.boot): it resolves, and fails,
-- the same way.
function M.run(owner, tag, target, ...)
  local result
  if type(target) == "string" then
    local name, fn = target:match("^([^:]+):?(.*)$")   -- as the runtime splits a spawn's
    result = require("moonbeam.boot")("module", name, fn, ...)
  else
    result = target(...)
  end
  -- Through the owner's alias: once it stops waiting, the result is dropped.
  -- A result that cannot be sent ends the task with an error that names
  -- it, not the send under it ("send_alias: msg[3]: ...").
  if not owner then return end
  local ok, why = pcall(mb.send_alias, owner, tag, { RESULT, tag, result })
  if not ok then error((tostring(why):gsub("^send_alias: msg%[3%]", "task: result", 1)), 0) end
end

-- An async_stream's worker: linked to the stream's watcher first (gone
-- already: it ends here, with "noproc"), then as run.
function M.run_watched(owner, tag, watcher, target, ...)
  mb.link(watcher)
  return M.run(owner, tag, target, ...)
end

-- An async_stream's watcher, as Elixir's stream monitor: when the caller
-- ends before the stream is done, so do its workers (linked to the
-- watcher, which traps their ends: a crash is a result); "done" ends it.
function M.watch(caller)
  mb.trap_exit(true)
  local ref = mb.monitor(caller)
  while true do
    local m = mb.receive()
    if m == "done" then return end
    if type(m) == "table" and m[1] == "DOWN" and m[2] == ref then mb.exit("shutdown") end
  end
end

local function check_target(target, fn)
  local t = type(target)
  if t == "string" and util().is_name(target) then return end
  if t ~= "function" then
    error(fn .. ": target must be a module name (a non-empty string without NUL bytes) or a function", 3)
  end
  util().check_portable(target, fn, "target", "the task's Lua state", 4)
end

local function check_owner(t, fn)
  if type(t) ~= "table" or not mb.is_pid(t.pid) then error(fn .. ": a task from task.async expected", 3) end
  if t.owner ~= self() then error(fn .. ": a task can only be awaited by the process that started it", 3) end
end

-- spawn(...)'s results, its refusal named after fn, the task call made: an
-- argument by its place among fn's (the spawn's own shift arguments come
-- before them).
local function spawn_as(fn, shift, spawn, ...)
  local ok, pid, ref = pcall(spawn, ...)
  if ok then return pid, ref end
  local why = tostring(pid):gsub("^spawn[%w_]*: argument #(%d+)", function(n)
    return ("%s: argument #%d"):format(fn, tonumber(n) - shift)
  end, 1):gsub("^spawn[%w_]*:", fn .. ":", 1)
  error(why, 3)
end

--- async(target, ...) -> a task {pid=, ref=}, linked to the caller.
function M.async(target, ...)
  check_target(target, "task.async")
  local tag, me = mb.make_ref(), self()
  mb.alias(tag)
  local pid, ref = spawn_as("task.async", 4, mb.spawn_opt, "moonbeam.task:run", { link = true, monitor = true },
                            me, tag, target, ...)
  return { pid = pid, ref = ref, tag = tag, owner = me }
end

--- start(target, ...) -> pid: fire and forget, not linked, not awaitable.
function M.start(target, ...)
  check_target(target, "task.start")
  return (spawn_as("task.start", 3, mb.spawn, "moonbeam.task:run", nil, nil, target, ...))
end

local function outcome(t)
  return function(m)
    return type(m) == "table" and ((m[1] == RESULT and m[2] == t.tag) or (m[1] == "DOWN" and m[2] == t.ref))
  end
end

-- The result is in: forget the task (no DOWN, no EXIT left behind).
local function settle(t)
  mb.unalias(t.tag)
  mb.demonitor(t.ref, true)
  mb.unlink(t.pid)
  receive(function(m) return type(m) == "table" and m[1] == "EXIT" and m[2] == t.pid end, 0)
end

-- What a task's result or DOWN message says, kept in the task: once its
-- message is taken, a later yield answers from here.
local function record(t, m)
  if m[1] == RESULT then
    settle(t)
    t.done = { "ok", m[3] }
  else
    mb.unalias(t.tag)
    t.done = { "exit", m[5] }
  end
  return t.done
end

--- yield(t, [timeout]) -> "ok", result | "exit", reason | nil (still running).
-- It may be called again: a finished task's outcome is kept.
function M.yield(t, timeout)
  check_owner(t, "task.yield")
  local ms = util().check_timeout(timeout, "task.yield", M.DEFAULT_TIMEOUT)
  if not t.done then
    local m = receive(outcome(t), ms)
    if m == nil then return nil end
    record(t, m)
  end
  return t.done[1], t.done[2]
end

--- yield_many(tasks, [timeout]) -> an array, in the order of tasks, of
-- {task, {"ok", v} | {"exit", reason} | nil}: one wait of timeout (default
-- 5000) for them all; the unfinished ones go on running.
function M.yield_many(tasks, timeout)
  if type(tasks) ~= "table" then error("task.yield_many: tasks must be an array of tasks", 2) end
  local ms = util().check_timeout(timeout, "task.yield_many", M.DEFAULT_TIMEOUT)
  local by_tag, by_ref, left = {}, {}, 0
  for i = 1, #tasks do
    local t = tasks[i]
    check_owner(t, "task.yield_many")
    if not t.done and not by_tag[t.tag] then   -- a task listed twice is waited for once
      by_tag[t.tag], by_ref[t.ref], left = t, t, left + 1
    end
  end
  local deadline = ms and mb.now() + ms
  local function mine(m)
    return type(m) == "table" and ((m[1] == RESULT and by_tag[m[2]]) or (m[1] == "DOWN" and by_ref[m[2]]))
  end
  while left > 0 do
    local m = receive(mine, deadline and math.max(0, deadline - mb.now()))
    if m == nil then break end
    local t = m[1] == RESULT and by_tag[m[2]] or by_ref[m[2]]
    record(t, m)
    by_tag[t.tag], by_ref[t.ref], left = nil, nil, left - 1
  end
  local out = {}
  for i = 1, #tasks do out[i] = { tasks[i], tasks[i].done } end
  return out
end

-- Stop a task that is given up on and wait for its end (its DOWN); unlinked
-- first, so its end never reaches the owner. A result that came meanwhile
-- is still its outcome.
local function down_of(t, timeout)
  return receive(function(m) return type(m) == "table" and m[1] == "DOWN" and m[2] == t.ref end, timeout)
end

-- Whether the caller still monitors pid (its DOWN not yet sent).
local function monitoring(pid)
  for _, p in ipairs(mb.info(mb.self()).monitors) do
    if p == pid then return true end
  end
  return false
end

-- The DOWN of t, killed: nil when it was taken from the mailbox before
-- (the console's flush()), once t is gone and its monitor with it. Waiting
-- for it alone hung await and shutdown for good.
local function down_of_killed(t)
  while true do
    local down = down_of(t, 100)
    if down then return down end
    if not mb.alive(t.pid) and not monitoring(t.pid) then return down_of(t, 0) end
  end
end

-- The stopped task's outcome, from its DOWN or a result sent just before.
local function stopped(t, down)
  local late = receive(function(m) return type(m) == "table" and m[1] == RESULT and m[2] == t.tag end, 0)
  mb.unalias(t.tag)
  t.done = late and { "ok", late[3] } or { "exit", down and down[5] or "killed" }
end

local function unlink(t)
  mb.unlink(t.pid)
  receive(function(m) return type(m) == "table" and m[1] == "EXIT" and m[2] == t.pid end, 0)
end

local function kill(t)
  unlink(t)
  mb.exit(t.pid, "kill")
  stopped(t, down_of_killed(t))
end

--- await(t, [timeout]) -> the result; raises {"timeout"} or {"exit", reason}.
-- After a timeout the task is killed and unlinked (a later yield gives how
-- it ended), as Elixir's Task.await ends it by exiting the caller.
function M.await(t, timeout)
  check_owner(t, "task.await")
  -- Checked here, then passed on as given: yield reads nil as its default.
  if util().check_timeout(timeout, "task.await", M.DEFAULT_TIMEOUT) == nil then timeout = "infinity" end
  local kind, v = M.yield(t, timeout)
  if kind == "ok" then return v end
  if kind == nil then kill(t) end
  error(util().failure(kind == "exit" and { "exit", v } or { "timeout" }, "task.await", t.pid, timeout), 2)
end

-- What shutdown answers for a task that ended: nil when it was stopped.
local function shut(t)
  local kind, v = t.done[1], t.done[2]
  if kind == "exit" and (v == "shutdown" or v == "killed") then return nil end
  return kind, v
end

--- shutdown(t) -> "ok", result if it finished meanwhile; "exit", reason if
-- it had crashed; else nil (it is stopped: "shutdown", then killed after 5 s).
function M.shutdown(t, timeout)
  check_owner(t, "task.shutdown")
  if t.done then return shut(t) end
  local ms = util().check_timeout(timeout, "task.shutdown", M.DEFAULT_TIMEOUT)
  unlink(t)
  local done = receive(outcome(t), 0)
  if done then
    record(t, done)
    return shut(t)   -- as a later call on it answers: an end by shutdown or kill is nil
  end
  mb.exit(t.pid, "shutdown")
  local down = down_of(t, ms)
  if not down then
    mb.exit(t.pid, "kill")
    down = down_of_killed(t)
  end
  stopped(t, down)
  return shut(t)
end

--- async_stream(list, target, {max_concurrency=, timeout=}) -> an array in
-- input order of {"ok", v} or {"exit", reason}. Tasks are monitored, not
-- linked: a crash is a result, not the caller's end. A task over its
-- timeout is killed and gives {"exit", "timeout"}. Its caller's end ends
-- the workers too (M.watch). A worker holds its slot
-- until it is gone (its DOWN), so never more than max_concurrency worker
-- processes are alive at once; OTP only bounds the outstanding results.
function M.async_stream(list, target, opts)
  if type(list) ~= "table" then error("task.async_stream: list must be an array", 2) end
  check_target(target, "task.async_stream")
  if opts ~= nil and type(opts) ~= "table" then error("task.async_stream: opts must be a table", 2) end
  opts = opts or {}
  local max = opts.max_concurrency
  if max == nil then max = 8 end
  if not util().is_count(max, 1) then
    error("task.async_stream: max_concurrency must be an integer from 1 to 2^31-1", 2)
  end
  local timeout = util().check_timeout(opts.timeout, "task.async_stream", M.DEFAULT_TIMEOUT)
  local me, n, results = self(), #list, {}
  local running, by_ref, by_tag, count, nexti = {}, {}, {}, 0, 1
  local watcher = n > 0 and mb.spawn("moonbeam.task:watch", me)
  while nexti <= n or count > 0 do
    while nexti <= n and count < max do
      local tag = mb.make_ref()
      mb.alias(tag)
      local ok, pid, ref = pcall(mb.spawn_opt, "moonbeam.task:run_watched", { monitor = true }, me, tag, watcher,
                                 target, list[nexti])
      if not ok then
        -- An element that cannot be sent (or no process left): the workers
        -- running go, and the error names the element.
        mb.unalias(tag)
        for r in next, running do
          mb.exit(r.pid, "kill")
          mb.demonitor(r.ref, true)
          mb.unalias(r.tag)
        end
        mb.send(watcher, "done")
        local why = tostring(pid):gsub("^spawn_opt: argument #7", ("list[%d]"):format(nexti), 1)
        error("task.async_stream: " .. why:gsub("^spawn_opt: ", "", 1), 2)
      end
      local r = { i = nexti, pid = pid, ref = ref, tag = tag, deadline = timeout and mb.now() + timeout }
      by_ref[ref], by_tag[tag], running[r] = r, r, true
      count, nexti = count + 1, nexti + 1
    end
    local soonest
    for r in next, running do
      if r.deadline and (not soonest or r.deadline < soonest) then soonest = r.deadline end
    end
    local wait = soonest and math.max(0, soonest - mb.now())
    local m = receive(function(m)
      return type(m) == "table" and ((m[1] == RESULT and by_tag[m[2]]) or (m[1] == "DOWN" and by_ref[m[2]]))
    end, wait)
    if m == nil then
      local t = mb.now()
      for r in next, running do
        if r.deadline and r.deadline <= t then
          -- Its slot stays taken until the killed worker's DOWN.
          mb.unalias(r.tag)
          mb.exit(r.pid, "kill")
          results[r.i], r.deadline, by_tag[r.tag] = { "exit", "timeout" }, nil, nil
        end
      end
    else
      -- A worker's slot is free only once it is gone (its DOWN), so no more
      -- than max_concurrency of them are ever alive.
      local r = m[1] == RESULT and by_tag[m[2]] or by_ref[m[2]]
      if m[1] == RESULT then
        results[r.i], r.deadline = { "ok", m[3] }, nil
        mb.unalias(r.tag)
        by_tag[r.tag] = nil
      else
        if not results[r.i] then results[r.i] = { "exit", m[5] } end
        mb.unalias(r.tag)
        running[r], by_ref[r.ref], by_tag[r.tag], count = nil, nil, nil, count - 1
      end
    end
  end
  if watcher then mb.send(watcher, "done") end
  return results
end

return M
