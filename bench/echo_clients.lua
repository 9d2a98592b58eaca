-- bench/echo_clients.lua — many clients, one echo process: how woken
-- processes are placed on the schedulers.
--
--   moonbeam run bench/echo_clients.lua N CLIENTS
--
-- CLIENTS processes each send {self, i} to one echo process and wait for
-- its answer, N round trips in all, after 1000 each to warm up. Reports
-- echo_<CLIENTS>c_per_s: round trips/s from the release until the last
-- client is done. No Erlang peer (gen_call's Nc rows are the same shape
-- through gen_server, beside BEAM's).
local mb = require "moonbeam"
local u = require "bench.lib.util"

local N = u.arg_int(1, 400000)
local C = u.arg_int(2, 64)
local WARM = 1000

local echo = mb.spawn(function()
  local mb = require "moonbeam"
  local receive, send = mb.receive, mb.send
  while true do
    local m = receive()
    if m == "stop" then return end
    send(m[1], m[2])
  end
end)

local function client(parent, n, server, warm)
  local mb = require "moonbeam"
  local me, send, receive = mb.self(), mb.send, mb.receive
  for i = 1, warm do send(server, { me, i }); receive() end
  send(parent, "ready")
  receive()                                    -- "go"
  for i = 1, n do send(server, { me, i }); receive() end
  send(parent, "done")
end

local took = u.race("echo_clients", client, N, C, echo, WARM)
u.result(("echo_%dc_per_s"):format(C), N / (took / 1e6), "rt/s")
mb.send(echo, "stop")
