-- Running commands for the specs that test entry points: each command's exit
-- status, stdout and stderr, with a hard time limit so a hang fails the test.

local S = {}

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

function S.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs a shell command line (stdin from /dev/null); returns status, stdout, stderr.
-- A command killed by the time limit returns status 124.
function S.run(cmdline, limit_s)
  local out, err, rc = os.tmpname(), os.tmpname(), os.tmpname()
  os.execute(string.format("timeout -k 5 %d sh -c %s </dev/null >%s 2>%s; echo $? >%s",
    limit_s or 60, S.quote(cmdline), out, err, rc))
  local status = tonumber((read_all(rc):match("%d+")))
  local stdout, stderr = read_all(out), read_all(err)
  os.remove(out); os.remove(err); os.remove(rc)
  return status, stdout, stderr
end

local ffi = require "ffi"
pcall(ffi.cdef, "int poll(void *fds, unsigned long nfds, int timeout);")
local function sleep_ms(ms) ffi.C.poll(nil, 0, ms) end

-- A command started in the background (S.start): its pid, to signal it,
-- and its stdout, stderr and status once it ends. Every wait is bounded.
local Job = {}
Job.__index = Job

--- start(cmdline) -> a job running cmdline (a shell line, stdin from
-- /dev/null) in the background. The command is run by exec from the shell
-- that records its pid, so a signal sent to the job reaches it directly.
function S.start(cmdline)
  local job = setmetatable({ out = os.tmpname(), err = os.tmpname(), rc = os.tmpname(),
                             pidfile = os.tmpname() }, Job)
  os.remove(job.rc)
  local inner = ("echo $$ >%s; exec %s <%s >%s 2>%s"):format(job.pidfile, cmdline, "/dev/null", job.out, job.err)
  local outer = ("sh -c %s; echo $? >%s"):format(S.quote(inner), job.rc)
  assert(os.execute(("sh -c %s >/dev/null 2>&1 &"):format(S.quote(outer))))
  -- A whole line: the file may be read while it is written.
  job.pid = tonumber(job:wait_until(function() return read_all(job.pidfile):match("(%d+)\n") end,
    10000, "its pid"))
  return job
end

--- Wait until fn() is truthy (polling every 10 ms); after timeout ms the
-- job is killed and the test fails, naming what it waited for.
function Job:wait_until(fn, timeout, what)
  local waited = 0
  while true do
    local v = fn()
    if v then return v end
    if waited >= timeout then
      if self.pid then os.execute(("kill -KILL %d 2>/dev/null"):format(self.pid)) end
      error(("timed out waiting for %s; stdout:\n%s\nstderr:\n%s"):format(
        what, read_all(self.out), read_all(self.err)), 2)
    end
    sleep_ms(10)
    waited = waited + 10
  end
end

--- Wait until the job's stdout contains text.
function Job:wait_for(text, timeout)
  return self:wait_until(function() return read_all(self.out):find(text, 1, true) end,
    timeout or 10000, ("%q on stdout"):format(text))
end

--- Send a signal ("TERM", "INT", "KILL") to the job.
function Job:signal(name)
  assert(os.execute(("kill -%s %d"):format(name, self.pid)))
end

--- Wait for the job to end: status, stdout, stderr, and how long the wait
-- took (ms). A job still running after timeout ms is killed and the test fails.
function Job:wait(timeout)
  local t0 = S.clock_ms()
  local status = tonumber(self:wait_until(function() return read_all(self.rc):match("(%d+)\n") end,
    timeout or 30000, "the command to end"))
  local out, err = read_all(self.out), read_all(self.err)
  for _, f in ipairs({ self.out, self.err, self.rc, self.pidfile }) do os.remove(f) end
  return status, out, err, S.clock_ms() - t0
end

--- The text of a file, or "" (for files a script writes).
S.read = read_all

pcall(ffi.cdef, "int clock_gettime(int, void *);")
local ts = ffi.new("int64_t[2]")
--- Milliseconds on the monotonic clock.
function S.clock_ms()
  if not pcall(ffi.C.clock_gettime, 1, ts) then
    ffi.C.clock_gettime(1, ffi.cast("struct timespec *", ts))   -- declared so elsewhere
  end
  return tonumber(ts[0]) * 1000 + tonumber(ts[1]) / 1e6
end

-- Writes source to a new temporary file ending in ".lua"; returns its path.
local made = {}
function S.script(source)
  local base = os.tmpname()
  local path = base .. ".lua"
  local f = assert(io.open(path, "wb"))
  f:write(source)
  f:close()
  made[#made + 1] = base
  made[#made + 1] = path
  return path
end

-- Removes the temporary files S.script made.
function S.cleanup()
  for _, p in ipairs(made) do os.remove(p) end
  made = {}
end

return S
