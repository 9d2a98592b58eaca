-- bench/gen_queued.lua — gen_server.call with the caller's mailbox full.
--
--   moonbeam run bench/gen_queued.lua N QUEUED LABEL
--
-- The script makes N calls to a counter server (bench.lib.gen_counter)
-- with an empty mailbox and N with QUEUED unrelated messages ({"noise", i})
-- waiting in its own mailbox, in 4 alternating rounds (so drift hits both
-- alike). Reports gen_call_empty_us, gen_call_<LABEL>_queued_us (µs per
-- call) and gen_call_<LABEL>_queued_ratio (queued / empty; a reply found
-- without scanning the mailbox keeps it at 1). Erlang peer: bench_gen queued.
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local u = require "bench.lib.util"

local N = u.arg_int(1, 80000)
local Q = u.arg_int(2, 10000)
local label = arg and arg[3] or "10k"
local ROUNDS = 4

local server = assert(gen.start_link("bench.lib.gen_counter", 0))
local call, send, receive, me = gen.call, mb.send, mb.receive, mb.self()

local function calls(n)
  local t0 = u.now_us()
  for _ = 1, n do call(server, "inc") end
  return u.now_us() - t0
end

local function queue_len() return mb.info(me).message_queue_len end

calls(1000)                                    -- warm up (and JIT)
local empty_us, queued_us, done = 0, 0, 0
for r = 1, ROUNDS do
  local n = math.floor(N / ROUNDS) + (r <= N % ROUNDS and 1 or 0)
  empty_us = empty_us + calls(n)
  for i = 1, Q do send(me, { "noise", i }) end
  queued_us = queued_us + calls(n)
  local len = queue_len()
  if len ~= Q then error(("gen_queued: %d messages queued, expected %d"):format(len, Q)) end
  for _ = 1, Q do
    local m = receive(0)
    if type(m) ~= "table" or m[1] ~= "noise" then
      error("gen_queued: unexpected message " .. tostring(m))
    end
  end
  done = done + 2 * n
end
u.result("gen_call_empty_us", empty_us / N, "us")
u.result("gen_call_" .. label .. "_queued_us", queued_us / N, "us")
u.result("gen_call_" .. label .. "_queued_ratio", queued_us / empty_us, "x")

local got = call(server, "get")
if got ~= 1000 + done then
  error(("gen_queued: the server counted %s calls, expected %d"):format(tostring(got), 1000 + done))
end
gen.stop(server)
