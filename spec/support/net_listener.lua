-- A gen_server that listens on a fixed address in init, as a server under
-- a supervisor does (spec/net_spec.lua). Its arg: port (or path: a unix
-- socket's), and watcher, told {"listening", pid} once it listens. init
-- stops with the listen's error (eaddrinuse) when the address is taken.
-- Cast "crash" raises.
local mb = require "moonbeam"
local net = require "moonbeam.net"

local M = {}

function M.init(arg)
  local l, err
  if arg.path then l, err = net.listen(nil, { path = arg.path })
  else l, err = net.listen(arg.port) end
  if not l then return "stop", err end
  mb.send(arg.watcher, { "listening", mb.self() })
  return "ok", l
end

function M.handle_cast(msg, l)
  if msg == "crash" then error("asked to crash") end
  return "noreply", l
end

return M
