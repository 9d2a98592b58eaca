-- Starting a server example (examples/tcp_echo.lua, resp_server.lua,
-- http_server.lua) as its own `moonbeam run` on a free port, for the specs
-- that drive it with real clients.

local net = require "moonbeam.net"
local sh = require "spec.support.shell"

local X = {}

-- A port free now: the kernel's pick for a listener, closed again.
local function free_port()
  local l = assert(net.listen(0))
  local _, port = net.sockname(l)
  net.close(l)
  return port
end

--- start(name, [more]) -> job, port: examples/<name>.lua listening on a
-- free port (its "listening" line seen), with the arguments in the string
-- more after the port. Another program may take the port between the
-- probe and the start: the example then ends at once, and another port is
-- tried.
function X.start(name, more)
  for _ = 1, 5 do
    local port = free_port()
    local job = sh.start(("./build/bin/moonbeam run examples/%s.lua %d %s"):format(name, port, more or ""))
    local up = job:wait_until(function()
      if sh.read(job.out):find("listening", 1, true) then return "up" end
      if sh.read(job.rc):match("%d+\n") then return "ended" end
    end, 20000, name .. "'s listening line")
    if up == "up" then return job, port end
    job:wait(5000)
  end
  error("examples/" .. name .. ".lua did not start on any of 5 free ports")
end

--- stop(job): TERM, then the status, stdout and stderr once it ended.
function X.stop(job)
  job:signal("TERM")
  return job:wait(10000)
end

--- running(name, setup, teardown, [more]) -> srv: busted's setup starts
-- the example (srv.job, srv.port; more: start's), its teardown stops it and
-- checks that it ended with status 0.
function X.running(name, setup, teardown, more)
  local srv = {}
  setup(function() srv.job, srv.port = X.start(name, more) end)
  teardown(function()
    local status, _, err = X.stop(srv.job)
    assert(status == 0, ("examples/%s.lua ended with status %s: %s"):format(name, tostring(status), err))
  end)
  return srv
end

--- with(program, describe, pending) -> describe if program is installed,
-- else pending (the specs of a client that is missing are skipped, said so).
function X.with(program, describe, pending)
  return os.execute("command -v " .. program .. " >/dev/null 2>&1") == 0 and describe or pending
end

--- client(cmdline) -> stdout of a client command that must succeed.
function X.client(cmdline)
  local status, out, err = sh.run(cmdline, 30)
  assert(status == 0, ("%s exited %s\nstdout:\n%s\nstderr:\n%s"):format(cmdline, tostring(status), out, err))
  return out
end

return X
