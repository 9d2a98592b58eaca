-- bench/spawn_exit.lua — spawn and exit: what a process costs from birth to end.
--
--   moonbeam run bench/spawn_exit.lua N
--
-- Spawns N processes, at most 1000 alive at a time, each of which sends the
-- parent one message and ends; reports spawn_exit_us, wall time per process
-- from the first spawn until the last has told. Unlike bench/spawn.lua
-- (N idle processes held at once), the memory of ended processes is used
-- again: this is the cost set beside bench/newstate.c's lua_newstate + libs
-- + close. Erlang peer: bench_core spawn_exit.
local mb = require "moonbeam"
local u = require "bench.lib.util"

local N = u.arg_int(1, 100000)
local IN_FLIGHT = 1000

local function body(parent) require("moonbeam").send(parent, true) end

local me = mb.self()
local spawned, told = 0, 0
local t0 = u.now_us()
while told < N do
  while spawned < N and spawned - told < IN_FLIGHT do
    mb.spawn(body, me)
    spawned = spawned + 1
  end
  if mb.receive(30000) ~= true then error("spawn_exit: a process did not tell within 30 s") end
  told = told + 1
end
u.result("spawn_exit_us", (u.now_us() - t0) / N, "us")
