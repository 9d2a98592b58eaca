-- moonbeam.net and moonbeam.port when the other side misbehaves: a peer
-- that never reads, one that sends a byte at a time, half-closes, resets;
-- 10k connections opened and dropped; a program that floods its stdout or
-- ignores SIGTERM; names to resolve. Only the public API, and /proc for
-- counting descriptors.

local mb = require "moonbeam"
local net = require "moonbeam.net"
local port = require "moonbeam.port"
local h = require "spec.support.helpers"

local ffi = require "ffi"
pcall(ffi.cdef, [[
  int getpid(void);
  void *opendir(const char *);
  void *readdir(void *);
  int closedir(void *);
]])

-- The open descriptors of this host (the entries of /proc/PID/fd; the
-- count includes the one reading it, every time alike).
local function fds()
  local dir = ffi.C.opendir("/proc/" .. ffi.C.getpid() .. "/fd")
  assert(dir ~= nil, "cannot read /proc/PID/fd")
  local n = 0
  while ffi.C.readdir(dir) ~= nil do n = n + 1 end
  ffi.C.closedir(dir)
  return n
end

-- Waits (up to 10 s, polling) until fn() is true; fails naming what.
local function eventually(fn, what)
  local t0 = h.now_ms()
  while not fn() do
    assert(h.now_ms() - t0 < 10000, "timed out waiting until " .. what)
    mb.sleep(10)
  end
end

local function listener()
  local l = assert(net.listen(0))
  return l, select(2, net.sockname(l))
end

local function pair()
  local l, p = listener()
  local c = assert(net.connect("127.0.0.1", p))
  local s = assert(net.accept(l, 2000))
  net.close(l)
  return c, s
end

-- A process answering {"ping", from} with "pong" while the test lasts.
local function pinger()
  return mb.spawn_link(function()
    local mb = require "moonbeam"
    while true do
      local m = mb.receive()
      mb.send(m[2], "pong")
    end
  end)
end

local function ping(p, times)
  for _ = 1, times do
    mb.send(p, { "ping", mb.self() })
    assert.equal("pong", mb.receive(function(m) return m == "pong" end, h.TIMEOUT))
  end
end

-- Whether pid is seen waiting within ms. Each look (mb.info) takes a
-- waiting process over for a moment, after which it looks at its mailbox
-- and waits again: one look alone may find it between the two.
local function waits(pid, ms)
  return h.wait_until(function() return mb.info(pid).status == "waiting" end, ms)
end

-- A process sending 64 KB chunks to c until a send fails (then it says
-- {"send_failed", err}); returned once it is blocked (nothing more sent
-- for 300 ms and waiting, not only held up by a loaded machine: the
-- kernel's buffers and the high-water mark take a few MB at most), with the
-- bytes it had sent.
local function blocked_writer(c)
  local writer = mb.spawn(function(me, c)
    local net, mb = require "moonbeam.net", require "moonbeam"
    local chunk, sent = ("w"):rep(65536), 0
    while true do
      mb.send(me, { "sent", sent })
      local ok, err = net.send(c, chunk)
      if not ok then
        mb.send(me, { "send_failed", err, sent })
        return
      end
      sent = sent + #chunk
    end
  end, mb.self(), c)
  local function sent(m) return m[1] == "sent" end
  local blocked_at, give_up = 0, h.now_ms() + 60000
  while true do
    local m = mb.receive(sent, 300)
    if m then
      blocked_at = m[2]
    elseif waits(writer, 1000) then
      -- quiet, and it waits: blocked, unless it sends again (info woke it)
      m = mb.receive(sent, 300)
      if not m then break end
      blocked_at = m[2]
    end
    assert(h.now_ms() < give_up, "the writer never blocked: " .. blocked_at .. " bytes sent")
  end
  return writer, blocked_at
end

describe("net faults", function()
  before_each(h.before)
  after_each(h.after)

  it("a peer that never reads blocks its writer, and only its writer", function()
    local c, s = pair()
    local writer, blocked_at = blocked_writer(c)
    assert.is_true(waits(writer), "the blocked writer is not waiting")
    ping(pinger(), 100)   -- everyone else goes on
    assert.is_true(waits(writer), "the blocked writer is not waiting")
    net.close(s)   -- the peer goes: the blocked send ends
    local m = mb.receive(function(m) return m[1] == "send_failed" end, 5000)
    assert(m, "the writer's send did not end when the peer closed")
    assert.equal("closed", m[2])
    assert.is_true(blocked_at < 64 * 1024 * 1024)
  end)

  it("a sender that sends a byte at a time holds no scheduler", function()
    local c, s = pair()
    local me = mb.self()
    local reader = mb.spawn(function(me)
      local mb, net = require "moonbeam", require "moonbeam.net"
      local s = mb.receive(function(m) return m[1] == "socket" end)[2]
      mb.send(me, { "got", net.recv(s, 50, 10000) })
    end, me)
    assert.is_true(net.controlling_process(s, reader))
    mb.send(reader, { "socket", s })
    local p = pinger()
    for i = 1, 50 do
      net.send(c, string.char(64 + i % 26))
      ping(p, 2)   -- each byte is a wait on the socket; pings are answered meanwhile
    end
    local got = mb.receive(function(m) return m[1] == "got" end, 5000)
    assert(got, "the reader did not get its 50 bytes")
    assert.equal(50, #got[2])
    net.close(c)
  end)

  it("a half-close: the other side reads to the end, and could answer until then", function()
    local c, s = pair()
    net.send(c, "last words")
    assert.is_true(net.shutdown(c, "write"))
    assert.same({ nil, "closed" }, { net.send(c, "more") })
    assert.is_true(net.send(s, "an answer"))   -- s has not seen the end yet
    assert.equal("an answer", net.recv(c, 9, 2000))
    assert.equal("last words", net.recv(s, 10, 2000))
    assert.same({ nil, "closed" }, { net.recv(s, nil, 2000) })
    assert.same({ nil, "closed" }, { net.send(s, "after") })
    net.close(c); net.close(s)
  end)

  -- A peer that connects, says "up", and on a line from its stdin closes
  -- with SO_LINGER 0: a reset. (perl is in every Debian.)
  local RESETTER = [[
    use Socket;
    socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    connect($s, pack_sockaddr_in($ARGV[0], inet_aton("127.0.0.1"))) or die "connect: $!";
    $| = 1; print "up\n"; <STDIN>;
    setsockopt($s, SOL_SOCKET, SO_LINGER, pack("ii", 1, 0)) or die "linger: $!";
    close($s);
  ]]

  local function reset_peer(active)
    local l, lport = listener()
    local p = assert(port.open({ "perl", "-e", RESETTER, tostring(lport) }))
    assert.same({ "port_data", p, "up\n" }, mb.receive(function(m) return m[1] == "port_data" end, 5000))
    local s = assert(net.accept(l, 2000))
    net.close(l)
    if active then net.setopts(s, { active = true }) end
    port.write(p, "go\n")
    assert.same({ "port_exit", p, 0 }, mb.receive(function(m) return m[1] == "port_exit" end, 5000))
    return s
  end

  it("a reset reports tcp_closed in active mode", function()
    local s = reset_peer(true)
    assert.same({ "tcp_closed", s }, mb.receive(function(m) return m[2] == s end, 2000))
    assert.same({ nil, "closed" }, { net.send(s, "x") })
    assert.is_true(net.close(s))
  end)

  it("a reset makes a passive recv say closed", function()
    local s = reset_peer(false)
    assert.same({ nil, "closed" }, { net.recv(s, nil, 2000) })
    assert.same({ nil, "closed" }, { net.send(s, "x") })
    assert.is_true(net.close(s))
  end)

  -- n connections to a listener, from 10 processes at once. The client
  -- closes first, once the server has said "k" (so the backlog never
  -- overflows, and the TIME_WAITs are the clients': a server's would
  -- refuse a later client that drew the same port); the server closes on
  -- tcp_closed. Returns once all are done, the listener closed.
  local function open_and_drop(n, host, lport, opts)
    local lopts = { active = true }
    for k, v in pairs(opts or {}) do lopts[k] = v end
    local l = assert(net.listen(lport, lopts))
    if not opts then lport = select(2, net.sockname(l)) end
    local me = mb.self()
    local acceptor, aref = mb.spawn_monitor(function(me, l, n)
      local mb, net = require "moonbeam", require "moonbeam.net"
      mb.receive(function(m) return m == "yours" end)
      local open = 0
      local function closed(m) return m[1] == "tcp_closed" end
      for _ = 1, n do
        net.send(assert(net.accept(l, 10000)), "k")
        open = open + 1
        for m in function() return mb.receive(closed, 0) end do
          net.close(m[2])
          open = open - 1
        end
      end
      for _ = 1, open do net.close(assert(mb.receive(closed, 10000))[2]) end
      mb.send(me, "accepted all")
    end, me, l, n)
    assert.is_true(net.controlling_process(l, acceptor))
    mb.send(acceptor, "yours")
    for i = 1, 10 do
      mb.spawn(function(me, host, lport, opts, n)
        local net = require "moonbeam.net"
        for _ = 1, n do
          local c, err = net.connect(host, lport, opts, 10000)
          if not c or net.recv(c, 1, 10000) ~= "k" then
            require("moonbeam").send(me, { "done", err or "no k" })
            return
          end
          net.close(c)
        end
        require("moonbeam").send(me, { "done" })
      end, me, host, lport, opts, n / 10)
    end
    for _ = 1, 10 do
      -- the acceptor may end normally before the last client says so
      local m = mb.receive(function(m) return m[1] == "done" or (m[2] == aref and m[5] ~= "normal") end, 60000)
      assert(m, "a client did not finish")
      assert(m[1] == "done", "the acceptor ended: " .. h.text(m[5]))
      assert(m[2] == nil, "a connect to " .. tostring(host or opts.path) .. " failed: " .. tostring(m[2]))
    end
    assert.equal("accepted all", mb.receive(function(m) return m == "accepted all" end, 60000))
    net.close(l)
  end

  it("10k connections opened and dropped leave no descriptor behind", function()
    local before = fds()
    -- 2000 over TCP: each leaves a client port in TIME_WAIT for a minute,
    -- and the kernel has some 28000; the other 8000 over a unix socket.
    open_and_drop(2000, "127.0.0.1", 0)
    local path = os.tmpname()
    os.remove(path)
    open_and_drop(8000, nil, nil, { path = path })
    eventually(function() return fds() <= before end, "the descriptors are closed")
  end)

  it("a connect that timed out holds no descriptor, and the peer accepts no connection of it", function()
    local l = assert(net.listen(0, { backlog = 1 }))
    local lport = select(2, net.sockname(l))
    local kept = {}
    for _ = 1, 3 do kept[#kept + 1] = net.connect("127.0.0.1", lport, nil, 300) end   -- the backlog fills
    local before, timeouts = fds(), 0
    for _ = 1, 20 do
      local s, err = net.connect("127.0.0.1", lport, nil, 10)
      if s then kept[#kept + 1] = s else assert.equal("timeout", err); timeouts = timeouts + 1 end
    end
    assert.is_true(timeouts > 0, "no connect timed out")
    eventually(function() return fds() <= before + (#kept - 3) end, "the timed-out connects' descriptors go")
    local accepted = 0
    while net.accept(l, 300) do accepted = accepted + 1 end
    assert.equal(#kept, accepted)
    for _, s in ipairs(kept) do net.close(s) end
    net.close(l)
  end)

  it("closing a socket whose peer never read releases it (after a bounded flush)", function()
    local l, lport = listener()
    local before = fds()
    local c = assert(net.connect("127.0.0.1", lport))
    local s = assert(net.accept(l, 2000))   -- never reads
    blocked_writer(c)
    assert.is_true(net.close(c))
    assert.same({ "send_failed", "closed" }, { unpack(mb.receive(function(m) return m[1] == "send_failed" end, 2000), 1, 2) })
    eventually(function() return fds() <= before + 1 end, "the closed socket's descriptor goes")
    net.close(s); net.close(l)
    eventually(function() return fds() <= before - 1 end, "every descriptor goes")
  end)

  it("a program flooding stdout is read at the owner's pace: bounded, nothing lost", function()
    local total = 32 * 1024 * 1024
    local p = assert(port.open({ "head", "-c", tostring(total), "/dev/zero" }))
    local function queued() return mb.info(mb.self()).message_queue_bytes end
    mb.sleep(200)   -- the owner reads nothing meanwhile: the port stops reading
    local bound = 2 * 1024 * 1024   -- the port's limit (1 MB) and a chunk or two
    local most = queued()
    assert.is_true(most <= bound, most .. " bytes queued while the owner did not read")
    local got, n = 0, 0
    while true do
      local m = mb.receive(function(m) return m[2] == p end, 5000)
      assert(m, "the port went quiet after " .. got .. " bytes")
      if m[1] == "port_exit" then
        assert.equal(0, m[3])
        break
      end
      got = got + #m[3]
      n = n + 1
      if n % 50 == 0 then most = math.max(most, queued()) end
    end
    assert.equal(total, got)
    assert.is_true(most <= bound, most .. " bytes queued at most")
  end)

  it("a program that ignores SIGTERM lives on; its owner's death kills it", function()
    local me = mb.self()
    local owner = mb.spawn(function(me)
      local mb, port = require "moonbeam", require "moonbeam.port"
      local p = assert(port.open({ "sh", "-c",
        "trap 'echo term ignored' TERM; echo $$; while :; do sleep 0.05; done" }))
      while true do
        local m = mb.receive()
        if m[1] == "port_data" then mb.send(me, { "out", m[3] })
        elseif m[1] == "port_exit" then mb.send(me, { "exit", m[3] })
        elseif m == "term" then mb.send(me, { "killed", port.kill(p, "TERM") }) end
      end
    end, me)
    local line = h.expect(function(m) return m[1] == "out" end, "the program's pid")[2]
    local pid = tonumber(line:match("^(%d+)"))
    assert(pid, "the program said " .. line)
    mb.send(owner, "term")
    assert.same({ "killed", true }, h.expect(function(m) return m[1] == "killed" end, "the kill's answer"))
    local out = h.expect(function(m) return m[1] == "out" or m[1] == "exit" end, "what the program did")
    assert.same({ "out", "term ignored\n" }, out)   -- it handled TERM and went on
    assert.is_not_nil(io.open("/proc/" .. pid .. "/stat"))
    mb.exit(owner, "kill")
    eventually(function()
      local f = io.open("/proc/" .. pid .. "/stat")
      if not f then return true end
      local stat = f:read("*a")   -- nil when it was reaped since the open
      f:close()
      local state = stat and stat:match("^%d+ %b() (%a)")
      return not stat or state == "Z" or state == "X"   -- killed; libuv reaps it
    end, "the program ends after its owner's death")
  end)
end)

describe("net names", function()
  before_each(h.before)
  after_each(h.after)

  it("sendto takes a host name, resolved off the scheduler", function()
    local a = assert(net.udp_open(0))
    local b = assert(net.udp_open(0))
    local _, bport = net.sockname(b)
    assert.is_true(net.sendto(a, "localhost", bport, "by name"))
    local data, host = net.recvfrom(b, 2000)
    assert.equal("by name", data)
    assert.equal("127.0.0.1", host)
    assert.same({ nil, "nxdomain" }, { net.sendto(a, "no-such-host.invalid", bport, "x") })
    net.close(a)
    assert.same({ nil, "closed" }, { net.sendto(a, "localhost", bport, "x") })
    net.close(b)
  end)

  it("connect tries every address a name resolves to", function()
    -- localhost may resolve to ::1 first; only 127.0.0.1 listens here
    local l, lport = listener()
    local c = assert(net.connect("localhost", lport, nil, 5000))
    local s = assert(net.accept(l, 2000))
    assert.equal("127.0.0.1", (net.peername(c)))
    net.close(c); net.close(s); net.close(l)
  end)
end)
