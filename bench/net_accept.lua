-- bench/net_accept.lua N: accepted connections per second. One process
-- accepts, says "k" on each and closes it once the client has; 10
-- processes of the same host connect, read the "k" and close (so the
-- backlog never overflows, and the TIME_WAITs are the clients'), N in all.
-- Time from the first connect to the N-th accept.
local mb = require "moonbeam"
local net = require "moonbeam.net"

local n = tonumber(arg[1] or 10000)
local P = 10
local l = assert(net.listen(0, { backlog = 1024, active = true }))
local _, port = net.sockname(l)
local me = mb.self()
local t0 = mb.now()
for _ = 1, P do
  mb.spawn(function(me, port, n)
    local net = require "moonbeam.net"
    for _ = 1, n do
      local c = assert(net.connect("127.0.0.1", port, nil, 30000))
      assert(net.recv(c, 1, 30000) == "k")
      net.close(c)
    end
    require("moonbeam").send(me, "done")
  end, me, port, math.floor(n / P))
end
local total = math.floor(n / P) * P
local open = 0
local function closed(m) return m[1] == "tcp_closed" end
for _ = 1, total do
  net.send(assert(net.accept(l, 30000)), "k")
  open = open + 1
  for m in function() return mb.receive(closed, 0) end do
    net.close(m[2])
    open = open - 1
  end
end
local t = mb.now() - t0
for _ = 1, open do net.close(assert(mb.receive(closed, 30000))[2]) end
for _ = 1, P do assert(mb.receive(30000) == "done") end
print(("RESULT\taccept_per_s\t%.0f\tconn/s"):format(total / t * 1000))
