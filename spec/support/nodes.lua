-- Nodes for the distribution specs: an epmd of the spec's own (on a port
-- no other run uses, so nothing else registered is touched), real erl
-- nodes and moonbeam nodes, all started in the background and all killed
-- by cleanup(). Names are unique per run.

local sh = require "spec.support.shell"

local N = {}

N.BIN = "./build/bin/moonbeam"

--- Whether erl is installed (the specs are pending without it).
function N.have_erl()
  return os.execute("command -v erl >/dev/null 2>&1 && command -v epmd >/dev/null 2>&1") == 0
end

local function short_host()
  local f = io.popen("hostname -s")
  local h = f:read("*l")
  f:close()
  return h
end

local seq = 0
local jobs = {}
math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
local run_id = ("%d%04d"):format(os.time() % 100000, math.random(0, 9999))

--- A node name unique to this run: prefix .. id, and the full name@host.
function N.name(prefix)
  seq = seq + 1
  local alive = ("%s%s_%d"):format(prefix, run_id, seq)
  return alive, alive .. "@" .. N.host
end

N.host = short_host()

--- An epmd of our own on a free port: the port (ERL_EPMD_PORT for every
-- node started here). Killed by cleanup.
function N.epmd()
  for _ = 1, 20 do
    local port = math.random(20000, 40000)
    local job = sh.start(("epmd -port %d -relaxed_command_check"):format(port))
    -- It listens, or has exited (the port was taken): `epmd -names` says which.
    local ok = pcall(job.wait_until, job, function()
      return os.execute(("ERL_EPMD_PORT=%d epmd -names >/dev/null 2>&1"):format(port)) == 0
    end, 5000, "epmd to listen")
    if ok then
      jobs[#jobs + 1] = job
      N.port = port
      return port
    end
  end
  error("no free port for epmd")
end

local function env() return ("env ERL_EPMD_PORT=%d "):format(N.port) end

local function track(job)
  jobs[#jobs + 1] = job
  return job
end

--- An erl node alive@host running expr (an Erlang expression; the node
-- halts when it returns). Its output is the job's.
function N.erl(alive, cookie, expr, extra)
  return track(sh.start(env() .. ("erl -sname %s -setcookie %s -noshell %s -eval %s"):format(
    alive, cookie, extra or "", sh.quote(expr .. ", halt()."))))
end

--- A moonbeam node running the Lua source, with options (a string) and
-- arguments.
function N.moonbeam(options, source, args)
  local cmd = env() .. N.BIN .. " run " .. options .. " " .. sh.quote(sh.script(source))
  for _, a in ipairs(args or {}) do cmd = cmd .. " " .. sh.quote(a) end
  return track(sh.start(cmd))
end

--- The names epmd on our port has registered now.
function N.registered()
  local f = io.popen(("ERL_EPMD_PORT=%d epmd -names 2>/dev/null"):format(N.port))
  local s = f:read("*a")
  f:close()
  return s
end

--- Kill every node and epmd started here, and remove the scripts.
function N.cleanup()
  for i = #jobs, 1, -1 do
    os.execute(("kill -KILL %d 2>/dev/null"):format(jobs[i].pid))
    pcall(jobs[i].wait, jobs[i], 10000)
  end
  jobs = {}
  sh.cleanup()
end

return N
