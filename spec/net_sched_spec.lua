-- moonbeam.net across schedulers: a socket lives on the loop of the
-- scheduler that opened or accepted it, and a listener's connections go to
-- another scheduler's loop once its own holds many more. Its owner may run
-- anywhere (another
-- scheduler, moved there by stealing or by a blocking call, or off the
-- schedulers, as this spec's own process is): its requests reach the
-- socket's loop either way, and its death closes what it owned on every
-- loop.

local ffi = require "ffi"
pcall(ffi.cdef, [[
int setenv(const char *name, const char *value, int overwrite);
]])
-- Four schedulers unless told otherwise, whatever the machine's core
-- count. (Only a host not yet started reads it.)
ffi.C.setenv("MOONBEAM_SCHEDULERS", "4", 0)

local mb = require "moonbeam"
local net = require "moonbeam.net"
local h = require "spec.support.helpers"

-- Connections per test: past the first 16 or so on a listener's loop,
-- the next go to the other loops.
local N = 40

local function listener(opts)
  local l = assert(net.listen(0, opts))
  local _, port = net.sockname(l)
  return l, port
end

-- The open descriptors of this OS process (the host runs inside it), as
-- /proc/self/fd lists them, counted without a subprocess: fcntl(F_GETFD)
-- fails only on a descriptor that is not open.
pcall(ffi.cdef, "int fcntl(int fd, int cmd, ...);")
local function open_fds()
  local n = 0
  for fd = 0, 65535 do
    if ffi.C.fcntl(fd, 1) >= 0 then n = n + 1 end
  end
  return n
end

-- An echo loop on s, passive, until the peer closes.
local function echo_body(s)
  local net = require "moonbeam.net"
  while true do
    local d = net.recv(s)
    if not d or not net.send(s, d) then break end
  end
  net.close(s)
end

-- n clients of port, each says its number and reads it back.
local function check_echoes(port, n, payload)
  local cs = {}
  for i = 1, n do cs[i] = assert(net.connect("127.0.0.1", port, nil, 5000)) end
  for round = 1, 3 do
    for i = 1, n do
      local msg = (payload or "") .. i .. ":" .. round .. "\n"
      assert.is_true(net.send(cs[i], msg))
      assert.equal(msg, net.recv(cs[i], #msg, 5000))
    end
  end
  return cs
end

describe("moonbeam.net across schedulers", function()
  it("one process serves connections on every scheduler's loop, both ways", function()
    local me = mb.self()
    local server = mb.spawn(function(me, n)
      local mb, net = require "moonbeam", require "moonbeam.net"
      local l = assert(net.listen(0))
      mb.send(me, { "port", select(2, net.sockname(l)) })
      local socks = {}
      for i = 1, n do socks[i] = assert(net.accept(l, 5000)) end
      -- Round robin over the sockets: most live on other loops than the
      -- one this process runs on, some on its own.
      for _ = 1, 3 do
        for i = 1, n do
          local d = assert(net.recv(socks[i], 0, 5000))
          assert(net.send(socks[i], d))
        end
      end
      for i = 1, n do net.close(socks[i]) end
      mb.send(me, "served")
    end, me, N)
    local port = mb.receive(function(m) return m[1] == "port" end, 5000)[2]
    local cs = {}
    for i = 1, N do cs[i] = assert(net.connect("127.0.0.1", port, nil, 5000)) end
    for round = 1, 3 do
      for i = 1, N do
        local msg = ("%d:%d"):format(i, round)
        assert.is_true(net.send(cs[i], msg))
        assert.equal(msg, net.recv(cs[i], #msg, 5000))
      end
    end
    assert.equal("served", mb.receive(function(m) return m == "served" end, 5000))
    for i = 1, N do
      assert.same({ nil, "closed" }, { net.recv(cs[i], 0, 5000) })
      net.close(cs[i])
    end
    assert.is_truthy(server)
  end)

  it("a process that moves between schedulers keeps using its socket both ways", function()
    local l, port = listener()
    local me = mb.self()
    -- Each blocking call takes the process off its scheduler; it comes
    -- back on whichever one takes it, and hogs keep them all busy, so
    -- the idle ones steal.
    local hogs = {}
    for i = 1, 4 do
      hogs[i] = mb.spawn(function()
        local mb = require "moonbeam"
        while true do
          local x = 0
          for k = 1, 1e5 do x = x + k end
          mb.yield()
        end
      end)
    end
    mb.spawn(function(me, port)
      local mb, net = require "moonbeam", require "moonbeam.net"
      local c = assert(net.connect("127.0.0.1", port, nil, 5000))
      for i = 1, 40 do
        assert(net.send(c, ("%03d"):format(i)))
        assert(net.recv(c, 3, 5000) == ("%03d"):format(i))
        if i % 2 == 0 then mb.blocking(function() end) else mb.yield() end
      end
      net.close(c)
      mb.send(me, "moved")
    end, me, port)
    local s = assert(net.accept(l, 5000))
    for _ = 1, 40 do
      local d = assert(net.recv(s, 3, 5000))
      assert.is_true(net.send(s, d))
    end
    assert.equal("moved", mb.receive(function(m) return m == "moved" end, 10000))
    assert.same({ nil, "closed" }, { net.recv(s, 0, 5000) })
    for i = 1, 4 do mb.exit(hogs[i], "kill") end
    net.close(s); net.close(l)
  end)

  it("controlling_process hands sockets to processes on other schedulers, queued messages with them", function()
    local l, port = listener({ active = true })
    local cs = {}
    for i = 1, N do cs[i] = assert(net.connect("127.0.0.1", port, nil, 5000)) end
    local me = mb.self()
    for i = 1, N do
      local s = assert(net.accept(l, 5000))
      -- Something waits in this process's mailbox before the handover.
      assert.is_true(net.send(cs[i], "first" .. i))
      local m = mb.receive(function(m) return type(m) == "table" and m[1] == "tcp" and m[2] == s end, 5000)
      assert.equal("first" .. i, m[3])
      mb.send(me, m)   -- queued again, to be forwarded by controlling_process
      local pid = mb.spawn(function(me)
        local mb, net = require "moonbeam", require "moonbeam.net"
        local s = mb.receive(function(m) return m[1] == "socket" end, 5000)[2]
        local first = mb.receive(function(m) return m[1] == "tcp" and m[2] == s end, 5000)
        assert(net.send(s, first[3]))
        local again = mb.receive(function(m) return m[1] == "tcp" and m[2] == s end, 5000)
        assert(net.send(s, again[3]))
        assert(mb.receive(function(m) return m[1] == "tcp_closed" and m[2] == s end, 15000))
        net.close(s)   -- before "done": the next test counts descriptors
        mb.send(me, "done")
      end, me)
      assert.is_true(net.controlling_process(s, pid))
      assert.same({ nil, "not_owner" }, { net.setopts(s, { active = false }) })
      mb.send(pid, { "socket", s })
    end
    for i = 1, N do
      assert.equal("first" .. i, net.recv(cs[i], #("first" .. i), 5000))
      assert.is_true(net.send(cs[i], "again" .. i))
      assert.equal("again" .. i, net.recv(cs[i], #("again" .. i), 5000))
      net.close(cs[i])
    end
    for _ = 1, N do assert.equal("done", mb.receive(function(m) return m == "done" end, 5000)) end
    net.close(l)
  end)

  -- Its listener lives on a scheduler's loop, and it ends on a pool
  -- thread, which serves no loop: the close is handed to the listener's
  -- loop and waited for before the DOWN goes out.
  it("an owner that ends in mb.blocking has closed its listener before its DOWN", function()
    local D = require "spec.support.owner_deaths"
    assert.same({}, D.after_downs(5, { port = h.fixed_port(47424) }, function(me, addr)
      local mb = require "moonbeam"
      local l, err = require("moonbeam.net").listen(addr.port)
      if not l then return mb.send(me, "owner: " .. err) end
      mb.blocking(function()
        mb.send(me, "ready")
        local t = os.clock() + 0.05
        while os.clock() < t do end
      end)
      mb.receive()
    end, D.refused_and_free))   -- the kill takes effect when fn returns, on the pool thread
  end)

  it("an owner's death closes its sockets on every loop", function()
    local l, port = listener()
    local before = open_fds()
    local me = mb.self()
    local owner = mb.spawn(function(me, port, n)
      local mb, net = require "moonbeam", require "moonbeam.net"
      local lp = assert(net.listen(0))
      mb.send(me, { "port", select(2, net.sockname(lp)) })
      local mine = {}
      for i = 1, n do mine[#mine + 1] = assert(net.accept(lp, 5000)) end
      for i = 1, n do mine[#mine + 1] = assert(net.connect("127.0.0.1", port, nil, 5000)) end
      mb.send(me, "holding")
      mb.receive()
    end, me, port, N)
    local oport = mb.receive(function(m) return type(m) == "table" and m[1] == "port" end, 5000)[2]
    local cs, ss = {}, {}
    for i = 1, N do cs[i] = assert(net.connect("127.0.0.1", oport, nil, 5000)) end
    for i = 1, N do ss[i] = assert(net.accept(l, 5000)) end
    assert.equal("holding", mb.receive(function(m) return m == "holding" end, 5000))
    -- Its listener, its N accepted (spread over the loops) and N connected,
    -- and our 2N ends.
    assert.is_true(open_fds() >= before + 1 + 4 * N)
    mb.exit(owner, "kill")
    for i = 1, N do
      assert.same({ nil, "closed" }, { net.recv(cs[i], 0, 5000) })
      assert.same({ nil, "closed" }, { net.recv(ss[i], 0, 5000) })
      net.close(cs[i]); net.close(ss[i])
    end
    assert.same({ nil, "econnrefused" }, { net.connect("127.0.0.1", oport, nil, 5000) })
    -- Its sockets linger until they read our ends' close (a close waits for
    -- the peer's end, 2 s at most): then every descriptor is gone.
    local deadline = mb.now() + 3000
    while open_fds() ~= before and mb.now() < deadline do mb.sleep(10) end
    assert.equal(before, open_fds())
    net.close(l)
  end)

  -- A dying owner waited for every other loop holding its sockets to close
  -- them, and a loop busy with a slice looks at its posts only between
  -- slices: 1000 connection owners killed beside two busy senders ended
  -- ~3 s late, and their scheduler served nothing meanwhile. Only a
  -- listener is waited for now (its address free once the DOWN is out).
  it("owners of connections die on time beside busy processes; their sockets close", function()
    local l, port = listener({ backlog = 1024 })
    local n = 600
    local owners, peers = {}, {}
    for i = 1, n do
      peers[i] = assert(net.connect("127.0.0.1", port, nil, 5000))
      local s = assert(net.accept(l, 5000))
      owners[i] = mb.spawn(function() require("moonbeam").receive() end)
      assert(net.controlling_process(s, owners[i]))
    end
    local busy = {}
    for i = 1, 2 do
      local sink = mb.spawn(function() local mb = require "moonbeam" while true do mb.receive() end end)
      busy[#busy + 1] = sink
      busy[#busy + 1] = mb.spawn(function(sink)
        local mb = require "moonbeam"
        local msg = { "chat", string.rep("x", 500) }
        while true do mb.send(sink, msg) end
      end, sink)
    end
    mb.sleep(100)
    local refs = {}
    for i = 1, n do refs[mb.monitor(owners[i])] = true end
    local t0 = mb.now()
    for i = 1, n do mb.exit(owners[i], "kill") end
    for _ = 1, n do
      assert(mb.receive(function(m) return type(m) == "table" and m[1] == "DOWN" and refs[m[2]] end, 10000))
    end
    local took = mb.now() - t0
    for _, pid in ipairs(busy) do mb.exit(pid, "kill") end
    assert.is_true(took < 1000, ("the last DOWN came %d ms after the kills"):format(took))
    for i = 1, n do
      assert.same({ nil, "closed" }, { net.recv(peers[i], 0, 5000) })
      net.close(peers[i])
    end
    net.close(l)
  end)
end)
