-- Monitors across nodes (docs/reference.md, "Nodes"): a Lua process
-- monitors Erlang processes by pid and by {name, node} (DOWN with their
-- exit reason, noproc, or noconnection when the node goes), and Erlang
-- monitors and calls Lua processes (MONITOR_P_EXIT noproc when they end).

local sh = require "spec.support.shell"
local N = require "spec.support.nodes"

if not N.have_erl() then
  describe("monitors across nodes", function()
    pending("erl and epmd are not installed (make deps installs erlang-base)")
  end)
  return
end

describe("monitors across nodes", function()
  local beams
  setup(function()
    N.epmd()
    beams = os.tmpname()
    os.remove(beams)
    assert(os.execute("mkdir -p " .. beams .. " && erlc -o " .. beams ..
      " spec/support/node_kv.erl spec/support/node_stopper.erl") == 0)
  end)
  teardown(function()
    N.cleanup()
    os.execute("rm -rf " .. sh.quote(beams))
  end)

  -- A Lua host that runs source (after N.LUA_CONNECT) beside an erl with
  -- node_kv and node_stopper, both with cookie; its status, stdout, stderr.
  local function beside_kv(cookie, source)
    local ready = N.barrier()
    local ealive, efull = N.name("erl")
    N.erl(ealive, cookie, ('node_kv:start(), node_stopper:run("%s")'):format(ready), "-pa " .. beams)
    local lua = N.moonbeam("--sname " .. N.name("lua") .. " --cookie " .. cookie, N.LUA_CONNECT .. source,
                           { efull, ready })
    return lua:wait(90000)
  end

  it("tells a Lua monitor of an Erlang process its end, noproc, and noconnection", function()
    local ready = N.barrier()
    local ealive, efull = N.name("erl")
    N.erl(ealive, "x1", ('node_kv:start(), node_stopper:run("%s")'):format(ready),
          "-pa " .. beams)
    local lua = N.moonbeam("--sname " .. N.name("lua") .. " --cookie x1", N.LUA_CONNECT .. [[
      local gen = require "moonbeam.gen_server"
      local pid = gen.call({"kv", erl}, A"whoami")
      local by_pid, by_name = mb.monitor(pid), mb.monitor({"kv", erl})
      local nobody = mb.monitor({"nobody", erl})
      local dropped = mb.monitor(pid)
      mb.demonitor(dropped)
      local m = mb.receive(30000)
      say(m[1], m[2] == nobody, m[3], m[4][1], m[4][2] == erl, m[5])
      -- A DOWN already here goes with demonitor's flush: erl answers a
      -- monitor of an absent name before the call that follows it.
      local flushed = mb.monitor({"nobody_either", erl})
      gen.call(pid, A"whoami")
      mb.demonitor(flushed, true)
      -- A call to kv after the monitors: Erlang orders signals per sender,
      -- so kv has its monitors before the stopper (another sender) kills it.
      gen.call(pid, A"whoami")
      mb.send({"stopper", erl}, mb.tuple(A"stop", mb.self()))   -- kills kv
      local got = {}
      for _ = 1, 2 do
        m = mb.receive(30000)
        got[m[2] == by_pid and "pid" or m[2] == by_name and "name" or "?"] = m
      end
      say(got.pid[4] == pid, got.pid[5], got.name[4][1], got.name[5])
      -- {shutdown, Detail} arrives as this contract writes it: {"shutdown", detail}
      mb.send({"stopper", erl}, mb.tuple(A"shutdown_one", mb.self()))
      local one = mb.receive(30000)
      local watch = mb.monitor(one)
      mb.send(one, A"go")
      m = mb.receive(30000)
      say(m[2] == watch, m[5][1], m[5][2] == A"because")
      local stopper = mb.monitor({"stopper", erl})
      mb.send({"stopper", erl}, mb.tuple(A"halt", mb.self()))   -- the node goes
      m = mb.receive(30000)
      say(m[2] == stopper, m[5])
      -- Nothing came for the monitor taken away.
      say(mb.receive(0))
    ]], { efull, ready })
    local status, out, err = lua:wait(90000)
    assert.equal(0, status, err)
    assert.equal(table.concat({ "DOWN\ttrue\tprocess\tnobody\ttrue\tnoproc", "true\tkilled\tkv\tkilled",
                                "true\tshutdown\ttrue", "true\tnoconnection", "nil", "" }, "\n"), out)
  end)

  it("lists a monitor of an Erlang process, by pid and by name, in mb.info's monitors", function()
    local status, out, err = beside_kv("x5", [[
      local gen = require "moonbeam.gen_server"
      local pid = gen.call({"kv", erl}, A"whoami")
      local mine = mb.spawn(function() require("moonbeam").receive() end)
      mb.monitor(mine); mb.monitor(pid); local by_name = mb.monitor({"kv", erl})
      local m = mb.info(mb.self()).monitors
      local named = m[3] and type(m[3]) == "table" and m[3][1] == "kv" and m[3][2] == erl
      say(#m, m[1] == mine, m[2] == pid, named)
      mb.demonitor(by_name)
      say(#mb.info(mb.self()).monitors)
      mb.send({"stopper", erl}, mb.tuple(A"halt", mb.self()))
    ]])
    assert.equal(0, status, err)
    assert.equal("3\ttrue\ttrue\ttrue\n2\n", out)
  end)

  it("leaves no DOWN behind a demonitor made at once after a link and an unlink of the same pid", function()
    local status, out, err = beside_kv("x4", [[
      local gen = require "moonbeam.gen_server"
      mb.trap_exit(true)
      -- The link and unlink queue the connection's frames for its thread:
      -- the monitor's MONITOR_P waits behind them when demonitor comes.
      local strays = 0
      for _ = 1, 20 do
        local pid = gen.call({"kv", erl}, A"mortal")
        mb.link(pid); mb.unlink(pid)
        mb.demonitor(mb.monitor(pid))
        local ref = mb.monitor(pid)   -- one that stays: its DOWN says the end has come
        mb.send(pid, A"die")
        local is_down = function(m) return type(m) == "table" and m[1] == "DOWN" end
        local m = mb.receive(is_down, 30000)
        while m do
          if m[2] ~= ref then strays = strays + 1 end
          m = mb.receive(is_down, 100)
        end
      end
      say(strays)
      mb.send({"stopper", erl}, mb.tuple(A"halt", mb.self()))
    ]])
    assert.equal(0, status, err)
    assert.equal("0\n", out)
  end)

  it("leaves no DOWN behind a demonitor with flush, even one racing the node's answer", function()
    local status, out, err = beside_kv("x3", [[
      local gen = require "moonbeam.gen_server"
      local pid = gen.call({"kv", erl}, A"whoami")
      -- erl answers each monitor of an absent name with its DOWN (noproc)
      -- in tens of microseconds; the demonitors come from 0 to 80 us after
      -- their monitors, so that some meet the DOWN as it is delivered.
      for i = 1, 4000 do
        local ref = mb.monitor({"nobody", erl})
        local t = os.clock() + (i % 81) * 1e-6
        while os.clock() < t do end
        mb.demonitor(ref, true)
      end
      -- kv's reply comes after every DOWN erl sent before it.
      gen.call(pid, A"whoami")
      say(mb.receive(0))
      mb.send({"stopper", erl}, mb.tuple(A"halt", mb.self()))
    ]])
    assert.equal(0, status, err)
    assert.equal("nil\n", out)
  end)

  it("gives Erlang's monitors of Lua processes the exit reason, by pid and by name; noproc for the absent", function()
    local alive, full = N.name("lua")
    local ready, done = N.barrier(), N.barrier()
    -- Processes that tell their pid until told to end, each its own way:
    -- returning (normal), mb.exit with a string (an atom there) and with
    -- a long one (a binary), a crash, and one that Erlang kills.
    local lua = N.moonbeam("--sname " .. alive .. " --cookie x2", [[
      local mb = require "moonbeam"
      for _, name in ipairs({ "normal", "bye", "sd", "long", "notutf8", "crash", "victim" }) do
        mb.spawn(function(name)
          local mb = require "moonbeam"
          mb.register(name, mb.self())
          local m = mb.receive()
          while mb.kind(m) == "tuple" do
            mb.send(m[2], mb.self())
            m = mb.receive()
          end
          if name == "bye" then mb.exit("bye") end
          if name == "sd" then mb.exit({ "shutdown", "x" }) end   -- {shutdown, <<"x">>} there
          if name == "long" then mb.exit(string.rep("x", 300)) end
          if name == "notutf8" then mb.exit("\255bad") end   -- no atom: a binary there
          if name == "crash" then error("boom", 0) end
          if name == "victim" then mb.receive() end
        end, name)
      end
      while not mb.whereis("victim") do mb.sleep(5) end
      io.open(arg[1], "w"):close()
      while not io.open(arg[2]) do mb.sleep(20) end
    ]], { ready, done })
    local erl = N.erl(N.name("erl"), "x2", N.ERL_WAIT_FILE .. ([=[,
      WaitFile("%s"), N = '%s',
      io:format("~p~n", [catch gen_server:call({nobody, N}, x, 10000)]),
      Down = fun(M) -> receive {'DOWN', M, process, Who, R} -> {Who, R} after 30000 -> none end end,
      PidOf = fun(Name) -> {Name, N} ! {pid, self()}, receive P when is_pid(P) -> P after 30000 -> none end end,
      io:format("~p~n", [[begin
                            P = PidOf(Name), M = erlang:monitor(process, P), P ! go,
                            {Who, R} = Down(M), {Who =:= P, R}
                          end || Name <- [normal, bye, sd]]]),
      ML = erlang:monitor(process, {long, N}), {long, N} ! go,
      {{long, N}, LR} = Down(ML),
      io:format("~p~n", [LR =:= binary:copy(<<"x">>, 300)]),
      MU = erlang:monitor(process, {notutf8, N}), {notutf8, N} ! go,
      io:format("~p~n", [Down(MU) =:= {{notutf8, N}, <<255, "bad">>}]),
      MC = erlang:monitor(process, {crash, N}), {crash, N} ! go,
      {{crash, N}, [E, Msg | _]} = Down(MC),
      io:format("~p ~p~n", [E, Msg]),
      V = PidOf(victim), MV = erlang:monitor(process, V), exit(V, kill),
      io:format("~p~n", [Down(MV) =:= {V, killed}]),
      MA = erlang:monitor(process, V), MN = erlang:monitor(process, {victim, N}),
      io:format("~p ~p~n", [element(2, Down(MA)), Down(MN)]),
      file:write_file("%s", <<>>)]=]):format(ready, full, done))
    local estatus, eout, eerr = N.wait_peer(erl, lua, 90000)
    local status, _, err = lua:wait(90000)
    assert.equal(0, estatus, eerr)
    assert.equal(table.concat({
      "{'EXIT',{noproc,{gen_server,call,[{nobody," .. full .. "},x,10000]}}}",
      "[{true,normal},{true,bye},{true,{shutdown,<<\"x\">>}}]", "true", "true", '<<"error">> <<"boom">>', "true",
      "noproc {{victim," .. full .. "},noproc}", "" }, "\n"), eout)
    assert.equal(0, status, err)
  end)
end)
