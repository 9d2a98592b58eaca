-- moonbeam.net: real sockets over 127.0.0.1 and unix paths between
-- processes of one host. What each call returns, what it refuses, owner
-- death, active modes with flow control, packet modes, and that waiting on
-- a socket blocks the process, not its scheduler, nor the CPU.

local mb = require "moonbeam"
local net = require "moonbeam.net"
local h = require "spec.support.helpers"

-- A listener on a free port, and its port.
local function listener(opts)
  local l = assert(net.listen(0, opts))
  local _, port = net.sockname(l)
  return l, port
end

-- A connected pair: the client (this process's) and the accepted server side.
local function pair(opts)
  local l, port = listener(opts)
  local c = assert(net.connect("127.0.0.1", port, opts))
  local s = assert(net.accept(l, 1000))
  net.close(l)
  return c, s
end

-- The next message about socket s, within 1 s.
local function next_about(s)
  return mb.receive(function(m) return type(m) == "table" and m[2] == s end, 1000)
end

describe("net.listen, connect, accept", function()
  it("listens on a free port, tells it, and connects both ways", function()
    local l, port = listener()
    assert.is_true(port > 0)
    assert.matches("^#Socket<%d+>$", tostring(l))
    local c = assert(net.connect("localhost", port))
    local s = assert(net.accept(l, 1000))
    assert.are_not.equal(c, s)
    local host, cport = net.peername(s)
    assert.equal("127.0.0.1", host)
    assert.equal(select(2, net.sockname(c)), cport)
    assert.is_true(net.close(l))
    net.close(c); net.close(s)
  end)

  it("accept times out, and says closed once the listener is closed", function()
    local l = listener()
    assert.same({ nil, "timeout" }, { net.accept(l, 20) })
    assert.is_true(net.close(l))
    assert.same({ nil, "closed" }, { net.accept(l, 20) })
  end)

  it("connect to a closed port is refused; an unknown host is an error", function()
    local l, port = listener()
    net.close(l)
    assert.same({ nil, "econnrefused" }, { net.connect("127.0.0.1", port) })
    local s, err = net.connect("no-such-host.invalid", 80)
    assert.is_nil(s)
    assert.is_string(err)
  end)

  it("listen on a port in use says eaddrinuse", function()
    local l, port = listener()
    assert.same({ nil, "eaddrinuse" }, { net.listen(port) })
    net.close(l)
  end)

  it("bad arguments raise errors that name the call", function()
    assert.has_error(function() net.listen("x") end, "net.listen: port must be a number from 0 to 65535, got string")
    assert.has_error(function() net.send("nope", "x") end, "net.send: a socket expected, got string")
    local c, s = pair()
    assert.has_error(function() net.send(c, 42) end, "net.send: data must be a string, got number")
    assert.has_error(function() net.recv(c, -1) end, "net.recv: n must be a whole number >= 0")
    local ok, err = pcall(net.recv, c, 2 ^ 30)
    assert.is_false(ok)
    assert.matches("^net.recv: n must be at most %d+ bytes", err)
    -- A whole n too large is told so, not called "not a whole number"; an
    -- active count beyond 10^9 is told the bound it broke.
    for _, n in ipairs { 2 ^ 53, 2 ^ 64, 1e300 } do
      assert.matches("^net.recv: n must be at most %d+ bytes", select(2, pcall(net.recv, c, n)))
    end
    assert.equal("net.recv: n must be a whole number >= 0", select(2, pcall(net.recv, c, math.huge)))
    assert.has_error(function() net.setopts(c, { active = 2 ^ 31 - 1 }) end,
      'net.setopts: active must be true, false, "once" or a count from 1 to 10^9')
    assert.has_error(function() net.setopts(c, { active = "often" }) end)
    assert.has_error(function() net.setopts(c, { packet = 3 }) end)
    assert.has_error(function() net.shutdown(c, "read") end, 'net.shutdown: how must be "write"')
    assert.has_error(function() net.recv(c, nil, -5) end)
    assert.has_error(function() net.controlling_process(5, mb.self()) end,
                     "net.controlling_process: a socket expected, got number")
    local p = require("moonbeam.port").open({ "cat" })
    assert.has_error(function() net.setopts(p, { active = false }) end, "net.setopts: a socket expected, got a port")
    assert.has_error(function() net.controlling_process(p, mb.self()) end,
                     "net.controlling_process: a socket expected, got a port")
    require("moonbeam.port").kill(p, "KILL")
    net.close(c); net.close(s)
  end)

  it("high_watermark and backlog are integers within their bounds: anything else raises, never truncated", function()
    local HW = "high_watermark must be an integer number of bytes from 1 to 10^12"
    for _, bad in ipairs({ 1.5, 0, 1e12 + 1, 2 ^ 53, math.huge, 0 / 0, "8" }) do
      assert.has_error(function() net.listen(0, { high_watermark = bad }) end, "net.listen: " .. HW)
    end
    for _, bad in ipairs({ 1.5, 0, 65536 }) do
      assert.has_error(function() net.listen(0, { backlog = bad }) end,
                       "net.listen: backlog must be an integer from 1 to 65535")
    end
    local l = assert(net.listen(0, { high_watermark = 1e12, backlog = 65535 }))
    assert.has_error(function() net.setopts(l, { high_watermark = 1.5 }) end, "net.setopts: " .. HW)
    local _, port = net.sockname(l)
    assert.has_error(function() net.connect("127.0.0.1", port, { high_watermark = 1024.5 }) end, "net.connect: " .. HW)
    net.close(l)
  end)

  it("raises for an option it does not know, a misspelt one too, in listen, connect and setopts", function()
    assert.has_error(function() net.listen(0, { activ = true }) end, "net.listen: unknown option 'activ'")
    assert.has_error(function() net.listen(0, { true }) end, "net.listen: opts keys are option names, got a number key")
    local l = assert(net.listen(0, { active = false, packet = "raw", reuseaddr = true, backlog = 8 }))
    local _, port = net.sockname(l)
    assert.has_error(function() net.connect("127.0.0.1", port, { pakcet = "line" }) end,
                     "net.connect: unknown option 'pakcet'")
    local c = assert(net.connect("127.0.0.1", port, { active = false }))
    assert.has_error(function() net.setopts(c, { activ = true }) end, "net.setopts: unknown option 'activ'")
    assert.is_true(net.setopts(c, { active = "once", packet = "line" }))
    net.close(c); net.close(l)
  end)

  it("raises for an option of another call: listen's in connect or setopts", function()
    local l = assert(net.listen(0))
    local _, port = net.sockname(l)
    assert.has_error(function() net.connect("127.0.0.1", port, { backlog = 8 }) end,
                     "net.connect: unknown option 'backlog'")
    local c = assert(net.connect("127.0.0.1", port, { high_watermark = 1024 }))
    assert.has_error(function() net.setopts(c, { host = "127.0.0.1" }) end, "net.setopts: unknown option 'host'")
    assert.has_error(function() net.setopts(c, { reuseaddr = true }) end, "net.setopts: unknown option 'reuseaddr'")
    assert.is_true(net.setopts(c, { high_watermark = 2048 }))
    net.close(c); net.close(l)
  end)

  -- The line of an error raised by f, and the line f's call is on.
  local function lines(f, at)
    local _, err = pcall(f)
    return tonumber(tostring(err):match("net_spec%.lua:(%d+): ")), at, err
  end

  it("a bad timeout or pid raises at the line of the call, as receive's does", function()
    local l = assert(net.listen(0))
    local u = assert(net.udp_open(0))
    local function here() return debug.getinfo(2, "l").currentline end
    local got, want, err
    got, want, err = lines(function() net.accept(l, -1) end, here())
    assert.equal(want, got, err)
    got, want, err = lines(function() net.recv(l, nil, -1) end, here())
    assert.equal(want, got, err)
    got, want, err = lines(function() net.connect("127.0.0.1", 1, nil, -1) end, here())
    assert.equal(want, got, err)
    got, want, err = lines(function() net.recvfrom(u, "soon") end, here())
    assert.equal(want, got, err)
    got, want, err = lines(function() net.controlling_process(l, 5) end, here())
    assert.equal(want, got, err)
    got, want, err = lines(function() mb.receive(-1) end, here())
    assert.equal(want, got, err)
    assert.matches("net.controlling_process: a pid expected, got number$", select(3, lines(function() net.controlling_process(l, 5) end)))
    net.close(l); net.close(u)
  end)
end)

describe("net.send and net.recv (passive)", function()
  it("recv(n) waits for exactly n bytes; recv() takes what is there", function()
    local c, s = pair()
    assert.is_true(net.send(c, "hello "))
    assert.is_true(net.send(c, "world"))
    assert.equal("hello", net.recv(s, 5, 1000))
    mb.sleep(20)
    assert.equal(" world", net.recv(s, nil, 1000))
    net.close(c); net.close(s)
  end)

  it("a recv that times out consumes nothing", function()
    local c, s = pair()
    net.send(c, "abc")
    assert.same({ nil, "timeout" }, { net.recv(s, 10, 30) })
    net.send(c, "defghij")
    assert.equal("abcdefghij", net.recv(s, 10, 1000))
    net.close(c); net.close(s)
  end)

  it("after the peer closes: data first, then closed; send then says closed", function()
    local c, s = pair()
    net.send(c, "last")
    net.close(c)
    assert.equal("last", net.recv(s, nil, 1000))
    assert.same({ nil, "closed" }, { net.recv(s, nil, 1000) })
    assert.same({ nil, "closed" }, { net.send(s, "x") })
    assert.is_true(net.close(s))
    assert.is_true(net.close(s))
  end)

  it("shutdown(write) ends the peer's input but not ours", function()
    local c, s = pair()
    assert.is_true(net.shutdown(c, "write"))
    assert.is_true(net.shutdown(c, "write"))   -- again: done, as gen_tcp's (it said "closed")
    assert.same({ nil, "closed" }, { net.send(c, "x") })
    net.send(s, "still open")
    assert.equal("still open", net.recv(c, 10, 1000))
    assert.same({ nil, "closed" }, { net.recv(s, nil, 1000) })
    net.close(s)
    net.close(c)
  end)

  it("moves a megabyte through a small high-water mark", function()
    local c, s = pair({ high_watermark = 1024 })
    local chunk = ("0123456789abcdef"):rep(4096)   -- 64 KB
    mb.spawn(function(c, chunk)
      local net = require "moonbeam.net"
      for _ = 1, 16 do assert(net.send(c, chunk)) end
    end, c, chunk)
    local got = assert(net.recv(s, 16 * #chunk, 5000))
    assert.equal(chunk:rep(16), got)
    net.close(c); net.close(s)
  end)

  it("recv and setopts from another process: not_owner; send from any process", function()
    local c, s = pair()
    local me = mb.self()
    mb.spawn(function(s, me)
      local mb, net = require "moonbeam", require "moonbeam.net"
      mb.send(me, { "other", { net.recv(s, nil, 10) }, { net.setopts(s, { active = true }) }, net.send(s, "hi") })
    end, s, me)
    local m = mb.receive(function(m) return m[1] == "other" end, 1000)
    assert.same({ nil, "not_owner" }, m[2])
    assert.same({ nil, "not_owner" }, m[3])
    assert.is_true(m[4])
    assert.equal("hi", net.recv(c, 2, 1000))
    net.close(c); net.close(s)
  end)
  -- The server reads the first line of what the client sent and answers;
  -- the rest of the client's bytes lie unread in the kernel when it closes.
  -- Closed at once, that socket sent a reset, and the client lost most of
  -- the answer (128,000 bytes of 3,000,000); now the close lingers until
  -- the client has closed its end.
  local function answer_and_close(shut_first)
    local l, port = listener()
    local size = 3000000
    mb.spawn(function(parent, port)
      local mb, net = require "moonbeam", require "moonbeam.net"
      local c = assert(net.connect("127.0.0.1", port))
      assert(net.send(c, "req1\n" .. string.rep("b", 1000000)))
      mb.sleep(200)   -- the server has answered and closed by now
      local got, err = 0, nil
      while true do
        local d, e = net.recv(c, nil, 5000)
        if not d then err = e break end
        got = got + #d
      end
      net.close(c)
      mb.send(parent, { "got", got, err })
    end, mb.self(), port)
    local s = assert(net.accept(l, 5000))
    assert(net.setopts(s, { packet = "line" }))
    assert.equal("req1\n", net.recv(s, nil, 5000))
    assert(net.send(s, string.rep("a", size)))
    if shut_first then assert.is_true(net.shutdown(s, "write")) end
    assert.is_true(net.close(s))
    net.close(l)
    assert.same({ "got", size, "closed" }, mb.receive(function(m) return type(m) == "table" and m[1] == "got" end, 10000))
  end
  it("close leaves the peer the whole answer though the peer sent more than was read", function()
    answer_and_close(false)
  end)
  -- The same after the owner's own shutdown: that close closed at once.
  it("close after a shutdown lingers too: the peer gets the whole answer", function()
    answer_and_close(true)
  end)
end)

describe("sockets and their owner", function()
  it("an owner's death closes its sockets (the peer sees closed)", function()
    local l, port = listener()
    local pid = mb.spawn(function(port)
      local mb, net = require "moonbeam", require "moonbeam.net"
      local _ = assert(net.connect("127.0.0.1", port))
      mb.receive()
    end, port)
    local s = assert(net.accept(l, 1000))
    mb.exit(pid, "kill")
    assert.same({ nil, "closed" }, { net.recv(s, nil, 1000) })
    net.close(s); net.close(l)
  end)

  -- A dead owner's listener is closed before its EXIT and DOWN go out, as
  -- Erlang's port closes with its owner: whoever hears of the death can
  -- listen on the same address at once (docs/semantics.md, "Sockets").
  it("an owner's crash closes its listener before its EXIT: the port can be listened on at once", function()
    -- Linked to a process on the schedulers, as a supervisor's child is:
    -- its listen runs in its own turn, on its own scheduler's loop.
    mb.spawn(function(me, port)
      local mb, net = require "moonbeam", require "moonbeam.net"
      mb.trap_exit(true)
      local fails = {}
      for _ = 1, 10 do
        local pid = mb.spawn_link(function(port)
          assert(require("moonbeam.net").listen(port))
          error("crash")
        end, port)
        local exit = mb.receive(function(m) return m[1] == "EXIT" and m[2] == pid end, 5000)
        if not (exit and exit[3][2]:match("crash$")) then   -- {"error", msg, traceback}: it did listen
          fails[#fails + 1] = "the owner did not listen"
        else
          local l, err = net.listen(port)
          if l then net.close(l) else fails[#fails + 1] = err end
        end
      end
      mb.send(me, { "fails", fails })
    end, mb.self(), h.fixed_port(47421))
    local m = mb.receive(function(m) return type(m) == "table" and m[1] == "fails" end, 10000)
    assert.same({}, m[2])
  end)

  it("after an owner's DOWN, a connect to its listener is refused and its port can be listened on", function()
    local D = require "spec.support.owner_deaths"
    assert.same({}, D.after_downs(10, { port = h.fixed_port(47422) }, D.listener, D.refused_and_free))
  end)

  it("after an owner's DOWN, its unix listener's path is gone and can be listened on", function()
    local D = require "spec.support.owner_deaths"
    local path = os.tmpname()
    os.remove(path)
    assert.same({}, D.after_downs(20, { path = path }, D.listener, function(addr)
      local net = require "moonbeam.net"
      if io.open(addr.path) then return "the file is there" end
      local l, err = net.listen(nil, addr)
      if not l then return err end
      net.close(l)
    end))
  end)

  it("a supervisor restarts a child that listens on a fixed port in its init", function()
    local sup = require "moonbeam.supervisor"
    local port = h.fixed_port(47423)
    for _ = 1, 3 do
      local child = { id = "l", module = "spec.support.net_listener", arg = { port = port, watcher = mb.self() } }
      local s = assert(sup.start({ child }, { intensity = 1, period = 5 }))
      local first = mb.receive(function(m) return type(m) == "table" and m[1] == "listening" end, 5000)[2]
      require("moonbeam.gen_server").cast(first, "crash")
      local again = mb.receive(function(m) return type(m) == "table" and m[1] == "listening" end, 5000)
      assert.is_not_nil(again, "not restarted")
      assert.are_not.equal(first, again[2])
      assert.is_true(mb.alive(s))
      local c = assert(net.connect("127.0.0.1", port, nil, 1000))
      net.close(c)
      sup.stop(s)
    end
  end)

  it("controlling_process hands it over with its queued active messages", function()
    local c, s = pair()
    net.setopts(s, { active = true })
    net.send(c, "one")
    assert.same({ "tcp", s, "one" }, next_about(s))
    net.send(c, "two")
    mb.sleep(30)   -- "two" is now in this mailbox
    local me = mb.self()
    local pid = mb.spawn(function(me)
      local mb, net = require "moonbeam", require "moonbeam.net"
      local got = {}
      while #got < 2 do
        local m = mb.receive()
        got[#got + 1] = m[3]
      end
      mb.send(me, { "got", got, m })
    end, me)
    assert.is_true(net.controlling_process(s, pid))
    assert.same({ nil, "not_owner" }, { net.controlling_process(s, me) })
    net.send(c, "three")
    local m = mb.receive(function(m) return m[1] == "got" end, 1000)
    assert.same({ "two", "three" }, m[2])
    net.close(c)
  end)

  it("controlling_process: a moved message reaches a new owner that owns the socket already", function()
    for _ = 1, 50 do
      local c, s = pair()
      net.setopts(s, { active = true })
      net.send(c, "queued")
      mb.sleep(5)   -- "queued" is now in this mailbox
      local pid = mb.spawn(function(me)
        local mb, net = require "moonbeam", require "moonbeam.net"
        local m = mb.receive()
        mb.send(me, { "took", m[3], net.setopts(m[2], { active = "once" }) })
      end, mb.self())
      assert.is_true(net.controlling_process(s, pid))
      assert.same({ "took", "queued", true }, mb.receive(function(m) return m[1] == "took" end, 1000))
      net.close(c)
    end
  end)

  it("controlling_process to its own owner returns, its queued messages left in order", function()
    local c, s = pair({ packet = "line" })
    net.setopts(s, { active = true })
    net.send(c, "one\ntwo\n")
    mb.sleep(30)   -- both are now in this mailbox
    assert.is_true(net.controlling_process(s, mb.self()))
    assert.same({ "tcp", s, "one\n" }, next_about(s))
    assert.same({ "tcp", s, "two\n" }, next_about(s))
    net.close(c); net.close(s)
  end)

  it("controlling_process keeps an active count: the new owner gets tcp_passive when it runs out", function()
    local c, s = pair({ packet = "line" })
    net.setopts(s, { active = 2 })
    net.send(c, "one\n")
    mb.sleep(30)   -- "one" is now in this mailbox; one message of the count is left
    local pid = mb.spawn(function(me)
      local mb = require "moonbeam"
      local got = {}
      for i = 1, 3 do
        local m = mb.receive(200)
        got[i] = m and m[1] .. (m[3] and ":" .. m[3] or "") or "none"
      end
      mb.send(me, { "got", got })
    end, mb.self())
    assert.is_true(net.controlling_process(s, pid))
    net.send(c, "two\nthree\n")
    assert.same({ "tcp:one\n", "tcp:two\n", "tcp_passive" },
                mb.receive(function(m) return m[1] == "got" end, 2000)[2])
    net.close(c); net.close(s)
  end)
end)

describe("active modes", function()
  it("active = true delivers data, then tcp_closed", function()
    local c, s = pair()
    assert.is_true(net.setopts(s, { active = true }))
    net.send(c, "ping")
    assert.same({ "tcp", s, "ping" }, next_about(s))
    net.close(c)
    assert.same({ "tcp_closed", s }, next_about(s))
    assert.same({ nil, "closed" }, { net.send(s, "x") })
    net.close(s)
  end)

  it("a count runs out with tcp_passive; once sends none", function()
    local c, s = pair({ packet = "line" })
    net.setopts(s, { active = 2 })
    net.send(c, "a\nb\nc\n")
    assert.same({ "tcp", s, "a\n" }, next_about(s))
    assert.same({ "tcp", s, "b\n" }, next_about(s))
    assert.same({ "tcp_passive", s }, next_about(s))
    assert.is_nil(mb.receive(function(m) return type(m) == "table" and m[2] == s end, 30))
    net.setopts(s, { active = "once" })
    assert.same({ "tcp", s, "c\n" }, next_about(s))
    assert.is_nil(mb.receive(function(m) return type(m) == "table" and m[2] == s end, 30))
    assert.equal(nil, (net.recv(s, nil, 10)))
    net.close(c); net.close(s)
  end)

  it("a count given while one runs adds to what is left, as gen_tcp", function()
    local c, s = pair({ packet = "line" })
    net.setopts(s, { active = 2 })
    assert.is_true(net.setopts(s, { active = 1 }))
    net.send(c, "a\nb\nc\nd\n")
    for _, line in ipairs({ "a\n", "b\n", "c\n" }) do assert.same({ "tcp", s, line }, next_about(s)) end
    assert.same({ "tcp_passive", s }, next_about(s))
    assert.equal("d\n", net.recv(s, nil, 1000))
    net.setopts(s, { active = true })   -- true, then a count: the count alone
    net.setopts(s, { active = 1 })
    net.send(c, "e\nf\n")
    assert.same({ "tcp", s, "e\n" }, next_about(s))
    assert.same({ "tcp_passive", s }, next_about(s))
    net.close(c); net.close(s)
  end)
end)

describe("packet modes", function()
  it("line delivers one line per recv, including its newline", function()
    local c, s = pair({ packet = "line" })
    net.send(c, "first\nsec")
    net.send(c, "ond\n")
    assert.equal("first\n", net.recv(s, nil, 1000))
    assert.equal("second\n", net.recv(s, nil, 1000))
    net.close(c); net.close(s)
  end)

  it("line: a last line without its newline comes before closed, passive or active", function()
    local c, s = pair({ packet = "line" })
    net.send(c, "whole\ntail")
    net.close(c)
    assert.equal("whole\n", net.recv(s, nil, 1000))
    assert.equal("tail", net.recv(s, nil, 1000))
    assert.same({ nil, "closed" }, { net.recv(s, nil, 1000) })
    net.close(s)
    c, s = pair({ packet = "line" })
    net.setopts(s, { active = true })
    net.send(c, "tail")
    net.close(c)
    assert.same({ "tcp", s, "tail" }, next_about(s))
    assert.same({ "tcp_closed", s }, next_about(s))
    net.close(s)
  end)

  for _, n in ipairs({ 1, 2, 4 }) do
    it("packet = " .. n .. " frames both ways", function()
      local c, s = pair({ packet = n })
      net.send(c, "abc")
      net.send(c, "")
      net.send(c, "defg")
      assert.equal("abc", net.recv(s, nil, 1000))
      assert.equal("", net.recv(s, nil, 1000))
      assert.equal("defg", net.recv(s, nil, 1000))
      net.setopts(c, { packet = "raw" })
      net.send(s, "xy")
      local hdr = ("\0"):rep(n - 1) .. "\2"
      assert.equal(hdr .. "xy", net.recv(c, n + 2, 1000))
      net.close(c); net.close(s)
    end)
  end

  it("packet = 1 refuses a payload over 255 bytes", function()
    local c, s = pair({ packet = 1 })
    assert.same({ nil, "emsgsize" }, { net.send(c, ("x"):rep(256)) })
    net.close(c); net.close(s)
  end)
end)

describe("unix sockets", function()
  local ffi = require "ffi"
  pcall(ffi.cdef, "int chmod(const char *path, unsigned int mode); int access(const char *path, int mode);")
  -- (io.open cannot tell: it fails on a socket file too)
  local function exists(path) return ffi.C.access(path, 0) == 0 end   -- F_OK

  it("listen and connect by path; closing the listener removes the file", function()
    local path = os.tmpname()
    os.remove(path)
    local l = assert(net.listen(nil, { path = path }))
    assert.equal(path, net.sockname(l))
    local c = assert(net.connect(nil, nil, { path = path }))
    local s = assert(net.accept(l, 1000))
    net.send(c, "over unix")
    assert.equal("over unix", net.recv(s, 9, 1000))
    assert.is_true(exists(path))
    net.close(l)
    assert.is_false(exists(path))
    net.close(c); net.close(s)
  end)

  -- libuv removed the path at the close, whatever it named by then.
  it("closing a listener leaves the path alone once it names another's socket or any other file", function()
    local path = os.tmpname()
    os.remove(path)
    local l1 = assert(net.listen(nil, { path = path }))
    os.remove(path)   -- as a restarted server clears a stale file
    local l2 = assert(net.listen(nil, { path = path }))
    net.close(l1)
    local c = assert(net.connect(nil, nil, { path = path }))   -- l2 is still reachable
    net.close(c)
    net.close(l2)
    assert.is_false(exists(path))
    local l3 = assert(net.listen(nil, { path = path }))
    os.remove(path)
    local f = assert(io.open(path, "w"))
    f:write("someone's data")
    f:close()
    net.close(l3)
    f = assert(io.open(path), "the file is gone")
    assert.equal("someone's data", f:read("*a"))
    f:close()
    os.remove(path)
    -- Its own file, whatever was done to it since, it removes (a change
    -- time that a chmod moved kept it from doing so: found by review).
    local l4 = assert(net.listen(nil, { path = path }))
    assert.equal(0, ffi.C.chmod(path, 438))   -- 0666
    net.close(l4)
    assert.is_false(exists(path))
  end)

  it("a path too long for an address is enametoolong, and leaves no file; an empty path raises", function()
    local dir = os.tmpname()
    os.remove(dir)
    local path = dir .. string.rep("p", 120)   -- over sun_path's 108 bytes
    assert.same({ nil, "enametoolong" }, { net.listen(nil, { path = path }) })
    assert.same({ nil, "enametoolong" }, { net.connect(nil, nil, { path = path }) })
    local cut = path:sub(1, 107)   -- what a cut path would have bound
    assert.is_nil(io.open(cut))
    assert.is_false(os.execute("test -e '" .. cut .. "'") == 0)
    assert.has_error(function() net.listen(nil, { path = "" }) end,
                     "net.listen: path must be a non-empty string without NUL")
    assert.has_error(function() net.connect(nil, nil, { path = "a\0b" }) end,
                     "net.connect: path must be a non-empty string without NUL")
  end)
end)

describe("waiting on sockets", function()
  -- body(me), spawned, owns the socket s from its first message, {"sock", s}.
  local function hand_over(s, body)
    local pid = mb.spawn(body, mb.self())
    assert.is_true(net.controlling_process(s, pid))
    mb.send(pid, { "sock", s })
    return pid
  end

  it("a process blocked in recv leaves its scheduler to others", function()
    local c, s = pair()
    local me = mb.self()
    hand_over(s, function(me)
      local mb, net = require "moonbeam", require "moonbeam.net"
      local s = mb.receive()[2]
      mb.send(me, { "recv", net.recv(s, 3, 5000) })
    end)
    -- Other processes run meanwhile, on every scheduler.
    for i = 1, 20 do
      mb.spawn(function(me, i) require("moonbeam").send(me, { "ran", i }) end, me, i)
    end
    for _ = 1, 20 do assert(mb.receive(function(m) return m[1] == "ran" end, 15000)) end
    net.send(c, "end")
    assert.same({ "recv", "end" }, mb.receive(function(m) return m[1] == "recv" end, 1000))
    net.close(c)
  end)

  it("a call inside mb.blocking raises, naming itself, before its request goes: a recv there takes nothing", function()
    local c, s = pair()
    local pid = hand_over(s, function(me)
      local mb, net = require "moonbeam", require "moonbeam.net"
      local s = mb.receive()[2]
      local ok, err = pcall(mb.blocking, function() return net.recv(s) end)
      mb.send(me, { "blocked", ok, err })
      mb.receive()   -- the data are sent meanwhile
      mb.send(me, { "recv", net.recv(s, 5, 1000) })
    end)
    local m = mb.receive(function(m) return m[1] == "blocked" end, 1000)
    assert.is_false(m[2])
    assert.matches("^net.recv: cannot wait inside mb.blocking", m[3])
    net.send(c, "hello")
    mb.sleep(50)   -- a recv left waiting by the raise would take these
    mb.send(pid, "go")
    assert.same({ "recv", "hello" }, mb.receive(function(m) return m[1] == "recv" end, 2000))
    net.close(c)
  end)

  -- It raised receive's error after the request went: the recv's data
  -- was lost, the connect made, the program started.
  it("a call inside a coroutine of the process's own raises, naming itself, before its request goes", function()
    local c, s = pair()
    local pid = hand_over(s, function(me)
      local mb, net, port = require "moonbeam", require "moonbeam.net", require "moonbeam.port"
      local s = mb.receive()[2]
      local function in_co(f) return { coroutine.resume(coroutine.create(f)) } end
      local recv = in_co(function() return net.recv(s) end)
      local started = in_co(function() return port.open({ "echo", "ran" }) end)
      local sent = in_co(function() return net.send(s, "not sent") end)
      mb.send(me, { "in coroutines", recv, started, sent })
      mb.receive()   -- the data are sent meanwhile
      mb.send(me, { "recv", net.recv(s, 5, 1000), mb.receive(100) })
    end)
    local m = mb.receive(function(m) return m[1] == "in coroutines" end, 1000)
    assert.same({ false, "net.recv: cannot wait inside a coroutine of your own; call it from the process's body" }, m[2])
    assert.same({ false, "port.open: cannot wait inside a coroutine of your own; call it from the process's body" }, m[3])
    assert.same({ false, "net.send: cannot wait inside a coroutine of your own; call it from the process's body" }, m[4])
    net.send(c, "hello")
    mb.sleep(50)   -- a recv left waiting by the raise would take these
    mb.send(pid, "go")
    assert.same({ "recv", "hello" }, mb.receive(function(m) return m[1] == "recv" end, 2000))   -- and no port's message
    net.close(c)
  end)

  it("a host whose processes all wait on sockets uses almost no CPU", function()
    local c, s = pair()
    for _ = 1, 4 do
      mb.spawn(function(l) require("moonbeam.net").accept(l, 60000) end, (listener()))
    end
    mb.spawn(function(s) require("moonbeam.net").recv(s, 1, 60000) end, s)
    local t0 = os.clock()
    mb.sleep(300)
    local used = os.clock() - t0
    assert.is_true(used < 0.05, "CPU seconds used while idle: " .. used)
    net.close(c)
  end)
end)

describe("UDP", function()
  -- A UDP socket on a free port of 127.0.0.1, and its port.
  local function udp(opts)
    local s = assert(net.udp_open(0, opts))
    local _, port = net.sockname(s)
    return s, port
  end

  it("udp_open picks a free port; sendto and recvfrom carry data, host and port", function()
    local a, aport = udp()
    local b, bport = udp()
    assert.matches("^#Socket<%d+>$", tostring(a))
    assert.is_true(aport > 0)
    assert.is_true(net.sendto(a, "127.0.0.1", bport, "hello"))
    assert.same({ "hello", "127.0.0.1", aport }, { net.recvfrom(b, 1000) })
    assert.is_true(net.sendto(b, "localhost", aport, "back"))
    assert.same({ "back", "127.0.0.1", bport }, { net.recvfrom(a, 1000) })
    assert.same({ nil, "enotconn" }, { net.peername(a) })
    net.close(a); net.close(b)
  end)

  it("an empty datagram arrives as an empty string", function()
    local a, aport = udp()
    assert.is_true(net.sendto(a, "127.0.0.1", aport, ""))
    assert.same({ "", "127.0.0.1", aport }, { net.recvfrom(a, 1000) })
    net.close(a)
  end)

  it("a recvfrom that times out consumes nothing", function()
    local a, aport = udp()
    assert.same({ nil, "timeout" }, { net.recvfrom(a, 20) })
    net.sendto(a, "127.0.0.1", aport, "late")
    assert.equal("late", (net.recvfrom(a, 1000)))
    net.close(a)
  end)

  it("active = true delivers {udp, s, host, port, data}; a count ends with udp_passive", function()
    local a, aport = udp({ active = true })
    net.sendto(a, "127.0.0.1", aport, "x")
    assert.same({ "udp", a, "127.0.0.1", aport, "x" }, next_about(a))
    assert.is_true(net.setopts(a, { active = 2 }))
    for i = 1, 3 do net.sendto(a, "127.0.0.1", aport, "m" .. i) end
    assert.same({ "udp", a, "127.0.0.1", aport, "m1" }, next_about(a))
    assert.same({ "udp", a, "127.0.0.1", aport, "m2" }, next_about(a))
    assert.same({ "udp_passive", a }, next_about(a))
    assert.equal("m3", (net.recvfrom(a, 1000)))   -- passive again: it waited
    assert.is_true(net.setopts(a, { active = "once" }))
    net.sendto(a, "127.0.0.1", aport, "o1")
    net.sendto(a, "127.0.0.1", aport, "o2")
    assert.same({ "udp", a, "127.0.0.1", aport, "o1" }, next_about(a))
    assert.is_nil(mb.receive(function(m) return type(m) == "table" and m[2] == a end, 50))
    assert.equal("o2", (net.recvfrom(a, 1000)))
    net.close(a)
  end)

  it("recvfrom while active, and a packet option, are einval", function()
    local a = udp({ active = true })
    assert.same({ nil, "einval" }, { net.recvfrom(a, 10) })
    assert.same({ nil, "einval" }, { net.setopts(a, { packet = "line" }) })
    net.close(a)
  end)

  it("close twice is true; then calls say closed", function()
    local a, aport = udp()
    assert.is_true(net.close(a))
    assert.is_true(net.close(a))
    assert.same({ nil, "closed" }, { net.sendto(a, "127.0.0.1", aport, "x") })
    assert.same({ nil, "closed" }, { net.recvfrom(a, 10) })
  end)

  it("a port in use is eaddrinuse; bad arguments name the call", function()
    local a, aport = udp()
    assert.same({ nil, "eaddrinuse" }, { net.udp_open(aport) })
    assert.same({ nil, "nxdomain" }, { net.sendto(a, "no-such-host.invalid", 9, "x") })   -- resolved, as connect does
    assert.has_error(function() net.udp_open("x") end, "net.udp_open: port must be a number from 0 to 65535, got string")
    assert.has_error(function() net.udp_open(0, { packet = 2 }) end, "net.udp_open: UDP takes only host, active and reuseaddr")
    assert.has_error(function() net.sendto(a, "127.0.0.1", 9, 5) end, "net.sendto: data must be a string, got number")
    assert.has_error(function() net.sendto(a, "127.0.0.1", 0, "x") end)
    assert.has_error(function() net.sendto("s", "127.0.0.1", 9, "x") end, "net.sendto: a socket expected, got string")
    assert.has_error(function() net.recvfrom(a, -1) end)
    net.close(a)
  end)

  it("recvfrom and setopts from another process: not_owner; sendto from any", function()
    local a, aport = udp()
    local me = mb.self()
    mb.spawn(function(me, a, aport)
      local mb, net = require "moonbeam", require "moonbeam.net"
      mb.send(me, { "other", { net.recvfrom(a, 10) }, { net.setopts(a, { active = true }) },
                    net.sendto(a, "127.0.0.1", aport, "from other") })
    end, me, a, aport)
    local m = mb.receive(function(m) return m[1] == "other" end, 1000)
    assert.same({ nil, "not_owner" }, m[2])
    assert.same({ nil, "not_owner" }, m[3])
    assert.is_true(m[4])
    assert.equal("from other", (net.recvfrom(a, 1000)))
    net.close(a)
  end)

  it("an owner's death closes it; controlling_process hands it over", function()
    local me = mb.self()
    local pid = mb.spawn(function(me)
      local mb, net = require "moonbeam", require "moonbeam.net"
      local s = assert(net.udp_open(0))
      mb.send(me, { "sock", s })
      mb.receive()
    end, me)
    local s = mb.receive(function(m) return m[1] == "sock" end, 1000)[2]
    mb.exit(pid, "kill")
    mb.sleep(50)
    assert.same({ nil, "closed" }, { net.sendto(s, "127.0.0.1", 9, "x") })

    local a, aport = udp({ active = true })
    net.sendto(a, "127.0.0.1", aport, "queued")
    mb.sleep(30)   -- now in this mailbox
    local to = mb.spawn(function(me)
      local mb = require "moonbeam"
      local got = {}
      while #got < 2 do got[#got + 1] = mb.receive()[5] end
      mb.send(me, { "got", got })
    end, me)
    assert.is_true(net.controlling_process(a, to))
    assert.same({ nil, "not_owner" }, { net.controlling_process(a, me) })
    net.sendto(a, "127.0.0.1", aport, "after")
    assert.same({ "queued", "after" }, mb.receive(function(m) return m[1] == "got" end, 1000)[2])
    net.close(a)
  end)

  it("controlling_process keeps an active count, and to its own owner leaves the messages", function()
    local a, aport = udp({ active = 1 })
    net.setopts(a, { active = 1 })   -- adds to the count left, as gen_tcp: 2
    net.sendto(a, "127.0.0.1", aport, "one")
    mb.sleep(30)   -- now in this mailbox
    assert.is_true(net.controlling_process(a, mb.self()))
    net.sendto(a, "127.0.0.1", aport, "two")
    net.sendto(a, "127.0.0.1", aport, "three")
    local about = function() return mb.receive(function(m) return type(m) == "table" and m[2] == a end, 1000) end
    assert.equal("one", about()[5])
    assert.equal("two", about()[5])
    assert.same({ "udp_passive", a }, about())
    assert.equal("three", (net.recvfrom(a, 1000)))
    net.close(a)
  end)
end)

describe("what a socket's owner carries", function()
  it("sends, receives and closes without the rest of moonbeam.net, which comes with its first other use", function()
    local c, s = pair()
    local pid = mb.spawn(function(me)
      local mb, net = require "moonbeam", require "moonbeam.net"
      local s = mb.receive()
      local data = net.recv(s, nil, 1000)
      local sent = net.send(s, data)
      local before = package.loaded["moonbeam.net_open"] ~= nil
      local _, port = net.peername(s)   -- not send, recv or close
      local after = package.loaded["moonbeam.net_open"] ~= nil
      mb.send(me, { "carried", data, sent, before, after, type(port), net.no_such_call == nil, net.close(s) })
    end, mb.self())
    assert.is_true(net.controlling_process(s, pid))
    mb.send(pid, s)
    assert(net.send(c, "ping"))
    assert.equal("ping", net.recv(c, 4, 1000))
    local r = mb.receive(function(m) return type(m) == "table" and m[1] == "carried" end, 2000)
    assert.same({ "carried", "ping", true, false, true, "number", true, true }, r)
    assert.same({ nil, "closed" }, { net.recv(c, nil, 1000) })
    net.close(c)
  end)
end)
