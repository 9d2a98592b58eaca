-- Shared helpers for the specs, used in the busted process (itself a
-- moonbeam process). Every wait is bounded so a bug fails a test instead of
-- hanging the suite.
--
-- Each spec file calls
--   before_each(h.before)   after_each(h.after)
-- h.before turns on trap_exit in the busted process (so a linked child that
-- crashes can never take the suite down), empties the mailbox and notes the
-- processes that exist; h.after kills every process the test left behind,
-- unregisters names the test gave to the busted process, and empties the
-- mailbox again.

local mb = require "moonbeam"
local ffi = require "ffi"

local H = {}

-- How long a test waits for what must come. Generous: a wait ends when the
-- message arrives, so only a failing test pays it, and a machine running
-- every spec file at once (as CI may, with four per processor) can hold a
-- process up for seconds. Checks that something does NOT come use short
-- windows of their own.
H.TIMEOUT = 15000

-- Wall-clock milliseconds (monotonic), for generous lower/upper bounds only.
pcall(ffi.cdef, "int clock_gettime(int, void *);")
local ts = ffi.new("int64_t[2]")
function H.now_ms()
  local ok = pcall(ffi.C.clock_gettime, 1, ts)
  if not ok then
    -- someone declared it with struct timespec *
    ffi.C.clock_gettime(1, ffi.cast("struct timespec *", ts))
  end
  return tonumber(ts[0]) * 1000 + tonumber(ts[1]) / 1e6
end

-- The schedulers of this host: MOONBEAM_SCHEDULERS, or one per online CPU
-- as the runtime counts them.
pcall(ffi.cdef, "long sysconf(int);")
function H.schedulers()
  local n = tonumber(os.getenv("MOONBEAM_SCHEDULERS"))
  if n and n > 0 then return n end
  return math.max(1, tonumber(ffi.C.sysconf(84)))   -- _SC_NPROCESSORS_ONLN
end

-- "file:line" of the caller's line, or of the line `below` lines under it.
function H.here(below)
  local d = debug.getinfo(2, "Sl")
  return d.short_src .. ":" .. (d.currentline + (below or 0))
end

function H.is_pid(v)
  return v ~= nil and type(v) ~= "string"
    and tostring(v):match("^<0%.%d+%.%d+>$") ~= nil
end

function H.is_ref(v)
  return v ~= nil and type(v) ~= "string"
    and tostring(v):match("^#Ref<.*>$") ~= nil
end

function H.contains(array, value)
  if type(array) ~= "table" then return false end
  for _, v in ipairs(array) do
    if v == value then return true end
  end
  return false
end

function H.count(array, value)
  local n = 0
  for _, v in ipairs(array or {}) do
    if v == value then n = n + 1 end
  end
  return n
end

-- Asserts that got holds values as sent: NaN as NaN, -0 as -0, tables by
-- their contents.
function H.assert_values(expected, got)
  local assert = require "luassert"   -- a spec's assert; a module sees Lua's own
  for i, v in ipairs(expected) do
    if v ~= v then assert.is_true(got[i] ~= got[i], "NaN at " .. i)
    elseif type(v) == "table" then assert.same(v, got[i])
    else
      assert.equal(v, got[i])
      if v == 0 then assert.equal(1 / v, 1 / got[i]) end   -- -0 stays -0
    end
  end
end

-- The text of an error value: strings as they are, tables flattened.
function H.text(e)
  if type(e) == "table" then
    local parts = {}
    for k, v in pairs(e) do parts[#parts + 1] = tostring(k) .. "=" .. H.text(v) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(e)
end

-- Calls fn and returns the error it raised as text (fails when it did not raise).
function H.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error, the call returned " .. H.text(err))
  return H.text(err)
end

-- The error fn(...) raised, checked to read "<call>: <what is wrong>"
-- (docs/semantics.md, "Errors"): no position inside moonbeam, no "bad
-- argument #1 to 'c_fn'", no "[string ...]". Returns the message.
function H.usage_error(call, fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected " .. call .. " to raise, it returned " .. H.text(err))
  assert(type(err) == "string", "expected a message, got " .. H.text(err))
  assert(err:sub(1, #call + 2) == call .. ": ", ("expected %q to start with %q"):format(err, call .. ": "))
  assert(not err:find("[string", 1, true) and not err:find("bad argument", 1, true), err)
  return err
end

-- Milliseconds of CPU this OS process (every thread of the host) used while
-- fn(...) ran, and fn's first result: an idle wait costs next to none, a
-- spinning process a whole core.
function H.cpu_ms(fn, ...)
  local c0 = os.clock()
  local r = fn(...)
  return (os.clock() - c0) * 1000, r
end

local seq = 0
function H.name(prefix)
  seq = seq + 1
  return string.format("spec_%s_%d_%d", prefix or "name", seq, math.random(1e9))
end

-- Its arguments as an array, with their count in n (nils included).
function H.pack(...)
  return { n = select("#", ...), ... }
end

-- Runs fn(...) with module.DEFAULT_TIMEOUT (gen_server's, task's) set to ms
-- in this process, and returns what fn returned; the old value is put back
-- even when fn raises. A spec sees the default used without waiting the
-- 5 s it is.
function H.with_default_timeout(module, ms, fn, ...)
  local old = module.DEFAULT_TIMEOUT
  module.DEFAULT_TIMEOUT = ms
  local r = H.pack(pcall(fn, ...))
  module.DEFAULT_TIMEOUT = old
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, r.n)
end

-- Receives the first message for which match(msg) is true, or raises
-- "timed out waiting for <what>".
function H.expect(match, what, timeout)
  local msg = mb.receive(match, timeout or H.TIMEOUT)
  if msg == nil then
    error("timed out waiting for " .. (what or "a message"), 2)
  end
  return msg
end

-- A predicate for a table message whose leading elements equal the arguments.
function H.tuple(...)
  local want = { n = select("#", ...), ... }
  return function(m)
    if type(m) ~= "table" then return false end
    for i = 1, want.n do
      if m[i] ~= want[i] then return false end
    end
    return true
  end
end

-- The DOWN message for ref: {"DOWN", ref, "process", object, reason}.
function H.down(ref, timeout)
  return H.expect(H.tuple("DOWN", ref), "DOWN for " .. tostring(ref), timeout)
end

-- The exit reason of pid, seen through a monitor that must already exist.
function H.reason(ref, timeout)
  return H.down(ref, timeout)[5]
end

-- Waits up to timeout ms for fn() to be truthy; returns whether it became so.
function H.wait_until(fn, timeout)
  local deadline = H.now_ms() + (timeout or H.TIMEOUT)
  while true do
    if fn() then return true end
    if H.now_ms() > deadline then return false end
    mb.sleep(5)
  end
end

-- Returns once every timer due within ms from now has fired: timers fire in
-- the order of their time (timer_spec), so one of ms + 1 to this process
-- comes after them. A barrier instead of sleeping past a timer.
function H.timers_fired(ms)
  local tag = mb.make_ref()
  mb.send_after(ms + 1, mb.self(), { "timers_fired", tag })
  H.expect(H.tuple("timers_fired", tag), "a timer of " .. (ms + 1) .. " ms")
end

-- For a check that relies on this process running at least every so often
-- (a session read more often than its ttl): scenario() asserts and returns
-- true, or returns false when the machine held this process up longer than
-- the check allows, which says nothing of the code under test. Tried up to
-- three times.
function H.unless_held_up(scenario, what)
  for _ = 1, 3 do
    if scenario() then return end
  end
  error("held up too long to tell, three times: " .. what, 2)
end

-- Sends {op, self, tag, args...} to an echo process and returns its results.
function H.call(pid, op, ...)
  local tag = mb.make_ref()
  mb.send(pid, { op, mb.self(), tag, n = 3 + select("#", ...), ... })
  local m = H.expect(H.tuple("reply", tag), "a reply to " .. op)
  return unpack(m[3], 1, m[3].n)
end

-- Whether pid answers a ping within timeout ms.
function H.ping(pid, timeout)
  local tag = mb.make_ref()
  mb.send(pid, { "ping", mb.self(), tag, n = 3 })
  return mb.receive(H.tuple("reply", tag), timeout or H.TIMEOUT) ~= nil
end

-- An echo process (see spec/support/echo.lua); relay gets what it does not understand.
function H.echo(relay)
  return mb.spawn("spec.support.echo", relay)
end

-- The next {"relay", from, msg} message from from; returns msg.
function H.relayed(from, match, what, timeout)
  local m = H.expect(function(m)
    return type(m) == "table" and m[1] == "relay" and m[2] == from
      and (match == nil or match(m[3]))
  end, what or ("a message relayed by " .. tostring(from)), timeout)
  return m[3]
end

-- A pid whose process has already exited (normally).
function H.dead_pid()
  local pid, ref = mb.spawn_monitor(function() end)
  H.down(ref)
  return pid
end

-- Empties the mailbox; returns the messages it held.
function H.drain()
  local got = {}
  while true do
    local m = mb.receive(0)
    if m == nil then return got end
    got[#got + 1] = m
  end
end

local before_set

function H.before()
  mb.trap_exit(true)
  H.drain()
  before_set = {}
  for _, p in ipairs(mb.processes()) do before_set[p] = true end
end

function H.after()
  local me = mb.self()
  mb.trap_exit(true)
  if before_set then
    -- Again until none is left: a supervisor killed here may have started
    -- a child after the list was taken (one that restarts a child in a
    -- loop does), which its end takes down a moment later; counted by the
    -- next test, it was one process too many.
    local deadline = H.now_ms() + 5000
    repeat
      local refs = {}
      for _, p in ipairs(mb.processes()) do
        if not before_set[p] and p ~= me then
          local info = mb.info(p)
          local name = info and info.registered_name
          -- leave alone a service the runtime may have started lazily
          if name == nil or tostring(name):match("^spec_") then
            refs[#refs + 1] = mb.monitor(p)
            mb.exit(p, "kill")
          end
        end
      end
      for _, ref in ipairs(refs) do
        mb.receive(H.tuple("DOWN", ref), 5000)
      end
    until #refs == 0 or H.now_ms() > deadline
  end
  for _, name in ipairs(mb.registered()) do
    if mb.whereis(name) == me then mb.unregister(name) end
  end
  -- The EXITs and DOWNs still to come from processes that ended land now:
  -- a link or monitor to one is dropped as its signal is taken in.
  local deadline = H.now_ms() + 5000
  H.drain()
  while H.signals_pending(me) and H.now_ms() < deadline do
    mb.sleep(1)
    H.drain()
  end
end

-- Whether pid links to or monitors a process that has ended: an EXIT or a
-- DOWN it has yet to take in (taking them in drops the link or monitor).
function H.signals_pending(pid)
  local info = mb.info(pid)
  for _, list in ipairs({ info.links, info.monitors }) do
    for _, p in ipairs(list) do
      local ok, alive = pcall(mb.alive, p)   -- a monitor of another node's process: not ours to ask
      if ok and not alive then return true end
    end
  end
  return false
end

-- A port from base up to 47999 that can be listened on now, for a test
-- that needs a fixed one: these are in the kernel's ephemeral range, so a
-- connection an earlier test made may hold one as its own end.
function H.fixed_port(base)
  local net = require "moonbeam.net"
  for port = base, 47999 do
    local l = net.listen(port)
    if l then
      net.close(l)
      return port
    end
  end
  error("no port free from " .. base .. " to 47999")
end

return H
