-- Messages between nodes: the term mapping of docs/reference.md ("Nodes"),
-- both ways, through real erl nodes (spec/support/nodes.lua).

local N = require "spec.support.nodes"

if not N.have_erl() then
  describe("messages between nodes", function()
    pending("erl and epmd are not installed (make deps installs erlang-base)")
  end)
  return
end

-- Lua for the moonbeam node: connect to arg[1] (retrying while erl
-- registers), a deep comparison that checks kinds, and say().
local PRELUDE = [[
local mb = require "moonbeam"
local ffi = require "ffi"
local A = mb.atom
local function say(...) print(...) io.stdout:flush() end
local deadline = mb.now() + 60000
while not mb.connect(arg[1]) do
  if mb.now() > deadline then error("cannot connect to " .. arg[1], 0) end
  mb.sleep(20)
end
-- arg[2]: a file the erl node creates once its processes are registered.
while arg[2] and arg[2] ~= "" and not io.open(arg[2]) do
  if mb.now() > deadline then error("erl never said it was ready", 0) end
  mb.sleep(20)
end
local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  if mb.kind(a) == "atom" or mb.kind(b) == "atom" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
]]

-- An erl node that echoes {From, M} back as M (and answers make_fun with
-- a fun, which moonbeam does not carry), registered as echo (then
-- it creates the file ready); it halts once the file done exists.
local function echo_node(cookie, ready, done)
  local alive, full = N.name("erl")
  local job = N.erl(alive, cookie, N.ERL_WAIT_FILE .. ([[,
    register(echo, spawn(fun Loop() -> receive {From, make_fun} -> From ! fun() -> ok end, Loop();
                                               {From, whoami} -> From ! self(), Loop();
                                               {From, M} -> From ! M, Loop() end end)),
    file:write_file("%s", <<>>), WaitFile("%s")]]):format(ready, done))
  return job, full
end

describe("messages between nodes", function()
  setup(function() N.epmd() end)
  teardown(N.cleanup)

  it("round-trips every mapped kind through an Erlang echo process", function()
    local ready, done = N.barrier(), N.barrier()
    local erl, efull = echo_node("m1", ready, done)
    local lua = N.moonbeam("--sname " .. N.name("lua") .. " --cookie m1", PRELUDE .. [[
      local ref = mb.make_ref()
      local values = {
        A"hello", A"with space", 0, 42, -7, 255, 256, -2^31, 2^31, 2^53, -2^53,
        ffi.new("int64_t", 2)^53 + 1, ffi.new("int64_t", 2)^62, -ffi.new("int64_t", 2)^62,
        3.5, -0.25, 1e300, "", "bin\0ary", ("x"):rep(70000), true, false,
        mb.tuple(), mb.tuple(A"ok", 1), mb.tuple(A"put", "k", mb.tuple(1, 2)),
        {1, 2, 3}, {"a", {"b"}}, {a = 1, b = "x"}, {}, {[1] = "one", [3] = "three"}, {[A"k"] = true, [2.5] = A"v"},
        mb.self(), ref, {mb.tuple(A"k", {x = {1, A"y"}})},
      }
      for i, v in ipairs(values) do
        mb.send({"echo", arg[1]}, mb.tuple(mb.self(), v))
        local m = mb.receive(30000)
        if not same(v, m) then say("differs", i, tostring(v), tostring(m)) end
        -- Tables come back as the kind they left as.
        if type(v) == "table" and mb.kind(v) ~= "atom" then
          -- A plain table: a list when its keys are exactly 1..n (n >= 1).
          local n, keys = 0, 0
          while v[n + 1] ~= nil do n = n + 1 end
          for _ in pairs(v) do keys = keys + 1 end
          local want = mb.kind(v) or (n >= 1 and keys == n and "list" or "map")
          if mb.kind(m) ~= want then say("kind", i, mb.kind(m), want) end
        end
      end
      -- Integers: exact up to 2^53 as numbers, beyond as int64_t.
      mb.send({"echo", arg[1]}, mb.tuple(mb.self(), ffi.new("int64_t", 2)^53))
      local m = mb.receive(30000)
      say("2^53", type(m), m == 2^53)
      say("done", #values)
    ]], { efull, ready })
    local status, out, err = N.wait_peer(lua, erl, 90000)
    io.open(done, "w"):close()
    erl:wait(90000)
    assert.equal(0, status, err)
    assert.equal("2^53\tnumber\ttrue\ndone\t34\n", out)
  end)

  it("lets send_after and send_interval reach a process of another node by its pid or {name, node}", function()
    local ready, done = N.barrier(), N.barrier()
    local erl, efull = echo_node("m5", ready, done)
    local lua = N.moonbeam("--sname " .. N.name("lua") .. " --cookie m5", PRELUDE .. [[
      mb.send({"echo", arg[1]}, mb.tuple(mb.self(), A"whoami"))
      local echo = mb.receive(30000)
      say(mb.node(echo) == arg[1])
      mb.send_after(0, echo, mb.tuple(mb.self(), "after 0"))
      say(mb.receive(30000))
      mb.send_after(50, echo, mb.tuple(mb.self(), "after 50"))
      say(mb.receive(30000))
      local t = mb.send_interval(20, echo, mb.tuple(mb.self(), "tick"))
      say(mb.receive(30000), mb.receive(30000))
      say(mb.cancel_timer(t) >= 0)
      while mb.receive(100) do end
      -- By name: looked up on that node when each message arrives there.
      local named = {"echo", arg[1]}
      mb.send_after(30, named, mb.tuple(mb.self(), "named after"))
      say(mb.receive(30000))
      t = mb.send_interval(20, named, mb.tuple(mb.self(), "named tick"))
      say(mb.receive(30000), mb.receive(30000))
      say(mb.cancel_timer(t) >= 0)
      t = mb.send_after(60000, named, mb.tuple(mb.self(), "never"))
      say(mb.cancel_timer(t) > 59000)
    ]], { efull, ready })
    local status, out, err = N.wait_peer(lua, erl, 90000)
    io.open(done, "w"):close()
    erl:wait(90000)
    assert.equal(0, status, err)
    assert.equal("true\nafter 0\nafter 50\ntick\ttick\ntrue\nnamed after\nnamed tick\tnamed tick\ntrue\ntrue\n",
                 out)
  end)

  it("maps what Erlang sends: atoms, integers, floats, binaries, tuples, lists, maps, pids, refs", function()
    local alive, full = N.name("lua")
    local done = N.barrier()
    local ealive, efull = N.name("erl")
    local erl = N.erl(ealive, "m2", N.ERL_WAIT_FILE .. ([[,
      WaitFile("%s"),
      {lua, '%s'} ! {self(), [ok, undefined, true, 1 bsl 60, -(1 bsl 60), 1 bsl 53, 1.5, 2.0, <<"bin">>,
                              {tag, 1}, [1, 2], "abc", [], #{k => v, 1 => 2}, make_ref(), {}]},
      receive Reply -> io:format("~p~n", [Reply]) end]]):format(done, full))
    local lua = N.moonbeam("--sname " .. alive .. " --cookie m2", PRELUDE .. [[
      mb.register("lua", mb.self())
      local f = io.open(arg[3], "w") f:close()
      local m = mb.receive(60000)
      local from, t = m[1], m[2]
      say(mb.kind(m), tostring(from):match("^<(%d+)%.%d+%.%d+>$") ~= "0", #t)
      say(t[1] == A"ok", t[2] == A"undefined", t[3] == true, mb.kind(t[1]))
      say(tostring(t[4]), tostring(t[5]), type(t[6]), t[6] == 2^53)
      say(t[7], t[8], math.type and "" or "", t[9])
      say(mb.kind(t[10]), t[10][1] == A"tag", t[10][2], mb.kind(t[11]), t[11][1], t[11][2])
      say(mb.kind(t[12]), t[12][1], t[12][2], t[12][3], mb.kind(t[13]), #t[13])
      say(mb.kind(t[14]), t[14][A"k"] == A"v", t[14][1])
      say(tostring(t[15]):match("^#Ref<[1-9]%d*[%.%d]+>$") ~= nil, mb.kind(t[16]), #t[16])
      -- The same remote pid is the same value, however often it comes.
      local seen = { [from] = true }
      mb.send(from, mb.tuple(A"ok", "thanks", from))
      say(seen[from])
    ]], { efull, "", done })
    local status, out, err = N.wait_peer(lua, erl, 90000)
    local estatus, eout, eerr = erl:wait(90000)
    assert.equal(0, status, err)
    assert.equal(table.concat({
      "tuple\ttrue\t16",
      "true\ttrue\ttrue\tatom",
      "1152921504606846976LL\t-1152921504606846976LL\tnumber\ttrue",
      "1.5\t2\t\tbin",
      "tuple\ttrue\t1\tlist\t1\t2",
      "list\t97\t98\t99\tlist\t0",
      "map\ttrue\t2",
      "true\ttuple\t0",
      "true", ""}, "\n"), out)
    assert.equal(0, estatus, eerr)
    assert.matches("^{ok,<<\"thanks\">>,<%d+%.%d+%.%d+>}\n$", eout)
  end)

  it("lets erl send to a registered Lua process by {name, node} and get an answer", function()
    local alive, full = N.name("lua")
    local ready = N.barrier()
    local ealive, efull = N.name("erl")
    local lua = N.moonbeam("--sname " .. alive .. " --cookie m3", [[
      local mb = require "moonbeam"
      mb.register("greeter", mb.self())
      io.open(arg[1], "w"):close()
      for _ = 1, 2 do
        local m = mb.receive()
        mb.send(m[1], mb.tuple(mb.atom("hello"), m[2]))
      end
    ]], { ready })
    local erl = N.erl(ealive, "m3", N.ERL_WAIT_FILE .. ([[,
      WaitFile("%s"),
      {greeter, '%s'} ! {self(), <<"erl">>},
      receive R1 -> io:format("~p~n", [R1]) end,
      {greeter, '%s'} ! {self(), [1, 2.5, an_atom]},
      receive R2 -> io:format("~p~n", [R2]) end]]):format(ready, full, full))
    local estatus, eout, eerr = N.wait_peer(erl, lua, 90000)
    local status, _, err = lua:wait(90000)
    assert.equal(0, estatus, eerr)
    assert.equal("{hello,<<\"erl\">>}\n{hello,[1,2.5,an_atom]}\n", eout)
    assert.equal(0, status, err)
  end)

  -- The connection being made for it was closed as the host stopped: the
  -- message was lost (8 runs of 8), where it is to go within a second.
  it("delivers what a host sent to a node it was not connected to, though it ends right after", function()
    local ready = N.barrier()
    local ealive, efull = N.name("erl")
    local erl = N.erl(ealive, "m8", ([[register(erec, self()), file:write_file("%s", <<>>),
      receive M -> io:format("~p~n", [M]) after 30000 -> io:format("nothing~n") end]]):format(ready))
    local lua = N.moonbeam("--sname " .. N.name("lua") .. " --cookie m8", [[
      local mb = require "moonbeam"
      local deadline = mb.now() + 60000
      while not io.open(arg[2]) do
        assert(mb.now() < deadline, "erl never came up")
        mb.sleep(20)
      end
      mb.send({ "erec", arg[1] }, "sent as it ends")
    ]], { efull, ready })
    local estatus, eout, eerr = N.wait_peer(erl, lua, 90000)
    local status, _, err = lua:wait(90000)
    assert.equal(0, estatus, eerr)
    assert.equal("<<\"sent as it ends\">>\n", eout)
    assert.equal(0, status, err)
  end)

  -- An erl node whose process sink counts the messages it takes in order
  -- (clauses: its receive's own, before {From, done}, which answers the
  -- count), and a moonbeam node running body against it (arg[1] the erl
  -- node); the moonbeam node's output.
  local function against_sink(cookie, clauses, body)
    local ready, done = N.barrier(), N.barrier()
    local alive, efull = N.name("erl")
    local erl = N.erl(alive, cookie, N.ERL_WAIT_FILE .. ([[,
      register(sink, spawn(fun() ->
        process_flag(trap_exit, true),
        L = fun Loop(Next) -> receive
              {From, done} -> From ! {count, Next}, Loop(Next);
              %s
            end end,
        L(0) end)),
      file:write_file("%s", <<>>), WaitFile("%s")]]):format(clauses, ready, done))
    local lua = N.moonbeam("--sname " .. N.name("lua") .. " --cookie " .. cookie, PRELUDE .. body .. [[
      mb.send({"sink", arg[1]}, mb.tuple(mb.self(), A"done"))
      local m = mb.receive(60000)
      say(m and m[2])
    ]], { efull, ready })
    local status, out, err = N.wait_peer(lua, erl, 90000)
    io.open(done, "w"):close()
    local _, eout = erl:wait(90000)
    assert.equal(0, status, err)
    return out, eout
  end

  it("sends a burst of large messages to an Erlang process whole and in order", function()
    -- 80 MB at once, 4 MB a message: more than the socket takes at a time,
    -- so a frame begun by the sender's own thread is finished by the
    -- distribution thread.
    local out, eout = against_sink("m5", [[
              {Seq, Bin} when Seq =:= Next, byte_size(Bin) =:= 4000000 -> Loop(Next + 1);
              Other -> erlang:display({unexpected, element(1, Other), Next}), Loop(Next)]], [[
      local big = ("b"):rep(4000000)
      for i = 0, 19 do mb.send({"sink", arg[1]}, mb.tuple(i, big)) end
    ]])
    assert.equal("20\n", out, eout)
  end)

  -- A process's frames in one slice go out together at its end (or when
  -- it waits); a link goes through the distribution thread, which writes
  -- them first: none is lost, reordered or left behind.
  it("sends a burst of small messages, with monitors and a link among them, whole and in order", function()
    local out, eout = against_sink("m6", [[
              {From, whoami} -> From ! self(), Loop(Next);
              Seq when Seq =:= Next -> Loop(Next + 1);
              {'EXIT', _, _} -> Loop(Next);
              Other -> erlang:display({unexpected, Other, Next}), Loop(Next)]], [[
      local sink = { "sink", arg[1] }
      mb.send(sink, mb.tuple(mb.self(), A"whoami"))
      local pid = mb.receive(10000)
      for i = 0, 29999 do
        mb.send(sink, i)
        if i % 1000 == 0 then mb.demonitor(mb.monitor(pid)) end
        if i == 15000 then mb.link(pid) end
      end
    ]])
    assert.equal("30000\n", out, eout)
  end)

  it("refuses what cannot cross, and drops what Erlang sends that moonbeam does not carry", function()
    local ready, done = N.barrier(), N.barrier()
    local erl, efull = echo_node("m4", ready, done)
    local lua = N.moonbeam("--sname " .. N.name("lua") .. " --cookie m4", PRELUDE .. [[
      for _, bad in ipairs({ function() end, 0/0, 1/0, {f = print} }) do
        local ok, e = pcall(mb.send, {"echo", arg[1]}, mb.tuple(mb.self(), bad))
        say(ok, e)
      end
      -- To a name nobody holds there: dropped, as Erlang drops it.
      mb.send({"nobody", arg[1]}, "lost")
      -- A fun from erl is not carried: that message is dropped (and
      -- logged); the next one arrives.
      mb.send({"echo", arg[1]}, mb.tuple(mb.self(), A"make_fun"))
      mb.send({"echo", arg[1]}, mb.tuple(mb.self(), "after"))
      say(mb.receive(30000))
    ]], { efull, ready })
    local status, out, err = N.wait_peer(lua, erl, 90000)
    io.open(done, "w"):close()
    erl:wait(90000)
    assert.equal(0, status, err)
    assert.equal(table.concat({
      "false\tsend: msg: cannot go to another node: it holds a function",
      "false\tsend: msg: cannot go to another node: it holds NaN or an infinity",
      "false\tsend: msg: cannot go to another node: it holds NaN or an infinity",
      "false\tsend: msg[2].f: cannot send a C function",
      "after", ""}, "\n"), out)
    assert.matches("a message from erl[%w_]+@%S+ dropped: it holds a fun, which moonbeam does not carry", err)
  end)
end)
