-- examples/http_server.lua driven by curl as its own `moonbeam run`: the
-- routes, keep-alive (two requests on one connection), pipelined requests,
-- and requests it cannot read (400, the connection closed, the server on).

local cjson = require "cjson"
local net = require "moonbeam.net"
local X = require "spec.support.example_server"


X.with("curl", describe, pending)("examples/http_server.lua with curl", function()
  local srv = X.running("http_server", setup, teardown)

  local function url(path) return ("http://127.0.0.1:%d%s"):format(srv.port, path) end

  local function curl(args)
    return X.client("curl -s --max-time 20 " .. args)
  end

  -- All a raw connection receives until the server closes it.
  local function read_to_close(c)
    local got = ""
    while true do
      local data = net.recv(c, nil, 5000)
      if not data then return got end
      got = got .. data
    end
  end

  it("GET / answers hello", function()
    local head, body = curl("-i " .. url("/")):match("^(.-)\r\n\r\n(.*)$")
    assert.matches("^HTTP/1%.1 200 OK", head)
    assert.matches("\r\nContent%-Length: 6", head)
    assert.equal("hello\n", body)
  end)

  it("GET /json answers a JSON object with its content type", function()
    local out = curl("-i " .. url("/json"))
    local head, body = out:match("^(.-)\r\n\r\n(.*)$")
    assert.matches("^HTTP/1%.1 200 OK", head)
    assert.matches("\r\nContent%-Type: application/json", head)
    local obj = cjson.decode(body)
    assert.equal("hello", obj.message)
    assert.equal("moonbeam", obj.server)
    assert.matches("^<0%.%d+%.%d+>$", obj.pid)
  end)

  it("routes on the path: a query string does not change it", function()
    assert.equal("hello\n", curl(url("/?a=1")))
    assert.equal("hello", cjson.decode(curl(url("/json?pretty=1"))).message)
  end)

  it("anything else is 404", function()
    assert.equal("404", curl("-o /dev/null -w '%{http_code}' " .. url("/nope")))
    assert.equal("404", curl("-o /dev/null -w '%{http_code}' -X POST " .. url("/")))
  end)

  it("keeps the connection: two URLs on one curl line make one connection", function()
    local out = curl(("-w '[%%{num_connects}]' %s %s"):format(url("/"), url("/json")))
    local first, body, second = out:match("^hello\n%[(%d+)%](.-)%[(%d+)%]$")
    assert.equal("1", first)
    assert.equal("0", second, "the second request opened a new connection")
    assert.equal("hello", cjson.decode(body).message)
  end)

  it("HTTP/1.0 closes unless asked to keep the connection", function()
    local head = curl("-0 -i " .. url("/")):match("^(.-)\r\n\r\n")
    assert.matches("\r\nConnection: close", head)
    local out = curl(("-0 -H 'Connection: keep-alive' -w '[%%{num_connects}]' %s %s"):format(url("/"), url("/")))
    assert.equal("hello\n[1]hello\n[0]", out)
    -- and it is told so, or an HTTP/1.0 client takes the connection as closing
    head = curl("-0 -i -H 'Connection: keep-alive' " .. url("/")):match("^(.-)\r\n\r\n")
    assert.matches("\r\nConnection: keep%-alive", head)
  end)

  it("answers pipelined requests in order, and closes after Connection: close", function()
    local c = assert(net.connect("127.0.0.1", srv.port))
    net.send(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n" ..
      "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nbody!GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    local got = read_to_close(c)
    local codes = {}
    for code in got:gmatch("HTTP/1%.1 (%d+)") do codes[#codes + 1] = code end
    assert.same({ "200", "404", "404", "200" }, codes)
    assert.matches("Connection: close\r\n\r\nhello\n$", got)
    net.close(c)
  end)

  -- HEAD got GET's 404 with its body, which a keep-alive client reads as
  -- the start of the next answer.
  it("answers HEAD with GET's head and no body, on a connection kept for more", function()
    local c = assert(net.connect("127.0.0.1", srv.port))
    net.send(c, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    local got = read_to_close(c)
    assert.matches("^HTTP/1%.1 200 OK\r\n.-Content%-Length: 6\r\n\r\nHTTP/1%.1 200 OK\r\n.-\r\n\r\nhello\n$", got)
    net.close(c)
  end)

  for _, case in ipairs({
    { "a request line that is not HTTP", "HELLO\r\n\r\n" },
    { "a lowercase method", "get / HTTP/1.1\r\n\r\n" },
    { "a header without a colon", "GET / HTTP/1.1\r\nHost x\r\n\r\n" },
    { "a bad Content-Length", "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n" },
    { "HTTP/2.0", "GET / HTTP/2.0\r\n\r\n" },
    { "two Content-Lengths that differ", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab" },
    { "lines ended by LF alone", "GET / HTTP/1.1\nHost: x\n\n" },
    { "a head without an end, too long", "GET / HTTP/1.1\r\n" .. ("X-Pad: " .. ("p"):rep(100) .. "\r\n"):rep(200) },
    { "a head over 16 KB that ends", "GET / HTTP/1.1\r\nX-Pad: " .. ("p"):rep(20000) .. "\r\n\r\n" },
  }) do
    it("answers " .. case[1] .. " with 400 and closes; the server goes on", function()
      local c = assert(net.connect("127.0.0.1", srv.port))
      net.send(c, "GET / HTTP/1.1\r\n\r\n" .. case[2])
      local got = read_to_close(c)
      assert.matches("^HTTP/1%.1 200 OK.-hello\nHTTP/1%.1 400 Bad Request\r\n.-Connection: close\r\n", got)
      net.close(c)
      assert.equal("hello\n", curl(url("/")))
    end)
  end
end)

X.with("curl", describe, pending)("examples/http_server.lua with an idle time", function()
  local srv = X.running("http_server", setup, teardown, "0.3")

  it("closes a connection that sends nothing, or stops halfway through a request, for that long", function()
    for _, sent in ipairs({ "", "GET / HTTP/1.1\r\nHo" }) do
      local c = assert(net.connect("127.0.0.1", srv.port))
      if sent ~= "" then net.send(c, sent) end
      local data, why = net.recv(c, nil, 5000)
      assert.is_nil(data)
      assert.equal("closed", why)
      net.close(c)
    end
  end)

  it("keeps one on which requests come more often", function()
    local c = assert(net.connect("127.0.0.1", srv.port))
    for _ = 1, 3 do
      net.send(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
      local got = ""
      while not got:find("hello\n", 1, true) do got = got .. assert(net.recv(c, nil, 5000)) end
      require("moonbeam").sleep(100)
    end
    net.close(c)
  end)
end)
