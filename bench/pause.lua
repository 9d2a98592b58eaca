-- bench/pause.lua — what a message and a spawn cost on a host that was idle.
--
--   moonbeam run bench/pause.lua N
--
-- N times: a 2 ms pause (every scheduler goes to sleep), then a round trip
-- to a process waiting in receive; another pause, then a spawn whose
-- process sends one message back. A server that handles a request now and
-- then pays these, not the hot loop's figures. Reports the medians,
-- pause_rt_us and pause_spawn_us. Erlang peer: bench_core pause.
local mb = require "moonbeam"
local u = require "bench.lib.util"

local N = u.arg_int(1, 1000)
local PAUSE_MS = 2

local function echo()
  local mb = require "moonbeam"
  while true do
    local from = mb.receive()
    if from == "stop" then return end
    mb.send(from, "pong")
  end
end

local function hello(parent) require("moonbeam").send(parent, "hi") end

local me = mb.self()
local e = mb.spawn(echo)
local rt, sp = {}, {}
for i = 1, N do
  mb.sleep(PAUSE_MS)
  local t0 = u.now_us()
  mb.send(e, me)
  assert(mb.receive() == "pong")
  rt[i] = u.now_us() - t0
  mb.sleep(PAUSE_MS)
  t0 = u.now_us()
  mb.spawn(hello, me)
  assert(mb.receive() == "hi")
  sp[i] = u.now_us() - t0
end
table.sort(rt)
table.sort(sp)
u.result("pause_rt_us", u.pct(rt, 50), "us")
u.result("pause_spawn_us", u.pct(sp, 50), "us")
mb.send(e, "stop")
