-- examples/tcp_acceptor.lua: the part resp_server.lua and http_server.lua
-- share. One process owns the listener and accepts; each connection is
-- handed to a process of its own, started under a supervisor
-- (simple_one_for_one, temporary children: a connection whose process
-- crashes is closed with it and not restarted, and nothing else notices).
--
--   require("examples.tcp_acceptor").run(port, "module:fn", {args...})
--
-- never returns: it prints "listening on 127.0.0.1:PORT" (flushed) once it
-- accepts, then, for each connection s, a new process calls
-- require("module").fn(s, args...) as the socket's owner.
local mb = require "moonbeam"
local net = require "moonbeam.net"

local A = {}

-- The body of a connection's process: it waits for its socket (sent once
-- the acceptor has made it the owner), then runs the handler on it.
function A.connection(handler, args)
  local m = mb.receive(function(m) return type(m) == "table" and m[1] == "socket" end)
  local mod, fn = handler:match("^([^:]+):(.+)$")
  return require(mod)[fn](m[2], unpack(args))
end

--- answer_all(s, answer, [idle_ms]): the loop of a connection that answers
-- requests: receive, then n, pos, close = answer(buf, pos, out): the
-- replies to every whole request in buf from pos put in out[1..n] (a table
-- kept for the connection's life), the position after them, and true to
-- close the connection once they are sent. The n replies go in one send.
-- Returns when the client closes, or the connection was closed, or (with
-- idle_ms) nothing came for that long: a client that stops halfway through
-- a request does not hold its process for ever.
function A.answer_all(s, answer, idle_ms)
  local recv, send, concat = net.recv, net.send, table.concat
  local buf, pos, out = "", 1, {}
  while true do
    local got, why = recv(s, nil, idle_ms)
    if not got then
      if why == "timeout" then net.close(s) end
      return
    end
    buf = pos > #buf and got or buf:sub(pos) .. got
    local n, close
    n, pos, close = answer(buf, 1, out)
    if n > 0 and not send(s, n == 1 and out[1] or concat(out, "", 1, n)) then return end
    for i = 1, n do out[i] = nil end   -- a big reply is not held until the next one
    if close then
      net.close(s)
      return
    end
  end
end

--- run(port, handler, [args], [opts]) never returns; raises if it cannot
-- listen. opts: host (default "127.0.0.1"), backlog (default 1024).
function A.run(port, handler, args, opts)
  opts = opts or {}
  -- Required here, not above: a connection's process, which loads this
  -- module too, does not carry the supervisor (and gen_server) code.
  local sup = require "moonbeam.supervisor"
  local num = tonumber(port)
  if not num then error(("usage: moonbeam run %s PORT"):format(arg and arg[0] or "<script>"), 0) end
  local conns = assert(sup.start_link({
    { id = "conn", type = "process", restart = "temporary", shutdown = "brutal_kill",
      start = { "examples.tcp_acceptor:connection", handler, args or {} } },
  }, { strategy = "simple_one_for_one" }))
  local l = assert(net.listen(num, { host = opts.host, backlog = opts.backlog or 1024 }))
  local host, bound = net.sockname(l)
  io.stdout:write(("listening on %s:%d\n"):format(host, bound))
  io.stdout:flush()
  while true do
    local s = assert(net.accept(l))
    local pid = assert(sup.start_child(conns, {}))
    if net.controlling_process(s, pid) then
      mb.send(pid, { "socket", s })
    else   -- the socket was closed meanwhile: its process has nothing to wait for
      sup.terminate_child(conns, pid)
      net.close(s)
    end
  end
end

return A
