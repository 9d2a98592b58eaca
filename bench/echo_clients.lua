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

local function client(parent, server, n, warm)
  local mb = require "moonbeam"
  local me, send, receive = mb.self(), mb.send, mb.receive
  for i = 1, warm do send(server, { me, i }); receive() end
  send(parent, "ready")
  receive()                                    -- "go"
  for i = 1, n do send(server, { me, i }); receive() end
  send(parent, "done")
end

local me, pids = mb.self(), {}
for i = 1, C do
  local n = math.floor(N / C) + (i <= N % C and 1 or 0)
  pids[i] = mb.spawn_link(client, me, echo, n, WARM)
end
for _ = 1, C do
  if mb.receive(60000) ~= "ready" then error("echo_clients: a client did not warm up") end
end
local t0 = u.now_us()
for i = 1, C do mb.send(pids[i], "go") end
for _ = 1, C do
  if mb.receive(120000) ~= "done" then error("echo_clients: a client did not finish") end
end
u.result(("echo_%dc_per_s"):format(C), N / ((u.now_us() - t0) / 1e6), "rt/s")
mb.send(echo, "stop")
