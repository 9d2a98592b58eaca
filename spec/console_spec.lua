-- The interactive console (`moonbeam`), `moonbeam attach` and the command
-- line, driven as a person would: in a real terminal (tmux), typing lines
-- and reading the screen. See spec/support/tty.lua.

local tty = require "spec.support.tty"
local sh = require "spec.support.shell"
local peer = require "spec.support.console_peer"

local BIN = os.getenv("MOONBEAM_BIN") or "./build/bin/moonbeam"   -- another build: MOONBEAM_BIN
local CWD = os.getenv("PWD") or "."

local home, term, others

local function env(extra)
  local e = { HOME = home, LUA_PATH = os.getenv("LUA_PATH") or "./lua/?.lua;./?.lua;;",
              MOONBEAM_CRASH_LOG = "0" }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

-- A console in a terminal, at its first prompt.
local function console(args, extra_env)
  local t = tty.start(BIN .. (args and (" " .. args) or ""), env(extra_env), CWD)
  others[#others + 1] = t
  t:wait_for("mb%(1%)>")
  return t
end

local function count(s, plain)
  local n, at = 0, 1
  while true do
    local i, j = s:find(plain, at, true)
    if not i then return n end
    n, at = n + 1, j + 1
  end
end

before_each(function()
  home = tty.tempdir()
  others = {}
end)

after_each(function()
  for _, t in ipairs(others) do t:stop() end
  tty.rmdir_all(home)
  sh.cleanup()
end)

describe("the console", function()
  it("prints every expression's value: numbers, quoted strings, tables, pids", function()
    term = console()
    term:enter("1 + 1")
    term:enter([["moon" .. "beam"]])
    term:enter([[{1, 2, x = "y", [10] = true}]])
    term:enter("self()")
    local s = term:enter("40 + 2, 'two', nil")
    assert.matches("mb%(1%)> 1 %+ 1\n2\n", s)
    assert.matches('\n"moonbeam"\n', s)
    assert.matches('\n{1, 2, %[10%] = true, x = "y"}\n', s)
    assert.matches("mb%(4%)> self%(%)\n<0%.%d+%.%d+>\n", s)
    assert.matches('\n42, "two", nil\n', s)
  end)

  it("runs plain statements, and keeps globals from line to line", function()
    term = console()
    term:enter("x = 20")
    local s = term:enter("x * 2 + 2")
    assert.matches("mb%(1%)> x = 20\nmb%(2%)> ", s)
    assert.matches("\n42\n", s)
  end)

  it("marks a table that contains itself, and bounds depth and width", function()
    term = console()
    term:enter("t = {name = 'loop'} t.self = t")
    term:enter("t")
    term:enter("deep = {a = {b = {c = {d = {e = {f = {g = {}}}}}}}}")
    term:enter("deep")
    local s = term:enter("wide = {} for i = 1, 100 do wide[i] = i end return wide")
    assert.matches('<1>{name = "loop", self = <cycle 1>}', s, 1, true)
    assert.matches("{a = {b = {c = {d = {e = {f = {...}}}}}}}", s, 1, true)
    assert.matches("...(60 more)", s, 1, true)
  end)

  it("continues an incomplete chunk on the next line", function()
    term = console()
    term:enter("function double(x)")
    term:enter("  return x * 2")
    term:enter("end")
    local s = term:enter("double(21)")
    assert.matches("mb%(1%)> function double%(x%)\n%.%.%.%(1%)>   return x %* 2\n%.%.%.%(1%)> end\n", s)
    assert.matches("mb%(2%)> double%(21%)\n42\n", s)
  end)

  it("prints a runtime error with its traceback, then gives a working prompt", function()
    term = console()
    term:enter("local function f() error('boom') end f()")
    term:enter("nil + 1")
    term:enter("this is not lua")
    local s = term:enter("1 + 1")
    assert.matches("%*%* error: console:1: boom\nstack traceback:\n%s+console:1: in function 'f'\n", s)
    assert.matches("** error: console:1: attempt to perform arithmetic on a nil value", s, 1, true)
    assert.matches("** syntax error: console:1:", s, 1, true)
    assert.matches("mb%(4%)> 1 %+ 1\n2\n", s)
  end)

  it("reports a crash of a linked process as a line, and carries on", function()
    term = console()
    term:enter("spawn_link(function() error('linked boom') end)")
    local s = term:wait_for("** (EXIT from <0.", nil, true)
    assert.matches("%*%* %(EXIT from <0%.%d+%.%d+>%) crashed: console:1: linked boom", s)
    s = term:enter("1 + 1")
    assert.matches("\n2\n", s)
  end)

  it("lists three servers with ps(), busiest first", function()
    term = console()
    term:enter([[for _, n in ipairs({"alpha", "beta", "gamma"}) do ]]
      .. [[assert(gen.start("spec.support.console_counter", 0, {name = n})) end]])
    for _ = 1, 5 do term:enter([[call("beta", "increment")]]) end
    local s = term:enter("ps()")
    local table_text = s:sub((s:find("PID%s+NAME%s+MODULE%s+STATUS%s+QUEUE%s+RECEIVED%s+MEMORY")))
    for _, n in ipairs({ "alpha", "beta", "gamma" }) do
      assert.matches("<0%.%d+%.%d+>%s+" .. n .. "%s+spec%.support%.console_counter%s+waiting%s+0%s+%d+%s+[%d.]+ KB",
        table_text)
    end
    assert.is_true(table_text:find("beta") < table_text:find("alpha"), table_text)
    assert.is_true(table_text:find("beta") < table_text:find("gamma"), table_text)
    assert.matches("%(console%)", table_text)
    assert.matches("\n%d+ processes\n", table_text)
  end)

  it("lists shared tables with tables(): owner, type, size and memory", function()
    term = console()
    term:enter([[t = require("moonbeam.table").new("console_tab", {type = "bag"})]])
    term:enter([[for i = 1, 3 do require("moonbeam.table").insert(t, "k", i) end]])
    local s = term:enter("tables()")
    local text = s:sub((s:find("TABLE%s+NAME%s+OWNER%s+TYPE%s+SIZE%s+MEMORY")))
    assert.matches("#Table<%d+>%s+console_tab%s+<0%.%d+%.%d+>%s+bag protected%s+3%s+%d+ B", text)
    assert.matches("\n%d+ tables?\n", text)
  end)

  it("round-trips call and cast to a server", function()
    term = console()
    term:enter([[pid = gen.start("spec.support.console_counter", 10, {name = "counter"})]])
    term:enter([[call("counter", "increment")]])
    term:enter([[cast(pid, "increment")]])
    local s = term:enter([[call(pid, "get")]])
    assert.matches('mb%(2%)> call%("counter", "increment"%)\n11\n', s)
    assert.matches('mb%(3%)> cast%(pid, "increment"%)\ntrue\n', s)
    assert.matches('mb%(4%)> call%(pid, "get"%)\n12\n', s)
    s = term:enter([[call("nobody", "get")]])
    assert.matches('\n%*%* error: {"noproc"}\n', s)
  end)

  it("sends, flushes and kills through the helpers", function()
    term = console()
    term:enter([[send(self(), {hello = "world"})]])
    term:enter("flush()")
    term:enter([[p = spawn(function() require("moonbeam").receive() end)]])
    term:enter("kill(p)")
    local s = term:enter("info(p)")
    assert.matches('Shell got {hello = "world"}', s, 1, true)
    assert.matches("mb%(5%)> info%(p%)\nnil\n", s)
    s = term:enter("info(self()).status")
    assert.matches('\n"running"\n', s)
  end)

  it("says what tree, reload and help do", function()
    term = console()
    term:enter("help()")
    local s = term:enter([[reload("spec.support.console_counter")]])
    assert.matches("ps()", s, 1, true)
    assert.matches("tree(sup)", s, 1, true)
    assert.matches("reload: hot code reload is not available yet", s, 1, true)
  end)

  it("cancels the line on Ctrl-C and leaves with status 0 on Ctrl-D", function()
    term = console()
    -- One line first: once it is answered the line editor is up, and keys
    -- typed now are not lost to its switching the terminal's mode.
    term:enter("0")
    term:type("this line is never run")
    term:key("C-c")
    term:wait_for("mb%(2%)> this line is never run%^C\nmb%(2%)>")
    term:enter("1 + 1")
    term:key("C-d")
    local s = term:wait_for("[exit 0]", nil, true)
    assert.not_matches("never run\n%*%*", s)
  end)

  -- Runs code that prints marker and then never returns, presses Ctrl-C
  -- and checks a new console answers. Waits for the marker, not for time: a
  -- Ctrl-C that came before it would only cancel the line being edited.
  local function interrupted(code, marker)
    term = console()
    term:type(("print('%s' .. '...') %s"):format(marker, code))
    term:key("Enter")
    term:wait_for(marker .. "...", nil, true)
    term:key("C-c")
    local s = term:wait_for("** interrupted: console <0.", nil, true)
    assert.matches("was killed; this is <0%.%d+%.%d+>", s)
    assert.matches("\n4\n", term:enter("2 + 2"))
  end

  it("interrupts a blocked evaluation on Ctrl-C with a new console", function()
    interrupted("receive()", "evaluating")
  end)

  it("interrupts a compiled loop on Ctrl-C with a new console", function()
    interrupted("local x = 0 for i = 1, 1e15 do x = x + i end", "spinning")
  end)

  it("writes the history to ~/.moonbeam_history and recalls it in the next session", function()
    term = console()
    term:enter("marker_from_the_first_session = 42")
    term:key("C-d")
    term:wait_for("[exit 0]", nil, true)
    local h = tty.read_file(home .. "/.moonbeam_history")
    assert.is_string(h, "no history file")
    assert.matches("^_HiStOrY_V2_\n", h)
    assert.matches("marker_from_the_first_session\\040=\\04042\n", h, 1, true)
    local second = console()
    second:key("Up")
    second:wait_for("mb%(1%)> marker_from_the_first_session = 42")
    second:key("C-u")
    local s = second:enter("marker_from_the_first_session")
    assert.matches("mb%(1%)> marker_from_the_first_session\nnil\n", s)
  end)

  it("completes globals, fields of modules and tables, and registered names on Tab", function()
    term = console()
    term:enter([[gen.start("spec.support.console_counter", 7, {name = "completion_target"})]])
    term:enter("my_settings = {verbose_level = 3}")
    term:type("string.form")
    term:key("Tab")
    term:wait_for("string.format", nil, true)
    term:type('("%d", 7)')
    local s = term:enter("")
    assert.matches('\n"7"\n', s)
    term:type("my_sett")
    term:key("Tab")
    term:wait_for("my_settings", nil, true)
    term:type(".verb")
    term:key("Tab")
    term:wait_for("my_settings.verbose_level", nil, true)
    s = term:enter("")
    assert.matches("my_settings%.verbose_level\n3\n", s)
    term:type('call("completion_t')
    term:key("Tab")
    term:wait_for('call("completion_target', nil, true)
    s = term:enter('", "get")')
    assert.matches('call%("completion_target", "get"%)\n7\n', s)
  end)

  it("does not offer moonbeam's internal names on Tab, only its API", function()
    term = console()
    -- Each line is typed, completed with Tab, then run: what it shows is
    -- what completion made of it. The internal names (docs/reference.md
    -- lists the public ones) would complete these prefixes.
    local cases = {
      { "mb.sup_", "mb.sup_" },             -- sup_start
      { "mb.console_", "mb.console_" },     -- console_open
      { "mb.wai", "mb.wai" },               -- wait
      { "mb.rec", "mb.receive" },           -- recv, beside receive
      { "mb.call_b", "mb.call_b" },         -- call_begin
      { "mb.call_t", "mb.call_t" },         -- call_take
      { "mb._max", "mb._max" },             -- _max_timeout
      { "gen._hand", "gen._hand" },         -- _handshake
      { "gen.ent", "gen.ent" },             -- enter
      { "mb.queue_", "mb.queue_len" },      -- public: still offered
      { "gen.try_", "gen.try_call" },       -- public: still offered
    }
    local s
    for _, c in ipairs(cases) do
      term:type(c[1])
      term:key("Tab")
      s = term:enter("")
    end
    for _, c in ipairs(cases) do
      assert.is_truthy(s:find("> " .. c[2] .. "\n", 1, true),
        ("%q was completed to something else than %q:\n%s"):format(c[1], c[2], s))
    end
  end)

  it("runs -l and -e in the console before the first prompt", function()
    term = console("-i -l spec.support.console_counter -e 'greeting = \"hi\"'")
    local s = term:enter("type(console_counter.init), greeting")
    assert.matches('\n"function", "hi"\n', s)
  end)
end)

describe("moonbeam attach", function()
  local socket

  local HOST = [[
    local gen = require "moonbeam.gen_server"
    assert(gen.start("spec.support.console_counter", 100, {name = "counter"}))
    require("moonbeam").receive()
  ]]

  -- A host in a terminal, once its socket is there. options: more of
  -- moonbeam run's; shell: a shell line to run it in ("%s" is the command).
  local function host(script, options, shell)
    socket = home .. "/console.sock"
    local path = sh.script(script or HOST)
    local command = BIN .. " run " .. sh.quote(path) .. " --console-socket " .. sh.quote(socket)
      .. (options and (" " .. options) or "")
    if shell then command = "sh -c " .. sh.quote(shell:format(command)) end
    local t = tty.start(command, env(), CWD)
    others[#others + 1] = t
    for _ = 1, 200 do
      if os.execute("test -S " .. sh.quote(socket)) == 0 or os.execute("test -S " .. sh.quote(socket)) == true then
        return t
      end
      tty.sleep_ms(50)
    end
    error("the host made no socket; its screen:\n" .. t:screen())
  end

  local function attach()
    local t = tty.start(BIN .. " attach " .. sh.quote(socket), env(), CWD)
    others[#others + 1] = t
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

  it("tells the terminal when the host goes away", function()
    host([[require("moonbeam").receive(1500)]])
    local c = attach()
    local s = c:wait_for("[exit 1]", nil, true)
    assert.matches("the host closed the console", s, 1, true)
  end)

  it("refuses a socket path that exists and is not a socket", function()
    local path = home .. "/not-a-socket"
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
    socket = home .. "/console.sock"
    local sleeper = sh.script("require('moonbeam').receive()")
    -- A host killed with SIGKILL leaves its socket behind.
    sh.run("timeout -s KILL 2 " .. BIN .. " run " .. sh.quote(sleeper) .. " --console-socket " .. sh.quote(socket))
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
    local errors = home .. "/host.err"
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
    local c = attach()
    local s = c:enter([[call("counter", "increment")]])
    assert.matches('call%("counter", "increment"%)\n101\n', s)
    assert.equal("", tty.read_file(errors))
  end)

  -- Root owns the spec's socket, and the client runs as nobody; the mode
  -- lets nobody connect, as another user's socket may.
  local as_root = select(2, sh.run("id -u")) == "0\n"
  local it_as_root = as_root and it or pending

  it_as_root("refuses a socket another user owns, before it connects (needs root and setpriv)", function()
    local path = home .. "/other-users.sock"
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
    local path = home .. "/looks-like-mine.sock"
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
    local status, _, err = sh.run(BIN .. " attach " .. sh.quote(home .. "/nothing.sock"))
    assert.equal(1, status)
    assert.matches("cannot connect", err, 1, true)
  end)
end)

describe("the moonbeam command line", function()
  it("--version prints the version and exits 0", function()
    local status, out = sh.run(BIN .. " --version")
    assert.equal(0, status)
    assert.matches("^moonbeam %d+%.%d+%.%d+ %(LuaJIT", out)
  end)

  it("--help describes the console, attach, -e, -l and --console-socket", function()
    local status, out = sh.run(BIN .. " --help")
    assert.equal(0, status)
    for _, word in ipairs({ "attach SOCKET", "-e CODE", "-l MODULE", "--console-socket PATH", "--schedulers N",
                            "--max-processes N", "console" }) do
      assert.matches(word, out, 1, true)
    end
  end)

  it("-e runs code as the first process: exit 0, or 1 when it fails", function()
    local status, out = sh.run(BIN .. [[ -e 'print(1 + 1)']])
    assert.equal(0, status)
    assert.equal("2\n", out)
    local err
    status, out, err = sh.run(BIN .. [[ -e 'error("bad code")']])
    assert.equal(1, status)
    assert.matches("bad code", err, 1, true)
  end)

  it("-l requires a module as a global before -e and the script", function()
    local script = sh.script("print(type(console_counter.init), arg[1])")
    local status, out, err = sh.run(BIN .. " -l spec.support.console_counter -e 'print(arg[1])' run "
      .. sh.quote(script) .. " x")
    assert.equal(0, status, err)
    assert.equal("x\nfunction\tx\n", out)
  end)

  it("takes host options after `run SCRIPT`, and `--` ends them", function()
    local script = sh.script("print(select('#', ...), ...)")
    local status, out = sh.run(BIN .. " run " .. sh.quote(script) .. " --schedulers 2 a -- b")
    assert.equal(0, status)
    assert.equal("3\ta\t--\tb\n", out)
    status, out = sh.run(BIN .. " run " .. sh.quote(script) .. " -- --schedulers 2")
    assert.equal(0, status)
    assert.equal("2\t--schedulers\t2\n", out)
  end)

  it("exits 2 with a clear message on a usage error", function()
    local cases = {
      { "attach", "attach needs the path" },
      { "attach a b", "attach takes one argument" },
      { "--console-socket", "--console-socket needs a path" },
      { "-e", "-e needs some code" },
      { "-l", "-l needs a module name" },
      { "script.lua", "unknown command 'script.lua'" },
      { "--bogus", "unknown option '--bogus'" },
    }
    for _, c in ipairs(cases) do
      local status, out, err = sh.run(BIN .. " " .. c[1])
      assert.equal(2, status, c[1])
      assert.equal("", out, c[1])
      assert.matches(c[2], err, 1, true)
    end
  end)

  it("evaluates lines from a pipe without line editing", function()
    local status, out, err = sh.run("printf '1 + 1\\nx = 3\\nx * 2\\n' | env HOME=" .. sh.quote(home) .. " " .. BIN)
    assert.equal(0, status, err)
    assert.matches("\n2\n6\n$", out)
  end)
end)
