-- examples/tcp_echo.lua as its own `moonbeam run`: what a client sends
-- comes back, from a shell's /dev/tcp and from many sockets at once; a
-- client that half-closes gets the rest and then the close; one that
-- never reads holds up nobody else.

local mb = require "moonbeam"
local net = require "moonbeam.net"
local X = require "spec.support.example_server"

describe("examples/tcp_echo.lua", function()
  local srv = X.running("tcp_echo", setup, teardown)

  it("echoes to bash's /dev/tcp", function()
    local out = X.client(("bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d; printf \"hello echo\" >&3; " ..
      "timeout 10 head -c 10 <&3'"):format(srv.port))
    assert.equal("hello echo", out)
  end)

  it("echoes a megabyte back byte for byte, and closes after the client half-closes", function()
    local c = assert(net.connect("127.0.0.1", srv.port))
    local parts = {}
    for i = 1, 1024 * 16 do parts[i] = ("%063d\n"):format(i) end
    local data = table.concat(parts)
    local me = mb.self()
    -- The writer is another process: the echo comes back while it writes.
    mb.spawn(function(me, c, data)
      local net = require "moonbeam.net"
      assert(net.send(c, data))
      assert(net.shutdown(c, "write"))
      require("moonbeam").send(me, "sent")
    end, me, c, data)
    local got = {}
    while true do
      local d = net.recv(c, nil, 10000)
      if not d then break end
      got[#got + 1] = d
    end
    assert.equal(#data, #table.concat(got))
    assert.is_true(table.concat(got) == data)
    assert.equal("sent", mb.receive(5000))
    net.close(c)
  end)

  it("serves 50 clients at once, while one never reads", function()
    local stuck = assert(net.connect("127.0.0.1", srv.port))
    local me = mb.self()
    mb.spawn(function(stuck)   -- fills its own and the server's buffers, then blocks
      local net = require "moonbeam.net"
      local chunk = ("x"):rep(65536)
      while net.send(stuck, chunk) do end
    end, stuck)
    for i = 1, 50 do
      mb.spawn(function(me, port, i)
        local net = require "moonbeam.net"
        local c = assert(net.connect("127.0.0.1", port))
        local msg = ("client %d\n"):format(i)
        net.send(c, msg)
        local back = net.recv(c, #msg, 10000)
        net.close(c)
        require("moonbeam").send(me, { "echoed", i, back == msg })
      end, me, srv.port, i)
    end
    for _ = 1, 50 do
      local m = mb.receive(function(m) return m[1] == "echoed" end, 20000)
      assert(m, "a client got no echo")
      assert.is_true(m[3], "client " .. m[2] .. " got something else back")
    end
    net.close(stuck)
  end)
end)
