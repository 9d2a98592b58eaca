-- examples/counter_server.lua: the seeds' Counter, a gen_server holding one
-- number, with the client functions a user calls.
--
--   moonbeam run examples/counter_server.lua      the demo (from the repository root)
--
--   local counter = require "examples.counter_server"
--   local pid = counter.start_link(10)             -- or counter.start_link(0, {name = "hits"})
--   counter.increment(pid)                         --> 11
--   counter.add(pid, 5)                            -- a cast: returns true at once
--   counter.get(pid)                               --> 16
--
-- Calls (increment, decrement, get) wait for the answer; casts (add, reset)
-- do not. Whatever many processes do at once, the server takes their
-- requests one at a time, so no increment is ever lost.
local gen = require "moonbeam.gen_server"

local Counter = {}

-- ---- the server -------------------------------------------------------------

function Counter.init(start) return "ok", start or 0 end

function Counter.handle_call(req, _from, n)
  if req == "increment" then return "reply", n + 1, n + 1 end
  if req == "decrement" then return "reply", n - 1, n - 1 end
  if req == "get" then return "reply", n, n end
  return "reply", nil, n
end

function Counter.handle_cast(msg, n)
  if msg == "reset" then return "noreply", 0 end
  if type(msg) == "table" and msg[1] == "add" then return "noreply", n + msg[2] end
  return "noreply", n
end

-- ---- the client -------------------------------------------------------------

--- start_link([start], [opts]) -> pid, or nil and why; opts as gen.start_link's.
function Counter.start_link(start, opts) return gen.start_link("examples.counter_server", start, opts) end

function Counter.increment(server) return gen.call(server, "increment") end
function Counter.decrement(server) return gen.call(server, "decrement") end
function Counter.get(server) return gen.call(server, "get") end
function Counter.add(server, n) return gen.cast(server, { "add", n }) end
function Counter.reset(server) return gen.cast(server, "reset") end
function Counter.stop(server) return gen.stop(server) end

-- ---- the demo: moonbeam run examples/counter_server.lua -----------------------

function Counter.demo()
  local mb = require "moonbeam"
  local pid = assert(Counter.start_link(10, { name = "counter" }))
  print(("started a counter at 10: %s, registered as \"counter\""):format(tostring(pid)))
  print("increment            ->", Counter.increment(pid))
  print("increment by name    ->", Counter.increment("counter"))
  print("decrement            ->", Counter.decrement(pid))
  print("add 5 (a cast)       ->", Counter.add(pid, 5), "(returns before the server has added)")
  local before = Counter.get(pid)
  print("get                  ->", before)

  -- 10 processes increment 100 times each, all at once: the server serializes them.
  local me = mb.self()
  for _ = 1, 10 do
    mb.spawn(function(parent)
      local counter = require "examples.counter_server"
      for _ = 1, 100 do counter.increment("counter") end
      require("moonbeam").send(parent, "done")
    end, me)
  end
  for _ = 1, 10 do assert(mb.receive(5000) == "done") end
  print(("10 processes x 100 increments -> %d (%d + 1000: none lost)"):format(Counter.get(pid), before))

  Counter.reset(pid)
  print("reset (a cast), get  ->", Counter.get(pid))
  Counter.stop(pid)
  print("stopped; alive?", mb.alive(pid))
end

if arg and arg[0] and arg[0]:match("counter_server%.lua$") and (...) ~= "examples.counter_server" then
  Counter.demo()
end

return Counter
