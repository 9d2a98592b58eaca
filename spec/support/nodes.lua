-- Nodes for the distribution specs: an epmd of the spec's own (on a port
-- no other run uses, so nothing else registered is touched), real erl
-- nodes and moonbeam nodes, all started in the background and all killed
-- by cleanup(). Names are unique per run.

local sh = require "spec.support.shell"

local N = {}

-- MOONBEAM_BIN: another build of the executable (a sanitizer build, by hand).
N.BIN = os.getenv("MOONBEAM_BIN") or "./build/bin/moonbeam"

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

-- A job cleanup() will kill unless it was waited for already.
local function track(job)
  local wait = job.wait
  function job.wait(self, timeout)
    self.done = true
    return wait(self, timeout)
  end
  jobs[#jobs + 1] = job
  return job
end

--- An epmd of our own on a free port: the port (ERL_EPMD_PORT for every
-- node started here). Killed by cleanup.
function N.epmd()
  for _ = 1, 20 do
    -- Below Linux's ephemeral range (32768 and up), where the client end of
    -- some other spec's connection could hold the port.
    local port = math.random(20000, 32000)
    -- Another spec file's epmd may listen there: ours must be the one that answers.
    if not N.epmd_answers(port) then
      local job = track(sh.start(("epmd -port %d -relaxed_command_check"):format(port)))
      local function ended() return sh.read(job.rc) ~= "" end
      -- It listens, or has exited (the port was taken).
      local ok = pcall(job.wait_until, job, function() return ended() or N.epmd_answers(port) end,
        5000, "epmd to listen")
      if ok and not ended() and N.epmd_answers(port) then
        N.port = port
        return port
      end
    end
  end
  error("no free port for epmd")
end

--- Wait for job a to end, as a:wait(timeout) does; but when b, the other
-- side of the test, ends first with a failure, fail at once with b's
-- output: a may be waiting for b's part (a barrier file) for ever, and a
-- timeout would show a's empty output, not why b ended. A timeout says
-- where b is too.
function N.wait_peer(a, b, timeout)
  local function other(what)
    return ("%s; the other node (%s): stdout:\n%s\nstderr:\n%s"):format(what,
      sh.read(b.rc) == "" and "still running" or "status " .. sh.read(b.rc):gsub("\n", ""),
      sh.read(b.out), sh.read(b.err))
  end
  local ok, err = pcall(a.wait_until, a, function()
    if sh.read(a.rc) ~= "" then return true end
    local status = sh.read(b.rc):match("(%d+)\n")
    if status and status ~= "0" then error(other("the other node ended first"), 0) end
  end, timeout, "the command to end")
  if not ok then error(type(err) == "string" and err:find("other node", 1, true) and err or other(tostring(err)), 0) end
  return a:wait(timeout)
end

--- Whether an epmd answers on port.
function N.epmd_answers(port)
  return os.execute(("ERL_EPMD_PORT=%d epmd -names >/dev/null 2>&1"):format(port)) == 0
end

local function env() return ("env ERL_EPMD_PORT=%d "):format(N.port) end

--- An erl node alive@host running expr (an Erlang expression; the node
-- halts when it returns). Its output is the job's.
function N.erl(alive, cookie, expr, extra)
  return track(sh.start(env() .. ("erl -sname %s -setcookie %s -noshell %s -eval %s"):format(
    alive, cookie, extra or "", sh.quote(expr .. ", halt()."))))
end

--- Whether elixir is installed too (its spec is pending without it).
function N.have_elixir()
  return N.have_erl() and os.execute("command -v elixir >/dev/null 2>&1") == 0
end

--- An Elixir node alive@host running code (Elixir; the node halts when it
-- returns). Its output is the job's.
function N.elixir(alive, cookie, code)
  return track(sh.start(env() .. ("elixir --sname %s --cookie %s -e %s"):format(alive, cookie, sh.quote(code))))
end

--- A moonbeam node running the Lua source, with options (a string) and
-- arguments.
function N.moonbeam(options, source, args)
  local cmd = env() .. N.BIN .. " run " .. options .. " " .. sh.quote(sh.script(source))
  for _, a in ipairs(args or {}) do cmd = cmd .. " " .. sh.quote(a) end
  return track(sh.start(cmd))
end

--- A path no file has yet: one node creates it to tell another, which
-- waits for it (N.ERL_WAIT_FILE in erl, wait_file in the specs' Lua).
local barriers = {}
function N.barrier()
  local path = os.tmpname()
  os.remove(path)
  barriers[#barriers + 1] = path
  return path
end

--- Elixir that defines wait_file.(path): returns once the file exists.
N.EX_WAIT_FILE = [[
wait_file = fn path ->
  Enum.find(Stream.repeatedly(fn -> File.exists?(path) || Process.sleep(20) end), &(&1 == true))
end
]]

--- Erlang that defines WaitFile(Path): returns once the file exists.
N.ERL_WAIT_FILE = [[WaitFile = fun WF(F) -> case file:read_file_info(F) of {ok, _} -> ok;
                                              _ -> timer:sleep(20), WF(F) end end]]

--- Lua a moonbeam node's script starts with: mb, A (mb.atom), say(), and
-- erl (arg[1]), connected once the erl node created the file arg[2].
N.LUA_CONNECT = [[
local mb = require "moonbeam"
local A = mb.atom
local erl = arg[1]
local function say(...) print(...) io.stdout:flush() end
local deadline = mb.now() + 60000
while not (mb.connect(erl) and io.open(arg[2])) do
  assert(mb.now() < deadline, "erl never came up")
  mb.sleep(20)
end
]]

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
    local job = jobs[i]
    if not job.done then
      os.execute(("kill -KILL %d 2>/dev/null"):format(job.pid))
      pcall(job.wait, job, 10000)
    end
  end
  jobs = {}
  for _, path in ipairs(barriers) do os.remove(path) end
  barriers = {}
  sh.cleanup()
end

return N
