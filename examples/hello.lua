-- hello.lua: a first look at moonbeam's processes.
--   moonbeam run examples/hello.lua
-- Spawns a few workers, talks to them, watches one crash through a monitor
-- and another through a link, and uses a timer.
local mb = require "moonbeam"

print("I am " .. tostring(mb.self()))

-- A worker: answers {"square", n, from} until told to stop. It is sent to
-- its own Lua state as bytecode, so it requires what it needs itself.
local function worker(id)
  local mb = require "moonbeam"
  while true do
    local msg = mb.receive()
    if msg[1] == "square" then
      mb.send(msg[3], {"result", id, msg[2] * msg[2]})
    elseif msg[1] == "crash" then
      error("worker " .. id .. " was asked to crash")
    elseif msg[1] == "stop" then
      return
    end
  end
end

local workers = {}
for id = 1, 4 do workers[id] = mb.spawn(worker, id) end
for id, pid in ipairs(workers) do mb.send(pid, {"square", id + 10, mb.self()}) end
for _ = 1, #workers do
  local r = mb.receive(1000)
  print(("worker %d says %d"):format(r[2], r[3]))
end

-- A monitor sees a crash as a DOWN message with the reason.
local ref = mb.monitor(workers[1])
mb.send(workers[1], {"crash"})
local down = mb.receive(function(m) return m[1] == "DOWN" and m[2] == ref end, 1000)
print("DOWN from " .. tostring(down[4]) .. ": " .. down[5][1] .. ": " .. down[5][2])

-- A link with trap_exit turns the partner's death into an EXIT message.
mb.trap_exit(true)
mb.link(workers[2])
mb.exit(workers[2], "kill")
local exit = mb.receive(function(m) return m[1] == "EXIT" end, 1000)
print("EXIT from " .. tostring(exit[2]) .. ": " .. exit[3])

-- Names and timers.
mb.register("squarer", workers[3])
mb.send_after(50, "squarer", {"square", 7, mb.self()})
print("in 50 ms, by name: " .. mb.receive(1000)[3])

for _, pid in ipairs(workers) do mb.send(pid, {"stop"}) end
print("done")
