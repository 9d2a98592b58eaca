-- bench/lib/util.lua — clocks, memory and output for the benchmark scripts.
--
-- Everything goes through the FFI, so it works in any moonbeam process (a
-- process opens base, package, table, string, math, bit, jit; no io/os).
-- The C functions are declared under private names with asm labels, so
-- they cannot clash with a declaration the core's own Lua code makes.
local ffi = require "ffi"
local C = ffi.C

pcall(ffi.cdef, [[
int     mbbench_clock_gettime(int clk, long *ts)      __asm__("clock_gettime");
int     mbbench_getrusage(int who, long *ru)          __asm__("getrusage");
void   *mbbench_fopen(const char *path, const char *mode) __asm__("fopen");
char   *mbbench_fgets(char *s, int n, void *f)        __asm__("fgets");
int     mbbench_fclose(void *f)                       __asm__("fclose");
long    mbbench_write(int fd, const char *buf, size_t n) __asm__("write");
]])

local M = {}

local ts = ffi.new("long[2]")
-- Monotonic time in microseconds (a double; exact far beyond any run).
function M.now_us()
  C.mbbench_clock_gettime(1, ts)               -- CLOCK_MONOTONIC
  return tonumber(ts[0]) * 1e6 + tonumber(ts[1]) / 1e3
end

function M.now_ms() return M.now_us() / 1e3 end

local ru = ffi.new("long[18]")                 -- struct rusage, generously sized
-- CPU time (user + system) of the whole OS process, all threads, in µs.
function M.cpu_us()
  C.mbbench_getrusage(0, ru)                   -- RUSAGE_SELF
  return tonumber(ru[0]) * 1e6 + tonumber(ru[1]) + tonumber(ru[2]) * 1e6 + tonumber(ru[3])
end

-- A field ("VmRSS", "VmHWM", ...) of /proc/self/status, in KB.
function M.status_kb(field)
  local f = C.mbbench_fopen("/proc/self/status", "r")
  if f == nil then return nil end
  local buf, kb = ffi.new("char[256]"), nil
  local prefix = field .. ":"
  while C.mbbench_fgets(buf, 256, f) ~= nil do
    local line = ffi.string(buf)
    if line:sub(1, #prefix) == prefix then kb = tonumber(line:match("(%d+)")) break end
  end
  C.mbbench_fclose(f)
  return kb
end

function M.rss_kb() return M.status_kb("VmRSS") end

-- Unbuffered writes: a result printed before a hang or a kill is not lost.
function M.out(s) C.mbbench_write(1, s, #s) end
function M.err(s) C.mbbench_write(2, s, #s) end

local function fmt(v)
  if v ~= v or v == math.huge or v == -math.huge then return tostring(v) end
  if v == math.floor(v) and math.abs(v) < 2^53 then return ("%d"):format(v) end
  return (("%.3f"):format(v):gsub("0+$", ""):gsub("%.$", ""))
end

-- One line of the protocol bench/table.lua reads.
function M.result(key, value, unit)
  M.out(("RESULT\t%s\t%s\t%s\n"):format(key, fmt(value), unit))
end

-- The p-th percentile (nearest rank) of an already sorted array.
function M.pct(sorted, p)
  local n = #sorted
  local i = math.max(1, math.min(n, math.ceil(p * n / 100)))
  return sorted[i]
end

--- race(name, body, total, count, ...) -> µs: spawn_link count processes
-- body(parent, share, ...), share their part of total; each sends the
-- parent "ready" once warmed up, waits for "go", works, and sends "done".
-- Times from the release of all of them until the last is done.
function M.race(name, body, total, count, ...)
  local mb = require "moonbeam"
  local me, pids = mb.self(), {}
  for i = 1, count do
    local share = math.floor(total / count) + (i <= total % count and 1 or 0)
    pids[i] = mb.spawn_link(body, me, share, ...)
  end
  local function expect(what)
    for _ = 1, count do
      local m = mb.receive(120000)
      if m ~= what then error(("%s: expected '%s', got %s"):format(name, what, tostring(m))) end
    end
  end
  expect("ready")
  local t0 = M.now_us()
  for i = 1, count do mb.send(pids[i], "go") end
  expect("done")
  return M.now_us() - t0
end

-- Integer argument i of the script, or a default.
function M.arg_int(i, default)
  local v = arg and arg[i] and tonumber(arg[i])
  return v and math.floor(v) or default
end

-- Send "stop" to every pid and wait (bounded) until they are gone.
function M.stop_all(mb, pids, timeout_ms)
  for i = 1, #pids do mb.send(pids[i], "stop") end
  local deadline = M.now_ms() + (timeout_ms or 10000)
  for i = #pids, 1, -1 do
    while mb.alive(pids[i]) do
      if M.now_ms() > deadline then
        M.err(("bench: %d processes still alive after stop\n"):format(i))
        return false
      end
      mb.sleep(5)
    end
  end
  return true
end

return M
