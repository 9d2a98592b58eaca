-- Helpers shared by the gen_server specs (spec/gen_*_spec.lua), on top of
-- spec/support/helpers.lua. Servers are mostly spec/support/gs_script.lua,
-- which tells its watcher of every callback as {"ev", server, callback, ...}.

local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local h = require "spec.support.helpers"

local U = {}

U.SCRIPT = "spec.support.gs_script"

-- A predicate for the event {"ev", pid, callback, ...} (pid nil: any server).
function U.ev(pid, callback)
  return function(m)
    return type(m) == "table" and m[1] == "ev" and (pid == nil or m[2] == pid)
      and m[3] == callback
  end
end

-- The next such event; raises when none comes within timeout ms.
function U.event(pid, callback, timeout)
  return h.expect(U.ev(pid, callback), callback .. " of " .. tostring(pid), timeout)
end

-- Asserts that no such event arrives within ms.
function U.no_event(pid, callback, ms)
  local m = mb.receive(U.ev(pid, callback), ms or 200)
  assert(m == nil, "unexpected " .. callback .. " event: " .. h.text(m))
end

-- Starts a linked gs_script server watched by the caller; returns its pid.
function U.start(arg, opts)
  arg = arg or {}
  if arg.watcher == nil then arg.watcher = mb.self() end
  local pid, err = gen.start_link(U.SCRIPT, arg, opts)
  assert(pid, "start failed: " .. h.text(err))
  U.event(pid, "init")
  return pid
end

-- A request for a gs_script server: handle_call waits until the server is
-- sent "go" (5 s at most), then replies value. A reply late by as much as
-- the spec wants, on a machine however busy. With watcher, the server tells
-- it {"held", server} as it starts to wait (a "go" sent before the request
-- arrived would be taken as an info message).
function U.held(value, watcher)
  return { "fn", function(from, state, value, watcher)
    local mb = require "moonbeam"
    if watcher then mb.send(watcher, { "held", mb.self() }) end
    mb.receive(function(m) return m == "go" end, 5000)
    return "reply", value, state
  end, value, watcher }
end

-- Calls fn(...) and returns the error value it raised (fails if it returned).
function U.raised(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error, got " .. h.text(err))
  return err
end

-- Calls fn(...) and returns its elapsed ms and its results packed.
function U.timed(fn, ...)
  local t0 = h.now_ms()
  local r = { n = select("#", ...), pcall(fn, ...) }
  return h.now_ms() - t0, r
end

-- Whether this busted can run subprocesses: under a preloaded sanitizer
-- runtime (make asan, make tsan) LuaJIT's os.execute may fail.
local can_run
function U.can_run_subprocesses()
  if can_run == nil then
    local sh = require "spec.support.shell"
    can_run = sh.run("exit 0", 10) == 0
  end
  return can_run
end

-- The set of processes now (to compare with U.new_processes later).
function U.snapshot()
  local set = {}
  for _, p in ipairs(mb.processes()) do set[p] = true end
  return set
end

-- The processes that exist now and not in snapshot.
function U.new_processes(snapshot)
  local list = {}
  for _, p in ipairs(mb.processes()) do
    if not snapshot[p] then list[#list + 1] = p end
  end
  return list
end

-- Everything in the caller's mailbox, after letting stragglers land for ms.
function U.mailbox(ms)
  if ms and ms > 0 then mb.sleep(ms) end
  return h.drain()
end

-- Runs fn in a fresh process that does not trap exits (trap_exit false),
-- which sends back {"result", ok, results...}; returns the monitor ref and
-- the pid. fn and its arguments must be sendable (fn upvalue-free).
function U.in_process(fn, ...)
  local pid, ref = mb.spawn_monitor(function(parent, f, ...)
    local mb = require "moonbeam"
    mb.trap_exit(false)
    local function pack(...) return { n = select("#", ...), ... } end
    local r = pack(pcall(f, ...))
    mb.send(parent, { "result", mb.self(), n = r.n + 2, unpack(r, 1, r.n) })
    mb.receive()   -- stay alive until killed, so the spec can look at links
  end, mb.self(), fn, ...)
  return ref, pid
end

-- The {"result", pid, ok, ...} message of U.in_process, or nil on timeout.
function U.result(pid, timeout)
  return mb.receive(function(m)
    return type(m) == "table" and m[1] == "result" and m[2] == pid
  end, timeout or h.TIMEOUT)
end

return U
