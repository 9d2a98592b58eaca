-- Nodes: a moonbeam host in an Erlang cluster (docs/reference.md, "Nodes"),
-- against real erl nodes. Every node here registers with an epmd of this
-- spec's own, on a port of its own, and is killed at the end.

local mb = require "moonbeam"
local sh = require "spec.support.shell"
local N = require "spec.support.nodes"
local h = require "spec.support.helpers"

describe("a host that is not a node", function()
  it("is nonode@nohost, with no nodes, and connects to none", function()
    assert.equal("nonode@nohost", mb.node())
    assert.equal("nonode@nohost", mb.node(mb.self()))
    assert.same({}, mb.nodes())
    assert.is_false(mb.connect("someone@somewhere"))
  end)

  it("takes nodes/1's kinds, and refuses another", function()
    for _, kind in ipairs({ "visible", "hidden", "connected" }) do assert.same({}, mb.nodes(kind)) end
    local ok, err = pcall(mb.nodes, "all")
    assert.is_false(ok)
    assert.matches('nodes: kind must be "visible", "hidden" or "connected"', err, 1, true)
  end)

  it("raises for a node name that is not a string", function()
    assert.has_error(function() mb.connect(42) end, "connect: a node name (string) expected, got number")
    assert.has_error(function() mb.node("a@b") end, "node: a pid expected, got string")
    assert.has_error(function() mb.monitor_node({}) end,
                     "monitor_node: a node name (string) expected, got table")
    assert.has_error(function() mb.monitor_node("a@b", 1) end, "monitor_node: flag must be a boolean, got number")
  end)

  it("fails a call, a stop or a monitor of {name, node} at once with noconnection; a cast and a send drop", function()
    local gen = require "moonbeam.gen_server"
    local function exit_reason(f, ...)
      local ok, e = pcall(f, ...)
      assert.is_false(ok)
      return e[1], e[2]
    end
    assert.same({ "exit", "noconnection" }, { exit_reason(gen.call, { "kv", "a@b" }, "get", 1000) })
    assert.same({ "exit", "noconnection" }, { exit_reason(gen.stop, { "kv", "a@b" }) })
    assert.is_true(gen.cast({ "kv", "a@b" }, "hello"))
    assert.is_true(mb.send({ "kv", "a@b" }, "hello"))
    local ref = mb.monitor({ "kv", "a@b" })
    assert.same({ "DOWN", ref, "process", { "kv", "a@b" }, "noconnection" }, mb.receive(5000))
    assert.is_nil(mb.receive(0))
  end)

  it("takes {name, this node} wherever a name is taken; exit refuses another node's", function()
    local name = "node_spec_" .. tostring(os.time())
    local p = mb.spawn(function()
      local mb = require "moonbeam"
      mb.trap_exit(true)
      local to = mb.receive()
      while true do mb.send(to, mb.receive()) end
    end)
    assert.is_true(mb.register(name, p))
    local here = { name, mb.node() }
    mb.send(here, mb.self())
    mb.send_after(0, here, "after")
    assert.equal("after", mb.receive(5000))
    local t = mb.send_interval(1, here, "tick")
    assert.equal("tick", mb.receive(5000))
    mb.cancel_timer(t)
    assert.is_true(mb.exit(here, "bye"))
    local m = mb.receive(function(m) return type(m) == "table" and m[1] == "EXIT" end, 5000)
    assert.same({ "EXIT", mb.self(), "bye" }, m)
    local there = { name, "a@b" }
    assert.has_error(function() mb.exit(there, "bye") end,
                     "exit: {name, node} of another node is not taken here: give its pid")
    -- A timer to another node's name is set (its node is not reached: dropped
    -- when it fires, as a send is); a name no atom can be raises at once.
    local t1, t2 = mb.send_after(50, there, "x"), mb.send_interval(50, there, "x")
    assert.is_true(mb.cancel_timer(t1) >= 0)
    assert.is_true(mb.cancel_timer(t2) >= 0)
    for _, fn in ipairs({ "send_after", "send_interval" }) do
      assert.has_error(function() mb[fn](1, { "\255", "a@b" }, "x") end,
                       fn .. ": a name on another node is an atom: UTF-8 of 255 bytes at most")
      assert.has_error(function() mb[fn](1, { "", "a@b" }, "x") end,
                       fn .. ": name must be a non-empty string without NUL bytes")
    end
    -- p gone, nothing it forwarded is left for the next test.
    local ref = mb.monitor(p)
    mb.exit(p, "kill")
    assert(mb.receive(function(m) return type(m) == "table" and m[2] == ref end, 5000))
    while mb.receive(0) ~= nil do end
  end)

  it("makes atoms of at most 255 characters of UTF-8, as Erlang takes them", function()
    assert.equal("atom", mb.kind(mb.atom(("a"):rep(255))))
    assert.equal("atom", mb.kind(mb.atom(("\xc3\xa9"):rep(255))))   -- 510 bytes
    assert.equal("atom", mb.kind(mb.atom("\xf0\x9f\x98\x80")))      -- U+1F600, 4 bytes
    -- too long; not UTF-8: a stray byte, an overlong NUL, a surrogate, past U+10FFFF,
    -- a sequence cut short (Erlang drops a connection that sends it one)
    for _, bad in ipairs({ ("a"):rep(256), ("\xc3\xa9"):rep(256), "\255\254", "\xc0\x80", "\xed\xa0\x80",
                           "\xf4\x90\x80\x80", "ab\xc3" }) do
      assert.has_error(function() mb.atom(bad) end, "atom: a name is UTF-8 of at most 255 characters")
    end
  end)

  it("refuses a {name, node} whose name is none: empty, with a NUL (cut there, it named another), or no atom", function()
    local gen = require "moonbeam.gen_server"
    local BAD = "name must be a non-empty string without NUL bytes"
    for _, name in ipairs({ "", "kv\0junk" }) do
      assert.has_error(function() mb.send({ name, "x@localhost" }, "m") end, "send: " .. BAD)
      assert.has_error(function() mb.monitor({ name, "x@localhost" }) end, "monitor: " .. BAD)
      assert.has_error(function() gen.call({ name, "x@localhost" }, "m", 100) end, "gen_server.call: " .. BAD)
    end
    local long = ("x"):rep(256)
    assert.has_error(function() mb.send({ long, "x@localhost" }, "m") end,
                     "send: a name on another node is an atom: UTF-8 of 255 bytes at most")
    assert.has_error(function() mb.monitor({ long, "x@localhost" }) end,
                     "monitor: a name on another node is an atom: UTF-8 of 255 bytes at most")
    -- Not UTF-8: Erlang drops the connection over such an atom.
    assert.has_error(function() mb.send({ "\255\254", "x@localhost" }, "m") end,
                     "send: a name on another node is an atom: UTF-8 of 255 bytes at most")
    assert.is_true(mb.send({ "kv", "x@localhost" }, "m"))   -- a name, on a node not reached: dropped
  end)

  it("refuses a node that is not name@host wherever a node name is taken, and changes nothing", function()
    local gen = require "moonbeam.gen_server"
    local agent = require "moonbeam.agent"
    local BAD = {
      [""] = "it has no '@'", ["lua"] = "it has no '@'", ["@host"] = "its name (before '@') is empty",
      ["lua@"] = "its host (after '@') is empty", ["@"] = "its name (before '@') is empty",
      ["lua\0@host"] = "it holds a NUL byte", ["\255@host"] = "it is no atom (UTF-8 of 255 bytes at most)",
      [("x"):rep(251) .. "@host"] = "it is no atom (UTF-8 of 255 bytes at most)",
    }
    for node, why in pairs(BAD) do
      local pair = { "kv", node }
      local calls = {
        monitor_node = function() return mb.monitor_node(node) end,
        send = function() return mb.send(pair, "m") end,
        monitor = function() return mb.monitor(pair) end,
        whereis = function() return mb.whereis(pair) end,
        send_after = function() return mb.send_after(1, pair, "m") end,
        send_interval = function() return mb.send_interval(1, pair, "m") end,
        exit = function() return mb.exit(pair, "bye") end,
        ["gen_server.call"] = function() return gen.call(pair, "m", 100) end,
        ["gen_server.try_call"] = function() return gen.try_call(pair, "m", 100) end,
        ["gen_server.cast"] = function() return gen.cast(pair, "m") end,
        ["gen_server.stop"] = function() return gen.stop(pair, "normal", 100) end,
        ["agent.cast"] = function() return agent.cast(pair, function(x) return x end) end,
        ["agent.stop"] = function() return agent.stop(pair) end,
      }
      for fn, call in pairs(calls) do
        assert.has_error(call, fn .. ": node must be name@host: " .. why)
      end
      assert.has_error(function() mb.monitor_node(node, false) end, "monitor_node: node must be name@host: " .. why)
    end
    -- connect answers false, as Erlang's net_kernel:connect_node.
    for node in pairs(BAD) do assert.is_false(mb.connect(node)) end
    -- No nodedown, DOWN or timer message came of any of them.
    assert.is_nil(mb.receive(50))
    -- A name part of '-' or a host with dots is still a name, as in Erlang.
    assert.is_true(mb.monitor_node("a-b@host.example"))
    assert.same({ "nodedown", "a-b@host.example" }, mb.receive(5000))
  end)

  it("tells monitor_node's caller at once that a node is down", function()
    assert.is_true(mb.monitor_node("a@b"))
    assert.same({ "nodedown", "a@b" }, mb.receive(5000))
    assert.is_true(mb.monitor_node("a@b", false))
    assert.is_nil(mb.receive(0))
    -- This node itself never goes down (Erlang's monitor_node(node(), true)).
    assert.is_true(mb.monitor_node(mb.node()))
    assert.is_nil(mb.receive(100))
  end)
end)

if not N.have_erl() then
  describe("nodes", function()
    pending("erl and epmd are not installed (make deps installs erlang-base)")
  end)
  return
end

-- Lua that waits, bounded, until f() is true; raises what otherwise.
local WAIT = [[
local mb = require "moonbeam"
local function wait(f, what)
  local deadline = mb.now() + 60000
  while not f() do
    if mb.now() > deadline then error("timed out waiting for " .. what, 0) end
    mb.sleep(20)
  end
end
local function has(node) for _, n in ipairs(mb.nodes()) do if n == node then return true end end end
local function say(...) print(...) io.stdout:flush() end
local function wait_file(path) wait(function() local f = io.open(path) return f and f:close() end, path) end
local function touch(path) io.open(path, "w"):close() end
]]

describe("nodes", function()
  setup(function() N.epmd() end)
  teardown(N.cleanup)

  it("registers with epmd under its name, and erl pings it: pong", function()
    local alive, full = N.name("lua")
    local ealive, efull = N.name("erl")
    local seen = N.barrier()
    local lua = N.moonbeam("--sname " .. alive .. " --cookie c1", WAIT .. [[
      say("node", mb.node())
      wait(function() return has(arg[1]) end, "erl in nodes()")
      say("sees", table.concat(mb.nodes(), ","))
      touch(arg[2])
      wait(function() return not has(arg[1]) end, "erl to leave")
    ]], { efull, seen })
    lua:wait_for("node\t" .. full, 60000)
    assert.matches("name " .. alive .. " at port %d+", N.registered())
    local erl = N.erl(ealive, "c1", N.ERL_WAIT_FILE .. ([[,
      io:format("~p ~p~n", [net_adm:ping('%s'), lists:member('%s', nodes())]), WaitFile("%s")]])
      :format(full, full, seen))
    local status, out, err = erl:wait(90000)
    assert.equal(0, status, err)
    assert.equal("pong true\n", out)
    local lstatus, lout, lerr = lua:wait(90000)
    assert.equal(0, lstatus, lerr)
    assert.matches("sees\t" .. efull:gsub("%p", "%%%0"), lout)
  end)

  it("connects to an erl node: both list each other", function()
    local alive, full = N.name("lua")
    local ealive, efull = N.name("erl")
    local seen = N.barrier()
    local erl = N.erl(ealive, "c2", ([[
      Wait = fun W(N) -> case lists:member('%s', nodes()) of true -> ok;
                                       false when N > 0 -> timer:sleep(20), W(N - 1) end end,
      Wait(3000), io:format("erl sees lua~n"), file:write_file("%s", <<>>),
      Gone = fun G() -> case nodes() of [] -> ok; _ -> timer:sleep(20), G() end end, Gone()]]):format(full, seen))
    local lua = N.moonbeam("--sname " .. alive .. " --cookie c2", WAIT .. [[
      -- erl registers a moment after it starts: try until it does.
      local ok
      wait(function() ok = mb.connect(arg[1]) return ok end, "connect")
      say("connected", ok, table.concat(mb.nodes(), ","))
      say("again", mb.connect(arg[1]), #mb.nodes())
      say("self", mb.connect(mb.node()))
      wait_file(arg[2])
    ]], { efull, seen })
    local status, out, err = lua:wait(90000)
    assert.equal(0, status, err)
    assert.equal(("connected\ttrue\t%s\nagain\ttrue\t1\nself\ttrue\n"):format(efull), out)
    local estatus, eout, eerr = erl:wait(90000)
    assert.equal(0, estatus, eerr)
    assert.equal("erl sees lua\n", eout)
  end)

  it("lists a hidden node only when asked, as erlang:nodes/1", function()
    local alive, full = N.name("lua")
    local ealive, efull = N.name("erl")
    local pinged, seen = N.barrier(), N.barrier()
    -- The moonbeam node ends only once erl has its pong: ended as soon as
    -- it saw the connection, it could stop before it answered the ping.
    local lua = N.moonbeam("--sname " .. alive .. " --cookie c9", WAIT .. [[
      local function list(kind) return table.concat(mb.nodes(kind), ",") end
      say("node", mb.node())
      wait(function() return list("hidden") ~= "" end, "the hidden node")
      say(#mb.nodes(), list("visible"), list("hidden"), list("connected"))
      wait_file(arg[2])
      touch(arg[3])
    ]], { efull, pinged, seen })
    lua:wait_for("node\t" .. full, 60000)   -- registered with epmd: erl's ping finds it
    local erl = N.erl(ealive, "c9", N.ERL_WAIT_FILE .. ([[,
      io:format("~p ~p~n", [net_adm:ping('%s'), nodes(hidden)]), file:write_file("%s", <<>>), WaitFile("%s")]])
      :format(full, pinged, seen), "-hidden")
    local status, out, err = N.wait_peer(erl, lua, 90000)
    assert.equal(0, status, err)
    assert.equal(("pong [%s]\n"):format(full), out)
    local lstatus, lout, lerr = lua:wait(90000)
    assert.equal(0, lstatus, lerr)
    assert.equal(("node\t%s\n0\t\t%s\t%s\n"):format(full, efull, efull), lout)
  end)

  it("connects two moonbeam hosts, even when both connect at once", function()
    local a, afull = N.name("lua")
    local b, bfull = N.name("lua")
    local src = WAIT .. [[
      local other = arg[1]
      -- Both wait for the other's registration, then connect at once.
      wait(function() return os.execute("ERL_EPMD_PORT=" .. os.getenv("ERL_EPMD_PORT") ..
        " epmd -names | grep -q 'name " .. other:match("^[^@]+") .. " '") == 0 end, "the other node")
      say("connect", mb.connect(other))
      wait(function() return has(other) end, "the other in nodes()")
      say("nodes", table.concat(mb.nodes(), ","))
      -- Say so, and stay until the other has seen us too.
      touch(arg[2])
      wait_file(arg[3])
    ]]
    local fa, fb = N.barrier(), N.barrier()
    local ja = N.moonbeam("--sname " .. a .. " --cookie c7", src, { bfull, fa, fb })
    local jb = N.moonbeam("--sname " .. b .. " --cookie c7", src, { afull, fb, fa })
    local sa, oa, ea = ja:wait(90000)
    local sb, ob, eb = jb:wait(90000)
    assert.equal(0, sa, ea)
    assert.equal(0, sb, eb)
    assert.equal("connect\ttrue\nnodes\t" .. bfull .. "\n", oa)
    assert.equal("connect\ttrue\nnodes\t" .. afull .. "\n", ob)
  end)

  -- The dial of the node whose name is the smaller gives way ("nok"): what
  -- it had queued waits for the peer's connection, and goes first on it.
  it("loses nothing sent while both sides dial each other at once", function()
    local a, afull = N.name("a_lua")     -- the smaller name: its dial loses
    local z, zfull = N.name("z_erl")
    local go, erl_ready, lua_ready = N.barrier(), N.barrier(), N.barrier()
    local erl = N.erl(z, "c8", N.ERL_WAIT_FILE .. ([[,
      Other = '%s', register(rx, self()), file:write_file("%s", <<>>), WaitFile("%s"),
      spawn(fun() -> [{rx, Other} ! I || I <- lists:seq(1, 1000)] end),
      R = fun Rf(N, F) -> receive M -> Rf(N + 1, case F of none -> M; _ -> F end) after 5000 -> {N, F} end end,
      {N, F} = R(0, none), io:format("erl got ~p from ~p~n", [N, F])]]):format(afull, erl_ready, go))
    local lua = N.moonbeam("--sname " .. a .. " --cookie c8", WAIT .. [[
      mb.register("rx", mb.self())
      touch(arg[3])
      wait_file(arg[2])
      mb.spawn(function(other) local mb = require "moonbeam" for i = 1, 1000 do mb.send({"rx", other}, i) end end, arg[1])
      local n, first = 0, nil
      while true do
        local m = mb.receive(5000)
        if m == nil then break end
        n, first = n + 1, first or m
      end
      say("lua got", n, "from", first)
    ]], { zfull, go, lua_ready })
    -- Both have registered rx (and neither has dialled), then both send at once.
    assert.is_true(h.wait_until(function()
      local e, l = io.open(erl_ready), io.open(lua_ready)
      if e then e:close() end
      if l then l:close() end
      return e and l
    end, 60000), "the nodes never got ready")
    io.open(go, "w"):close()
    local ls, lout, lerr = lua:wait(90000)
    local es, eout, eerr = erl:wait(90000)
    assert.equal(0, ls, lerr)
    assert.equal(0, es, eerr)
    assert.equal("lua got\t1000\tfrom\t1\n", lout)
    assert.equal("erl got 1000 from 1\n", eout)
  end)

  it("the console on a node: nodes() lists the connected nodes", function()
    local alive = N.name("lua")
    local ealive, efull = N.name("erl")
    local done = N.barrier()
    local erl = N.erl(ealive, "c8", N.ERL_WAIT_FILE .. (', WaitFile("%s")'):format(done))
    -- The console reads its lines from a pipe; erl may register a moment later.
    local lines = ("local d = mb.now() + 60000 while not mb.connect(%q) and mb.now() < d do mb.sleep(20) end\n" ..
                   "print('nodes', table.concat(nodes(), ','))\n"):format(efull)
    local status, out, err = sh.run(("printf %%s %s | ERL_EPMD_PORT=%d %s --sname %s --cookie c8"):format(
      sh.quote(lines), N.port, N.BIN, alive), 90)
    io.open(done, "w"):close()
    erl:wait(90000)
    assert.equal(0, status, err)
    assert.matches("nodes\t" .. efull:gsub("%p", "%%%0") .. "\n", out)
  end)

  it("monitor_node: one nodedown per call when the node is killed, at once for an absent one", function()
    local alive = N.name("lua")
    local ealive, efull = N.name("erl")
    local erl = N.erl(ealive, "c9", "timer:sleep(120000)")
    local lua = N.moonbeam("--sname " .. alive .. " --cookie c9", WAIT .. [[
      local erl, nobody = arg[1], "nobody@" .. arg[1]:match("@(.*)")
      wait(function() return mb.connect(erl) end, "connect")
      mb.monitor_node(erl)
      mb.monitor_node(erl)
      mb.monitor_node(erl)
      mb.monitor_node(erl, false)
      mb.monitor_node(mb.node())   -- this node: no nodedown, no connection to itself
      mb.connect(erl)   -- a round trip: the monitors are in place
      say("ready")
      local m = mb.receive(60000)
      say(m[1], m[2] == erl)
      -- A node that is not there is down at once; its word comes after
      -- every nodedown of erl the connection's end sent.
      mb.monitor_node(nobody)
      local n = 1
      while true do
        m = mb.receive(60000)
        if m[2] == nobody then break end
        n = n + 1
      end
      say("erl nodedowns", n, #mb.nodes())
    ]], { efull })
    lua:wait_for("ready", 60000)
    erl:signal("KILL")
    local status, out, err = lua:wait(90000)
    assert.equal(0, status, err)
    assert.equal("ready\nnodedown\ttrue\nerl nodedowns\t2\t0\n", out)
    assert.not_matches("own name", err, 1, true)
  end)

  it("answers false for a node that is not there and for a malformed name, which other calls refuse", function()
    local alive = N.name("lua")
    local lua = N.moonbeam("--sname " .. alive .. " --cookie c3", WAIT .. [[
      say(mb.connect("nobody_here@" .. arg[1]), #mb.nodes())
      for _, bad in ipairs({ "nohost", "x@", "@x" }) do
        say(pcall(mb.connect, bad))
        say(pcall(mb.monitor_node, bad))
        say(pcall(mb.send, { "kv", bad }, "m"))
      end
      say(mb.receive(50), #mb.nodes())
    ]], { N.host })
    local status, out, err = lua:wait(90000)
    assert.equal(0, status, err)
    local want = { "false\t0" }
    for _, why in ipairs({ "it has no '@'", "its host (after '@') is empty", "its name (before '@') is empty" }) do
      want[#want + 1] = "true\tfalse"
      for _, fn in ipairs({ "monitor_node", "send" }) do
        want[#want + 1] = "false\t" .. fn .. ": node must be name@host: " .. why
      end
    end
    want[#want + 1] = "nil\t0\n"
    assert.equal(table.concat(want, "\n"), out)
  end)

  it("refuses a wrong cookie, and says so, both ways", function()
    local alive, full = N.name("lua")
    local ealive, efull = N.name("erl")
    local pinged, done = N.barrier(), N.barrier()
    -- lua is up; erl pings it (refused), then lua connects to erl (refused).
    local lua = N.moonbeam("--sname " .. alive .. " --cookie wrong", WAIT .. [[
      say("node", mb.node())
      wait_file(arg[2])
      say("connect", mb.connect(arg[1]), #mb.nodes())
      touch(arg[3])
    ]], { efull, pinged, done })
    lua:wait_for("node\t" .. full, 60000)
    local erl = N.erl(ealive, "right", N.ERL_WAIT_FILE .. ([[,
      io:format("~p~n", [net_adm:ping('%s')]), file:write_file("%s", <<>>), WaitFile("%s")]])
      :format(full, pinged, done))
    local status, out, err = N.wait_peer(lua, erl, 90000)
    local estatus, eout, eerr = erl:wait(90000)
    assert.equal(0, status, err)
    assert.equal("node\t" .. full .. "\nconnect\tfalse\t0\n", out)
    assert.matches("connection from " .. ealive .. "@[^ ]+ dropped %(awaiting reply%): wrong cookie", err)
    assert.matches("connection to " .. ealive .. "@[^ ]+ dropped %(awaiting ack%): .*cookie", err)
    assert.equal(0, estatus, eerr)
    assert.matches("pang\n", eout)
  end)

  it("drops a node that falls silent for net_ticktime, and keeps one that ticks", function()
    local alive = N.name("lua")
    local ealive, efull = N.name("erl")
    local erl = N.erl(ealive, "c5", "timer:sleep(60000)", "-kernel net_ticktime 2")
    local lua = N.moonbeam("--sname " .. alive .. " --cookie c5 --net-ticktime 2", WAIT .. [[
      wait(function() return mb.connect(arg[1]) end, "connect")
      say("up")
      -- Four tick times: each side's ticks kept the other.
      mb.sleep(4000)
      say("still", #mb.nodes())
      -- Until the spec stops erl, and a tick time more.
      local deadline = mb.now() + 30000
      while #mb.nodes() > 0 and mb.now() < deadline do mb.sleep(20) end
      say("dropped")
    ]], { efull })
    lua:wait_for("still\t1\n", 60000)
    erl:signal("STOP")
    local t0 = sh.clock_ms()
    lua:wait_for("dropped", 30000)
    assert.is_true(sh.clock_ms() - t0 < 15000)
    erl:signal("CONT")
  end)

  it("refuses a name another node holds, and starts epmd when none answers", function()
    local alive = N.name("lua")
    local first = N.moonbeam("--sname " .. alive .. " --cookie c6", WAIT .. "say('up') mb.receive()")
    first:wait_for("up", 60000)
    local status, _, err = sh.run(("ERL_EPMD_PORT=%d %s --sname %s --cookie c6 -e 'x = 1'"):format(
      N.port, N.BIN, alive))
    assert.equal(2, status)
    assert.matches("already registered", err)
    -- An epmd port nobody listens on: the host starts epmd there, and it
    -- is this spec's to stop.
    local port = N.port + 1
    while N.epmd_answers(port) do port = port + 1 end
    local s2, out2, err2 = sh.run(("ERL_EPMD_PORT=%d %s --sname %s --cookie c6 -e 'print(require(\"moonbeam\").node())'")
      :format(port, N.BIN, alive))
    local names = io.popen(("ERL_EPMD_PORT=%d epmd -names 2>&1"):format(port)):read("*a")
    os.execute(("ERL_EPMD_PORT=%d epmd -kill >/dev/null 2>&1"):format(port))
    assert.equal(0, s2, err2)
    assert.equal(alive .. "@" .. N.host .. "\n", out2)
    assert.matches("up and running on port " .. port, names)
  end)
end)
