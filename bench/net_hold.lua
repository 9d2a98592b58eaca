-- bench/net_hold.lua PORT N: opens N connections to an echo server on
-- 127.0.0.1:PORT, each checked with one byte echoed (so the server's side
-- of each is set up), prints "held", and holds them until stdin ends
-- (bench/net.sh idle measures the server meanwhile). 10 processes connect;
-- the host's end closes them.
local mb = require "moonbeam"
local port, n = tonumber(arg[1]), tonumber(arg[2])
local me = mb.self()
local P = 10
for i = 1, P do
  mb.spawn(function(me, port, n)
    local mb, net = require "moonbeam", require "moonbeam.net"
    local held = {}
    for k = 1, n do
      local c = assert(net.connect("127.0.0.1", port, nil, 30000))
      assert(net.send(c, "x"))
      assert(net.recv(c, 1, 30000) == "x", "no echo")
      held[k] = c
    end
    mb.send(me, "connected")
    mb.receive()   -- holds them: the host's end closes them
  end, me, port, math.floor(n / P))
end
for _ = 1, P do assert(mb.receive(60000) == "connected", "a client did not connect") end
print("held")
io.stdout:flush()
mb.blocking(io.read, "*a")
