-- examples/tcp_echo.lua: the smallest TCP server: whatever a client sends
-- comes back to it, byte for byte, until it closes.
--
--   moonbeam run examples/tcp_echo.lua 7000      (from the repository root)
--
-- The first process listens and accepts; each connection gets a process of
-- its own, made the socket's owner with net.controlling_process, so a slow
-- or stuck client holds up nobody else. Waiting on a socket blocks the
-- process, never its scheduler.
local mb = require "moonbeam"
local net = require "moonbeam.net"

local E = {}

--- echo(): a connection's process; its socket comes in a message once it
-- owns it.
function E.echo()
  local s = mb.receive(function(m) return type(m) == "table" and m[1] == "socket" end)[2]
  while true do
    local data = net.recv(s)
    if not data or not net.send(s, data) then break end
  end
  net.close(s)
end

--- main(port): accept connections until the host is stopped.
function E.main(port)
  local num = tonumber(port)
  if not num then error("usage: moonbeam run examples/tcp_echo.lua PORT", 0) end
  local l = assert(net.listen(num))
  local host, bound = net.sockname(l)
  io.stdout:write(("listening on %s:%d\n"):format(host, bound))
  io.stdout:flush()
  while true do
    local s = assert(net.accept(l))
    local pid = mb.spawn("examples.tcp_echo:echo")
    if net.controlling_process(s, pid) then
      mb.send(pid, { "socket", s })
    else   -- the socket was closed meanwhile
      mb.exit(pid, "kill")
      net.close(s)
    end
  end
end

if arg and arg[0] and arg[0]:match("tcp_echo%.lua$") and (...) ~= "examples.tcp_echo" then
  E.main(...)
end

return E
