-- `moonbeam attach`: a console inside a running host, reached through its
-- socket (moonbeam run --console-socket), driven in a real terminal (tmux)
-- as a person would, and by hostile clients that speak the wire protocol
-- themselves (spec/support/console_peer.lua). See spec/support/tty.lua.

local tty = require "spec.support.tty"
local sh = require "spec.support.shell"
local peer = require "spec.support.console_peer"
local T = require "spec.support.terminals"

local BIN = T.BIN

local function count(s, plain)
  local n, at = 0, 1
  while true do
    local i, j = s:find(plain, at, true)
    if not i then return n end
    n, at = n + 1, j + 1
  end
end

before_each(T.before)
after_each(T.after)

describe("moonbeam attach", function()
  local socket

  -- The host opens its console socket before its script runs: the script
  -- says when its counter is registered (READY), and host() waits for that
  -- too, so that a call under load does not find no "counter" yet.
  local READY = "counter.ready"
  local HOST = [[
    local gen = require "moonbeam.gen_server"
    assert(gen.start("spec.support.console_counter", 100, {name = "counter"}))
    assert(io.open(os.getenv("HOME") .. "/]] .. READY .. [[", "w")):close()
    require("moonbeam").receive()
  ]]

  -- A host in a terminal, once its socket is there. options: more of
  -- moonbeam run's; shell: a shell line to run it in ("%s" is the command).
  local function host(script, options, shell)
    socket = T.home .. "/console.sock"
    local path = sh.script(script or HOST)
    local command = BIN .. " run " .. sh.quote(path) .. " --console-socket " .. sh.quote(socket)
      .. (options and (" " .. options) or "")
    if shell then command = "sh -c " .. sh.quote(shell:format(command)) end
    local ready = T.home .. "/" .. READY
    os.remove(ready)
    local t = T.start(command)
    local function there(test)
      local ok = os.execute(test)
      return ok == 0 or ok == true   -- LuaJIT's 5.1 status, or 5.2's
    end
    for _ = 1, 200 do
      if there("test -S " .. sh.quote(socket)) and (script or there("test -e " .. sh.quote(ready))) then
        return t
      end
      tty.sleep_ms(50)
    end
    error("the host made no socket (or its counter never started); its screen:\n" .. t:screen())
  end

  local function attach()
    local t = T.start(BIN .. " attach " .. sh.quote(socket))
    t:wait_for("mb%(1%)>")
    return t
  end

  it("creates the socket with mode 0600", function()
    host()
    local status, out = sh.run("stat -c %a " .. sh.quote(socket))
    assert.equal(0, status)
    assert.equal("600\n", out)
  end)

  it("gives the full console inside a running host, calling a server registered there", function()
    host()
    local c = attach()
    assert.matches("attached to a running host", c:screen(), 1, true)
    local s = c:enter([[call("counter", "increment")]])
    assert.matches('call%("counter", "increment"%)\n101\n', s)
    s = c:enter("os.exit(1)")
    assert.matches("os.exit would stop the host", s, 1, true)
    c:key("C-d")
    c:wait_for("[exit 0]", nil, true)
    -- Detaching left the host running: attach again.
    local again = attach()
    s = again:enter([[call("counter", "get")]])
    assert.matches('call%("counter", "get"%)\n101\n', s)
  end)

  it("serves two consoles at once, each a process of its own", function()
    host()
    local a, b = attach(), attach()
    a:enter("mine = 'a'")
    b:enter("mine = 'b'")
    local sa = a:enter([[mine, call("counter", "increment")]])
    local sb = b:enter([[mine, call("counter", "increment")]])
    assert.matches('\n"a", 10[12]\n', sa)
    assert.matches('\n"b", 10[12]\n', sb)
    local s = a:enter("ps()")
    local consoles = count(s:sub((s:find("PID%s+NAME"))), "(console)")
    assert.equal(2, consoles)
  end)

  -- An attached console with a global set (and the line before, if any,
  -- entered), evaluating code (typed, then Enter); once busy(c) returns,
  -- Ctrl-C. Returns the console and what it printed up to the
  -- interruption (its text: interrupted).
  local function interrupt(code, busy, interrupted, before)
    host()
    local c = attach()
    c:enter("kept = 'here'")
    if before then c:enter(before) end
    c:type(code)
    c:key("Enter")
    busy(c)
    c:key("C-c")
    return c, c:wait_for(interrupted, nil, true)
  end

  -- The global set before is still there: the console process lived.
  local function assert_kept(c)
    local s = c:enter("kept")
    assert.matches('\n"here"\n', s)
    assert.not_matches("the globals are gone", s, 1, true)
  end

  it("stops a busy evaluation on Ctrl-C, keeping the console, and prints top() once", function()
    local c = interrupt("print('spinning' .. '...') while true do end",
      function(c) c:wait_for("spinning...", nil, true) end, "** interrupted\n")
    assert_kept(c)
    local s = c:enter("top()")
    assert.matches("%d+ processes, by reductions", s)
    assert.matches("counter%s+spec%.support%.console_counter", s)
    assert.not_matches("Ctrl-C ends top", s, 1, true)
  end)

  -- Between two C calls it ran too few instructions for the hook's count
  -- (1000): the Ctrl-C was not taken, and after its second the console
  -- process was killed, its globals with it.
  it("stops a loop of short C calls on Ctrl-C, keeping the console", function()
    local c, s = interrupt([[for i = 1, 30 do os.execute("sleep 0.2") io.write("step ", i, "\n") end]],
      function(c) c:wait_for("step 2", nil, true) end, "** interrupted")
    assert.not_matches("step 30", s, 1, true)
    assert_kept(c)
  end)

  -- Printing ran outside what Ctrl-C may stop: a Ctrl-C there killed the
  -- console process at once, its globals with it.
  it("stops the printing of a big result on Ctrl-C, keeping the console", function()
    -- Printing it takes seconds: sorting a million keys, forty times.
    local c = interrupt("Y", function() tty.sleep_ms(500) end, "interrupted (Ctrl-C)",
      'do local h = {} for i = 1, 1000000 do h["k" .. i] = i end '
      .. 'local x = {} for i = 1, 40 do x[i] = h end Y = {} for i = 1, 40 do Y[i] = x end end')
    assert_kept(c)
  end)

  it("gives a terminal a new console process when its own is killed", function()
    host()
    local a, b = attach(), attach()
    a:enter("victim = self()")
    local s = a:enter("victim")
    local victim = s:match("\n(<0%.%d+%.%d+>)\n")
    assert.is_string(victim, s)
    b:enter(("kill(%q)"):format(victim))
    s = a:wait_for("** console " .. victim .. " ended; this is <0.", nil, true)
    s = a:enter("victim, 1 + 1")
    assert.matches("\nnil, 2\n", s)
  end)

  -- Its terminal gone mid-evaluation, a console process went on evaluating
  -- for ever, at full CPU, with nobody to see it: the evaluation is stopped
  -- as by a Ctrl-C, and the process ends with its session.
  it("ends a console process whose terminal went away while it evaluated", function()
    host()
    local a, b = attach(), attach()
    a:enter("mine = self()")
    local gone = a:enter("mine"):match("\n(<0%.%d+%.%d+>)\n")
    assert.is_string(gone)
    a:type("print('spinning' .. '...') while true do end")
    a:key("Enter")
    a:wait_for("spinning...", nil, true)
    a:stop()
    local s
    for _ = 1, 100 do
      s = b:enter(("alive(%q)"):format(gone))
      if s:find("\nfalse\n") then break end
      tty.sleep_ms(50)
    end
    assert.matches("\nfalse\n", s)
  end)

  it("tells the terminal when the host goes away", function()
    -- The host ends when the attached console tells it to.
    host([[
      local mb = require "moonbeam"
      mb.register("host", mb.self())
      mb.receive(function(m) return m == "go" end)
    ]])
    local c = attach()
    c:type([[send("host", "go")]])
    c:key("Enter")
    local s = c:wait_for("[exit 1]", nil, true)
    assert.matches("the host closed the console", s, 1, true)
  end)

  it("refuses a socket path that exists and is not a socket", function()
    local path = T.home .. "/not-a-socket"
    local f = assert(io.open(path, "w"))
    f:write("keep me")
    f:close()
    local script = sh.script("print('should not run')")
    local status, out, err = sh.run(BIN .. " run " .. sh.quote(script) .. " --console-socket " .. sh.quote(path))
    assert.equal(1, status)
    assert.equal("", out)
    assert.matches("exists and is not a socket", err, 1, true)
    assert.equal("keep me", tty.read_file(path))
  end)

  it("replaces a stale socket, and refuses one a running host listens on", function()
    socket = T.home .. "/console.sock"
    local sleeper = sh.script("require('moonbeam').receive()")
    -- A host killed with SIGKILL leaves its socket behind.
    local job = sh.start(BIN .. " run " .. sh.quote(sleeper) .. " --console-socket " .. sh.quote(socket))
    job:wait_until(function() return sh.run("test -S " .. sh.quote(socket)) == 0 end, 10000, "the socket")
    job:signal("KILL")
    job:wait()
    assert.equal(0, sh.run("test -S " .. sh.quote(socket)))
    local quick = sh.script("print('ran')")
    local status, out, err = sh.run(BIN .. " run " .. sh.quote(quick) .. " --console-socket " .. sh.quote(socket))
    assert.equal(0, status, err)
    assert.equal("ran\n", out)
    assert.is_not.equal(0, sh.run("test -e " .. sh.quote(socket)))   -- removed at exit
    host()
    status, out, err = sh.run(BIN .. " run " .. sh.quote(quick) .. " --console-socket " .. sh.quote(socket))
    assert.equal(1, status)
    assert.matches("in use by a running host", err, 1, true)
  end)

  -- Output to a terminal never waits on a scheduler thread. With one
  -- scheduler per terminal that does not read, a blocking write would
  -- stall every process in the host.
  local SCHEDULERS = 2
  local PING_BOUND_MS = 1000   -- a round trip through a console to a server in the host
  local STALL_MS = 10000       -- console_server.c: output that does not move this long is dropped

  -- The pid of the console process behind c, as text.
  local function console_pid(c)
    assert(c:send_line("self()"))
    return assert(assert(c:read_prompt(5000)):match("<0%.%d+%.%d+>"))
  end

  -- Wait (at most timeout_ms) until the process pid waits in receive,
  -- asking through the console c.
  local function wait_until_waiting(c, pid, timeout_ms)
    local deadline = peer.now_ms() + timeout_ms
    repeat
      assert(c:send_line(("info(%q).status"):format(pid)))
      if c:read_prompt(math.max(1, deadline - peer.now_ms())) == '"waiting"\n' then return true end
      tty.sleep_ms(20)
    until peer.now_ms() >= deadline
    return false
  end

  -- Five calls to the counter through the console c, each answered in time.
  local function assert_answers(c)
    for i = 1, 5 do
      local started = peer.now_ms()
      assert(c:send_line([[call("counter", "get")]]))
      local out, why = c:read_prompt(PING_BOUND_MS)
      assert(out, ("call %d: no answer within %d ms (%s)"):format(i, PING_BOUND_MS, tostring(why)))
      assert.matches("^10%d\n$", out)
      assert.is_true(peer.now_ms() - started < PING_BOUND_MS)
    end
  end

  it("keeps the host answering while terminals that never read ask for lots of output, then drops them", function()
    host(nil, "--schedulers " .. SCHEDULERS)
    local pinger = peer.attach(socket)
    local stuck, pids = {}, {}
    for i = 1, SCHEDULERS do
      stuck[i] = peer.attach(socket)
      pids[i] = console_pid(stuck[i])
    end
    for _, c in ipairs(stuck) do assert(c:send_line([[for i = 1, 100000 do print(("x"):rep(100)) end]])) end
    for i, c in ipairs(stuck) do
      assert(c:wait_unread(4096, 5000), ("terminal %d: its socket never filled up"):format(i))
      -- Its console has written as far as the host lets it, and waits for
      -- its terminal as a process does: on no thread.
      assert(wait_until_waiting(pinger, pids[i], 15000),
        ("console %s never came to wait for its terminal"):format(pids[i]))
    end
    assert_answers(pinger)
    for i, c in ipairs(stuck) do
      assert(c:wait_hangup(STALL_MS + 10000), ("terminal %d: never dropped"):format(i))
      c:close()
    end
    assert_answers(pinger)
  end)

  it("survives terminals that send garbage, and hangs up on what is no terminal", function()
    host(nil, "--schedulers " .. SCHEDULERS)
    local pinger = peer.attach(socket)
    math.randomseed(7)
    local function noise(n)
      local t = {}
      for i = 1, n do t[i] = string.char(math.random(0, 255)) end
      return table.concat(t)
    end
    -- A frame longer than any terminal sends: hung up on at once.
    local huge = assert(peer.connect(socket))
    assert(huge:send_raw("L\255\255\255\255" .. noise(100)))
    -- Frames of kinds no terminal sends, with random payloads; random
    -- bytes; a frame cut short.
    local odd = assert(peer.connect(socket))
    for _ = 1, 200 do odd:send_frame(string.char(math.random(0x80, 0xff)), noise(math.random(0, 200))) end
    local random = assert(peer.connect(socket))
    random:send_raw(noise(4096))
    local cut = assert(peer.connect(socket))
    cut:send_raw(peer.frame("L", noise(1000)):sub(1, 500))
    cut:close()
    -- Lines of binary junk, one error message each, never read.
    local junk, pids = {}, {}
    for i = 1, SCHEDULERS do
      junk[i] = peer.attach(socket)
      pids[i] = console_pid(junk[i])
      local lines = {}
      for k = 1, 3000 do lines[k] = peer.frame("L", "\0\255" .. noise(20) .. k) end
      assert(junk[i]:send_raw(table.concat(lines)))
    end
    for i, c in ipairs(junk) do
      assert(c:wait_unread(4096, 5000), ("junk %d: its socket never filled up"):format(i))
      assert(wait_until_waiting(pinger, pids[i], 15000), ("console %s never went idle"):format(pids[i]))
    end
    assert_answers(pinger)
    assert.is_true(huge:wait_hangup(5000), "a frame of 4 GB was not hung up on")
    for _, c in ipairs({ huge, odd, random, unpack(junk) }) do c:close() end
    assert_answers(pinger)
  end)

  it("answers 300 connections at once, serving or turning each away, and serves after they close", function()
    -- 200 file descriptors: 300 terminals could take every one the host has.
    local errors = T.home .. "/host.err"
    host(nil, nil, "ulimit -n 200 && exec %s 2>" .. sh.quote(errors))
    local conns = {}
    for i = 1, 300 do
      local c, why = peer.connect(socket, 3000)
      assert(c, ("connection %d: %s"):format(i, tostring(why)))
      conns[i] = c
    end
    local served, turned_away = 0, 0
    for i, c in ipairs(conns) do
      local out, why, shown = c:read_prompt(10000)
      if out then
        served = served + 1
      else
        assert.equal("closed", why, ("connection %d: neither a console nor a reason"):format(i))
        assert.matches("** too many consoles are attached", shown, 1, true)
        turned_away = turned_away + 1
      end
    end
    assert.is_true(served >= 100, ("only %d consoles served"):format(served))
    assert.equal(300, served + turned_away)
    for _, c in ipairs(conns) do c:close() end
    -- The host frees a terminal's place once it sees it hang up, which may
    -- come after the close: a terminal turned away meanwhile tries again.
    local c
    for _ = 1, 50 do
      c = T.start(BIN .. " attach " .. sh.quote(socket))
      if c:wait_for_one_of({ "mb%(1%)>", "too many consoles are attached" }) == 1 then break end
      c = nil
      tty.sleep_ms(100)
    end
    assert(c, "every terminal was turned away for 5 s after the 300 closed")
    local s = c:enter([[call("counter", "increment")]])
    assert.matches('call%("counter", "increment"%)\n101\n', s)
    assert.equal("", tty.read_file(errors))
  end)

  -- Root owns the spec's socket, and the client runs as nobody; the mode
  -- lets nobody connect, as another user's socket may.
  local as_root = select(2, sh.run("id -u")) == "0\n"
  local it_as_root = as_root and it or pending

  it_as_root("refuses a socket another user owns, before it connects (needs root and setpriv)", function()
    local path = T.home .. "/other-users.sock"
    local fake = peer.listen(path, tonumber("666", 8))
    local status, out, err = sh.run("setpriv --reuid=65534 --regid=65534 --clear-groups "
      .. BIN .. " attach " .. sh.quote(path), 20)
    assert.equal(1, status)
    assert.equal("", out)
    assert.matches(path .. " belongs to uid 0, not to you (uid 65534); not attaching to another user's host",
      err, 1, true)
    assert.is_nil(fake:accept(), "the client connected")
    fake:close()
  end)

  it_as_root("refuses a host that runs as another user behind a socket file of its own, sending nothing", function()
    local path = T.home .. "/looks-like-mine.sock"
    local fake = peer.listen(path, tonumber("666", 8))
    assert.equal(0, sh.run("chown 65534 " .. sh.quote(path)))
    local status, out, err = sh.run("setpriv --reuid=65534 --regid=65534 --clear-groups "
      .. BIN .. " attach " .. sh.quote(path), 20)
    assert.equal(1, status)
    assert.equal("", out)
    assert.matches("the host on " .. path .. " runs as uid 0, not as you (uid 65534); not attaching", err, 1, true)
    local client = assert(fake:accept(), "the client never connected")
    local bytes, closed = client:read_all(1000)
    assert.is_true(closed)
    assert.equal("", bytes, "the client sent something")
    client:close()
    fake:close()
  end)

  it_as_root("lets root attach to a socket another user owns (needs root)", function()
    host()
    assert.equal(0, sh.run("chown 65534 " .. sh.quote(socket)))
    local c = attach()
    local s = c:enter([[call("counter", "get")]])
    assert.matches('call%("counter", "get"%)\n100\n', s)
  end)

  it("says so when nothing listens there", function()
    local status, _, err = sh.run(BIN .. " attach " .. sh.quote(T.home .. "/nothing.sock"))
    assert.equal(1, status)
    assert.matches("cannot connect", err, 1, true)
  end)
end)
