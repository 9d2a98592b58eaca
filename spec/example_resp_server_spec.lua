-- examples/resp_server.lua driven by redis-cli (Debian's redis-tools) as
-- its own `moonbeam run`: every command, pipelined input, keys that
-- expire, and input that is not RESP (the connection is told and closed;
-- the server and its other connections go on).

local net = require "moonbeam.net"
local sh = require "spec.support.shell"
local X = require "spec.support.example_server"


X.with("redis-cli", describe, pending)("examples/resp_server.lua with redis-cli", function()
  local srv = X.running("resp_server", setup, teardown)

  -- redis-cli's answer to one command (raw output: one line a value).
  local function cli(args, opts)
    return X.client(("redis-cli %s -p %d %s"):format(opts or "", srv.port, args))
  end

  it("answers PING, ECHO, and says which command it does not know", function()
    assert.equal("PONG\n", cli("ping"))
    assert.equal("hi there\n", cli("echo 'hi there'"))
    assert.matches("^ERR unknown command 'nosuch'\n", cli("nosuch a b"))
    assert.matches("^ERR wrong number of arguments for 'get' command", cli("get"))
  end)

  it("SET, GET, DEL, EXISTS", function()
    assert.equal("OK\n", cli("set spec:a hello"))
    assert.equal("hello\n", cli("get spec:a"))
    assert.equal("(nil)\n", cli("get spec:missing", "--no-raw"))
    assert.equal("OK\n", cli("set spec:b 'two words'"))
    assert.equal("2\n", cli("exists spec:a spec:b spec:missing"))
    assert.equal("2\n", cli("del spec:a spec:b spec:missing"))
    assert.equal("0\n", cli("exists spec:a"))
  end)

  it("keeps binary values as they came", function()
    local value = "a\0b\r\nc"
    local c = assert(net.connect("127.0.0.1", srv.port))
    net.send(c, ("*3\r\n$3\r\nSET\r\n$8\r\nspec:bin\r\n$%d\r\n%s\r\n"):format(#value, value))
    assert.equal("+OK\r\n", net.recv(c, 5, 5000))
    net.send(c, "*2\r\n$3\r\nGET\r\n$8\r\nspec:bin\r\n")
    local want = ("$%d\r\n%s\r\n"):format(#value, value)
    assert.equal(want, net.recv(c, #want, 5000))
    net.close(c)
  end)

  it("INCR counts from 0, keeps integers exact, refuses what is not one", function()
    assert.equal("1\n", cli("incr spec:n"))
    assert.equal("2\n", cli("incr spec:n"))
    assert.equal("OK\n", cli("set spec:n 41"))
    assert.equal("42\n", cli("incr spec:n"))
    assert.equal("42\n", cli("get spec:n"))
    assert.equal("OK\n", cli("set spec:z 007"))
    assert.matches("^ERR value is not an integer", cli("incr spec:z"))
    assert.equal("007\n", cli("get spec:z"))
  end)

  it("MSET and MGET", function()
    assert.equal("OK\n", cli("mset spec:m1 one spec:m2 two"))
    assert.equal("one\ntwo\n\n", cli("mget spec:m1 spec:m2 spec:m3"))
    assert.equal('1) "one"\n2) (nil)\n', cli("mget spec:m1 spec:m3", "--no-raw"))
    assert.matches("^ERR wrong number of arguments for 'mset' command", cli("mset spec:m1 one spec:m2"))
  end)

  it("EXPIRE and TTL: the key goes when its time is up; SET clears a ttl, INCR keeps it", function()
    assert.equal("-2\n", cli("ttl spec:t"))
    assert.equal("0\n", cli("expire spec:t 10"))
    cli("set spec:t v")
    assert.equal("-1\n", cli("ttl spec:t"))
    assert.equal("1\n", cli("expire spec:t 100"))
    local ttl = tonumber(cli("ttl spec:t"))
    assert.is_true(ttl >= 90 and ttl <= 100, "ttl " .. ttl)
    cli("set spec:t w")
    assert.equal("-1\n", cli("ttl spec:t"))
    cli("set spec:c 5")
    cli("expire spec:c 100")
    assert.equal("6\n", cli("incr spec:c"))
    assert.is_true(tonumber(cli("ttl spec:c")) >= 90)
    assert.matches("^ERR value is not an integer", cli("expire spec:c soon"))
    assert.matches("^ERR invalid expire time", cli("expire spec:c 99999999999999999999"))
    assert.equal("1\n", cli("expire spec:c 0"))   -- a time already past deletes it
    assert.equal("0\n", cli("exists spec:c"))

    cli("set spec:short v")
    local t0 = sh.clock_ms()
    assert.equal("1\n", cli("expire spec:short 1"))
    local gone
    repeat   -- expiry takes time: polled, within a generous bound
      gone = cli("exists spec:short") == "0\n"
    until gone or sh.clock_ms() - t0 > 15000
    assert.is_true(gone, "the key with a 1 s ttl was still there after 15 s")
    assert.is_true(sh.clock_ms() - t0 >= 900, "gone after only " .. (sh.clock_ms() - t0) .. " ms")
    assert.equal("-2\n", cli("ttl spec:short"))
  end)

  it("answers pipelined commands in order (redis-cli --pipe)", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    for i = 1, 1000 do
      f:write(("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%d\r\n"):format(#("spec:p" .. i), "spec:p" .. i, #tostring(i), i))
    end
    f:close()
    local out = X.client(("redis-cli -p %d --pipe < %s"):format(srv.port, path))
    os.remove(path)
    assert.matches("errors: 0, replies: 1000", out)
    local keys = {}
    for i = 1, 1000 do keys[i] = "spec:p" .. i end
    assert.equal("1000\n", cli("exists " .. table.concat(keys, " ")))
    assert.equal("500\n", cli("get spec:p500"))
  end)

  it("answers many commands sent in one write in one go, split anywhere", function()
    local c = assert(net.connect("127.0.0.1", srv.port))
    local req = ("*1\r\n$4\r\nPING\r\n"):rep(100) .. "*2\r\n$4\r\nECHO\r\n$3\r\nend\r\n"
    -- sent in pieces of 7 bytes: requests cut in every place
    for i = 1, #req, 7 do assert(net.send(c, req:sub(i, i + 6))) end
    local want = ("+PONG\r\n"):rep(100) .. "$3\r\nend\r\n"
    assert.equal(want, net.recv(c, #want, 5000))
    net.close(c)
  end)

  it("takes inline commands", function()
    local c = assert(net.connect("127.0.0.1", srv.port))
    net.send(c, "PING\r\nECHO word\r\n")
    assert.equal("+PONG\r\n$4\r\nword\r\n", net.recv(c, 17, 5000))
    net.close(c)
  end)

  for _, case in ipairs({
    { "a bad array length", "*x\r\n", "invalid multibulk length" },
    { "a bad bulk length", "*1\r\n$-3\r\n", "invalid bulk length" },
    { "no '$' before an argument", "*1\r\n:4\r\n", "expected '$', got ':'" },
    { "a bulk string too long for its length", "*1\r\n$2\r\nabc\r\n", "bulk string not followed by CRLF" },
  }) do
    it("answers " .. case[1] .. " with -ERR Protocol error and closes; others go on", function()
      local other = assert(net.connect("127.0.0.1", srv.port))
      net.send(other, "PING\r\n")
      assert.equal("+PONG\r\n", net.recv(other, 7, 5000))
      local c = assert(net.connect("127.0.0.1", srv.port))
      net.send(c, "*1\r\n$4\r\nPING\r\n" .. case[2])
      local got, reply = "", "+PONG\r\n-ERR Protocol error: " .. case[3] .. "\r\n"
      while true do
        local data = net.recv(c, nil, 5000)
        if not data then break end
        got = got .. data
      end
      assert.equal(reply, got)
      net.close(c)
      net.send(other, "PING\r\n")   -- an open connection still answered
      assert.equal("+PONG\r\n", net.recv(other, 7, 5000))
      net.close(other)
      assert.equal("PONG\n", cli("ping"))
    end)
  end
end)
