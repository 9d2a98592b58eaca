-- Helpers shared by the supervisor specs (spec/sup_*_spec.lua), on top of
-- spec/support/helpers.lua. Children are mostly spec/support/sup_child.lua
-- (a gen_server) and spec/support/sup_proc.lua ("process" bodies); both tell
-- their watcher {"sup_ev", id, what, pid, detail} of what happens to them.

local mb = require "moonbeam"
local sup = require "moonbeam.supervisor"
local h = require "spec.support.helpers"

local U = {}

U.CHILD = "spec.support.sup_child"
U.PROC = "spec.support.sup_proc"

-- A worker spec for sup_child, watched by the caller: id, with extra fields
-- for its arg (arg_extra) and for the spec itself (spec_extra).
function U.worker(id, arg_extra, spec_extra)
  local arg = { id = id, watcher = mb.self() }
  for k, v in pairs(arg_extra or {}) do arg[k] = v end
  local spec = { id = id, module = U.CHILD, arg = arg }
  for k, v in pairs(spec_extra or {}) do spec[k] = v end
  return spec
end

-- A "process" spec running sup_proc's fn, watched by the caller.
function U.process(id, fn, spec_extra, ...)
  local spec = { id = id, type = "process", start = { U.PROC .. ":" .. fn, mb.self(), id, ... } }
  for k, v in pairs(spec_extra or {}) do spec[k] = v end
  return spec
end

-- A predicate for the event {"sup_ev", id, what, ...} (id nil: any).
function U.ev(id, what)
  return function(m)
    return type(m) == "table" and m[1] == "sup_ev" and (id == nil or m[2] == id) and m[3] == what
  end
end

-- The next such event: {"sup_ev", id, what, pid, detail}; raises when none
-- comes within timeout ms.
function U.event(id, what, timeout)
  return h.expect(U.ev(id, what), what .. " of " .. tostring(id), timeout)
end

-- Asserts that no such event arrives within ms.
function U.no_event(id, what, ms)
  local m = mb.receive(U.ev(id, what), ms or 200)
  assert(m == nil, "unexpected " .. what .. " event from " .. tostring(id) .. ": " .. h.text(m))
end

-- Asserts that no such event is here once s has answered a call. s handles
-- its mailbox in order and awaits what it does for each message (a worker
-- it starts: its init; one it stops: its DOWN, after terminate), so by then
-- the events of all it did for what it had before the call are here. A
-- child's EXIT reaches s before the child's DOWN reaches a monitor here.
-- Not for "process" children or a backoff: nothing awaits those.
function U.no_event_by_call(s, id, what)
  sup.count_children(s)
  U.no_event(id, what, 0)
end

-- The next n events of kind what (any id), in arrival order: their ids.
function U.order(what, n, timeout)
  local ids = {}
  for i = 1, n do ids[i] = U.event(nil, what, timeout)[2] end
  return ids
end

-- start_link that must succeed; returns the supervisor's pid.
function U.start(children, flags)
  local pid, err = sup.start_link(children, flags)
  assert(pid, "supervisor start failed: " .. h.text(err))
  return pid
end

-- which_children as a map id -> entry.
function U.by_id(s)
  local map = {}
  for _, c in ipairs(sup.which_children(s)) do map[c.id] = c end
  return map
end

-- The pid which_children shows for id (nil, "restarting" or a pid).
function U.pid_of(s, id)
  local c = U.by_id(s)[id]
  return c and c.pid
end

-- The ids which_children lists, in its order.
function U.ids(s)
  local ids = {}
  for i, c in ipairs(sup.which_children(s)) do ids[i] = c.id end
  return ids
end

-- Monitors pid; returns a function that gives its exit reason (waiting up
-- to timeout ms, raising when it does not exit).
function U.watch(pid)
  local ref = mb.monitor(pid)
  return function(timeout) return h.reason(ref, timeout) end
end

-- Runs fn(...) in a fresh process and waits up to timeout ms for its
-- results: returns true, results... or false when it took longer (fn and
-- its arguments must be sendable). For calls that might hang.
function U.bounded(timeout, fn, ...)
  local tag = mb.make_ref()
  local pid = mb.spawn(function(parent, tag, f, ...)
    local mb = require "moonbeam"
    local function pack(...) return { n = select("#", ...), ... } end
    mb.send(parent, { "bounded", tag, pack(pcall(f, ...)) })
  end, mb.self(), tag, fn, ...)
  local m = mb.receive(h.tuple("bounded", tag), timeout or h.TIMEOUT)
  if not m then
    mb.exit(pid, "kill")
    return false
  end
  return true, unpack(m[3], 1, m[3].n)
end

-- Stops s if it still runs (for after_each: the supervisor is not always a
-- linked child of the test, and a name not starting "spec_" survives h.after).
function U.stop_quietly(s)
  if s and mb.alive(s) then
    local ref = mb.monitor(s)
    mb.exit(s, "kill")
    mb.receive(h.tuple("DOWN", ref), 5000)
  end
end

-- A field of /proc/self/status as a number (nil where /proc is missing).
local function status_field(name)
  local f = io.open("/proc/self/status", "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("\n" .. name .. ":%s*(%d+)"))
end

-- The resident set size of this OS process, in KB.
function U.rss_kb() return status_field("VmRSS") end

-- OS threads in this process: a hand-off starts one, and the thread it took
-- the scheduler from runs on until that slice ends.
function U.os_threads() return status_field("Threads") end

-- Whether this run is under a preloaded sanitizer runtime (make asan/tsan):
-- memory and speed figures mean little there.
function U.sanitized()
  local pre = os.getenv("LD_PRELOAD") or ""
  return pre:match("asan") ~= nil or pre:match("tsan") ~= nil
end

-- Under ThreadSanitizer a signal waits for its thread's next instrumented
-- call, and LuaJIT's code calls none: preemption and kills by signal cannot
-- be observed there (hand-off still can).
function U.under_tsan() return (os.getenv("LD_PRELOAD") or ""):match("tsan") ~= nil end

return U
