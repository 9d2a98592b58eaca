-- gen_server calls between nodes: an Erlang process calls a Lua gen_server
-- by {name, node} and by pid, and a Lua process calls an Erlang gen_server
-- (docs/reference.md, "Nodes"), against real erl nodes.

local sh = require "spec.support.shell"
local N = require "spec.support.nodes"

if not N.have_erl() then
  describe("gen_server across nodes", function()
    pending("erl and epmd are not installed (make deps installs erlang-base)")
  end)
  return
end

describe("gen_server across nodes", function()
  local beams
  setup(function()
    N.epmd()
    -- The Erlang server, compiled for this run.
    beams = os.tmpname()
    os.remove(beams)
    assert(os.execute("mkdir -p " .. beams .. " && erlc -o " .. beams .. " spec/support/node_kv.erl") == 0)
  end)
  teardown(function()
    N.cleanup()
    os.execute("rm -rf " .. sh.quote(beams))
  end)

  it("answers gen_server:call from erl by {name, node} and by pid, and takes its casts", function()
    local alive, full = N.name("lua")
    local ready, done = N.barrier(), N.barrier()
    local ealive = N.name("erl")
    local lua = N.moonbeam("--sname " .. alive .. " --cookie g1", [[
      local mb = require "moonbeam"
      local gen = require "moonbeam.gen_server"
      assert(gen.start("spec.support.node_kv", nil, { name = "kv" }))
      io.stderr:write("kv started\n")   -- where it got to, should erl time out
      io.open(arg[1], "w"):close()
      while not io.open(arg[2]) do mb.sleep(20) end
    ]], { ready, done })
    local erl = N.erl(ealive, "g1", N.ERL_WAIT_FILE .. ([[,
      WaitFile("%s"), N = '%s',
      io:format(standard_error, "ready seen~n", []),
      io:format("~p~n", [gen_server:call({kv, N}, {put, <<"k">>, 1})]),
      io:format("~p~n", [gen_server:call({kv, N}, {get, <<"k">>})]),
      gen_server:cast({kv, N}, {put, <<"c">>, [1, 2.5, x]}),
      io:format("~p~n", [gen_server:call({kv, N}, {get, <<"c">>})]),
      Pid = gen_server:call({kv, N}, whoami),
      io:format("~p ~p~n", [node(Pid) == N, gen_server:call(Pid, {get, <<"k">>})]),
      io:format("~p~n", [gen_server:call(Pid, nope)]),
      %% A reply that cannot cross: an error Erlang can match; the server goes on.
      {error, {'$gen_reply_failed', Why}} = gen_server:call({kv, N}, unsendable),
      io:format("~p~n", [is_binary(Why)]),
      io:format("~p ~p~n", [gen_server:call({kv, N}, nothing), gen_server:call(Pid, nothing)]),
      %% A reply after the call's timeout goes to the call's alias, which
      %% is gone: nothing is left in the caller's mailbox. The held call is
      %% answered only after the timeout (the cast), and before the next
      %% call's answer (one server, one connection: in order).
      {'EXIT', {timeout, _}} = (catch gen_server:call({kv, N}, hold, 50)),
      gen_server:cast({kv, N}, release),
      ok = gen_server:call({kv, N}, {put, <<"z">>, 1}),
      io:format("~p~n", [receive M -> M after 0 -> nothing end]),
      file:write_file("%s", <<>>)]]):format(ready, full, done))
    local estatus, eout, eerr = N.wait_peer(erl, lua, 90000)
    io.open(done, "w"):close()   -- the Lua node ends, whether or not erl got to its end
    local status, _, err = lua:wait(90000)
    assert.equal(0, estatus, eerr)
    assert.equal('ok\n{ok,1}\n{ok,[1,2.5,x]}\ntrue {ok,1}\n{error,<<"bad request">>}\ntrue\nnil nil\nnothing\n', eout)
    assert.equal(0, status, err)
  end)

  it("calls an Erlang gen_server by {name, node} and by pid, casts to it; noproc, noconnection", function()
    local ready, done = N.barrier(), N.barrier()
    local ealive, efull = N.name("erl")
    local erl = N.erl(ealive, "g2", N.ERL_WAIT_FILE .. (', node_kv:start(), file:write_file("%s", <<>>), WaitFile("%s")')
      :format(ready, done), "-pa " .. beams)
    local lua = N.moonbeam("--sname " .. N.name("lua") .. " --cookie g2", N.LUA_CONNECT .. [[
      local gen = require "moonbeam.gen_server"
      say(gen.call({"kv", erl}, mb.tuple(A"put", "k", 7)) == A"ok")
      local r = gen.call({"kv", erl}, mb.tuple(A"get", "k"))
      say(mb.kind(r), r[1] == A"ok", r[2])
      gen.cast({"kv", erl}, mb.tuple(A"put", "c", 9))
      local pid = gen.call({"kv", erl}, A"whoami")
      say(tostring(pid):match("^<[1-9]%d*%.%d+%.%d+>$") ~= nil, gen.call(pid, mb.tuple(A"get", "c"))[2])
      -- Elixir's nil (the atom) as a whole reply is nil.
      say(gen.call({"kv", erl}, A"nothing") == nil, gen.call(pid, A"nothing") == nil)
      gen.cast(pid, mb.tuple(A"put", "d", mb.tuple(1, "x")))
      local d = gen.call(pid, mb.tuple(A"get", "d"))[2]
      say(mb.kind(d), d[1], d[2])
      local ok, e = pcall(gen.call, {"nobody", erl}, A"x", 30000)
      say(ok, e[1])
      -- What Erlang's format cannot carry is the caller's bug, named so.
      say(pcall(gen.call, {"kv", erl}, {f = function() end}))
      say(pcall(gen.stop, {"kv", erl}, 0/0))
      -- Erlang has no nil: a cast of nil was a 1-tuple for handle_info (by
      -- pid), or an internal error (by name); the names were send's.
      for _, to in ipairs({ {"kv", erl}, pid }) do
        say(pcall(gen.cast, to, nil))
        say(pcall(gen.cast, to, {f = function() end}))
        say(pcall(gen.call, to, nil))
      end
      -- A node that cannot be reached: noconnection, not a timeout.
      ok, e = pcall(gen.call, {"kv", "nobody@" .. erl:match("@(.*)")}, A"x", 30000)
      say(ok, e[1], e[2])
      -- A call that times out: the answer that comes later never reaches
      -- the mailbox.
      ok, e = pcall(gen.call, {"kv", erl}, mb.tuple(A"sleep", 300), 50)
      say(ok, e[1])
      say(gen.call({"kv", erl}, mb.tuple(A"sleep", 400), 30000) == A"slept")   -- the first answered by now
      say(mb.receive(0))
      io.open(arg[3], "w"):close()
    ]], { efull, ready, done })
    local status, out, err = N.wait_peer(lua, erl, 90000)
    erl:wait(90000)
    assert.equal(0, status, err)
    assert.equal("true\ntuple\ttrue\t7\ntrue\t9\ntrue\ttrue\ntuple\t1\tx\nfalse\tnoproc\n" ..
                 "false\tgen_server.call: req: cannot go to another node: it holds a function\n" ..
                 "false\tgen_server.stop: reason: cannot go to another node: it holds NaN or an infinity\n" ..
                 ("false\tgen_server.cast: msg: cannot go to another node: it is nil\n" ..
                  "false\tgen_server.cast: msg: cannot go to another node: it holds a function\n" ..
                  "false\tgen_server.call: req: cannot go to another node: it is nil\n"):rep(2) ..
                 "false\texit\tnoconnection\n" ..
                 "false\ttimeout\ntrue\nnil\n", out)
  end)

  it("answers Erlang's sys:get_state and stops for gen_server:stop, with the reason; noproc, timeout", function()
    local alive, full = N.name("lua")
    local ready, done = N.barrier(), N.barrier()
    local lua = N.moonbeam("--sname " .. alive .. " --cookie g3", [[
      local mb = require "moonbeam"
      local gen = require "moonbeam.gen_server"
      assert(gen.start("spec.support.node_kv", nil, { name = "kv" }))
      assert(gen.start("spec.support.node_kv", nil, { name = "kv2" }))
      mb.spawn(function()   -- answers nothing
        local mb = require "moonbeam"
        mb.register("sleeper", mb.self())
        mb.receive(function() return false end)
      end)
      while not mb.whereis("sleeper") do mb.sleep(5) end
      local m1 = mb.monitor("kv")
      mb.monitor("kv2")
      io.open(arg[1], "w"):close()
      local got = {}
      for _ = 1, 2 do
        local m = mb.receive()
        got[m[2] == m1 and 1 or 2] = m[5]
      end
      print(got[1], got[2])
      while not io.open(arg[2]) do mb.sleep(20) end
    ]], { ready, done })
    local erl = N.erl(N.name("erl"), "g3", N.ERL_WAIT_FILE .. ([[,
      WaitFile("%s"), N = '%s',
      ok = gen_server:call({kv, N}, {put, a, 1}),
      io:format("~p~n", [sys:get_state({kv, N})]),
      io:format("~p~n", [gen_server:stop({kv, N}, shutdown, 10000)]),
      io:format("~p~n", [gen_server:stop({kv2, N})]),
      io:format("~p~n", [catch gen_server:stop({kv, N})]),
      io:format("~p~n", [catch gen_server:stop({sleeper, N}, normal, 300)]),
      file:write_file("%s", <<>>)]]):format(ready, full, done))
    local estatus, eout, eerr = N.wait_peer(erl, lua, 90000)
    local status, out, err = lua:wait(90000)
    assert.equal(0, estatus, eerr)
    -- sys:get_state's request was dropped: its tag is an [alias | Ref]
    assert.equal("#{a => 1}\nok\nok\n{'EXIT',noproc}\n{'EXIT',timeout}\n", eout)
    assert.equal(0, status, err)
    assert.equal("shutdown\tnormal\n", out)
  end)

  it("stops an Erlang gen_server with gen_server.stop by {name, node} and by pid; noproc, timeout", function()
    local ready, done = N.barrier(), N.barrier()
    local ealive, efull = N.name("erl")
    -- Erlang's side says how each server ended: OTP's supervisors restart
    -- a transient child that ends otherwise than normal, shutdown or
    -- {shutdown, _} (the reasons went as binaries and a list).
    local erl = N.erl(ealive, "g4", N.ERL_WAIT_FILE .. ([=[, node_kv:start(),
      {ok, P2} = gen_server:start(node_kv, #{}, []), register(kv2, P2),
      {ok, P3} = gen_server:start(node_kv, #{}, []), register(kv3, P3),
      {ok, P4} = gen_server:start(node_kv, #{}, []), register(kv4, P4),
      Refs = [erlang:monitor(process, P) || P <- [whereis(kv), P2, P3, P4]],
      register(sleeper, spawn(fun() -> receive never -> ok end end)),
      file:write_file("%s", <<>>), WaitFile("%s"),
      [receive {'DOWN', R, _, _, Why} -> io:format("down: ~p~n", [Why]) after 5000 -> io:format("down: none~n") end
       || R <- Refs]]=]):format(ready, done), "-pa " .. beams)
    local lua = N.moonbeam("--sname " .. N.name("lua") .. " --cookie g4", N.LUA_CONNECT .. [[
      local gen = require "moonbeam.gen_server"
      local pid = gen.call({"kv2", erl}, A"whoami")
      say(mb.node(pid) == erl, mb.node(mb.self()) == mb.node())
      local mon = mb.monitor(pid)
      say(gen.stop({"kv", erl}, "shutdown"))
      say(gen.stop(pid))
      local m = mb.receive(30000)
      say(m[2] == mon, m[5])
      local ok, e = pcall(gen.stop, {"kv", erl})
      say(ok, e[1])
      ok, e = pcall(gen.stop, {"sleeper", erl}, "normal", 300)
      say(ok, e[1])
      -- reasons that are no atom go as binaries, and come back as strings
      say(gen.stop({"kv3", erl}, string.rep("y", 300)))
      say(gen.stop({"kv4", erl}, { "shutdown", "x" }))
      io.open(arg[3], "w"):close()
    ]], { efull, ready, done })
    local status, out, err = N.wait_peer(lua, erl, 90000)
    local _, eout = erl:wait(90000)
    assert.equal(0, status, err)
    assert.equal("true\ttrue\ntrue\ntrue\ntrue\tnormal\nfalse\tnoproc\nfalse\ttimeout\ntrue\ntrue\n", out)
    -- (OTP's logger prints its error report for the binary reason when it
    -- will, among these lines)
    local downs = {}
    for why in eout:gmatch("down: ([^\n]*)") do downs[#downs + 1] = why end
    assert.same({ "shutdown", "normal", "<<\"" .. string.rep("y", 300) .. "\">>", "{shutdown,<<\"x\">>}" }, downs)
  end)
end)
