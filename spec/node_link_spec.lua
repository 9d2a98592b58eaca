-- Links and exit signals across nodes (docs/reference.md, "Nodes"): Lua
-- processes linked to Erlang processes and Erlang processes linked to Lua
-- ones, each end told of the other's exit; unlink; exit/2 both ways; and
-- "noconnection" for every link across a connection that drops.

local N = require "spec.support.nodes"

if not N.have_erl() then
  describe("links across nodes", function()
    pending("erl and epmd are not installed (make deps installs erlang-base)")
  end)
  return
end

-- An erl node whose spawner hands out agents: {new, From} answers {agent,
-- Pid}. An agent dies on {die, R}; on {link, P, From} it traps exits,
-- links to P and answers {linked, self()}; {unlink, P, From} unlinks and
-- answers {unlinked, self()}; on {links, From} it answers
-- its links; on {exit, P, R, From} it sends exit(P, R) and answers
-- {sent, self()}; an EXIT it traps goes to its From as {exit_seen, P, R}.
-- halt to the spawner ends the node. It creates the file ready once up.
local function agents_node(cookie, ready)
  local alive, full = N.name("erl")
  local job = N.erl(alive, cookie, ([[
    Agent = fun Ag(F) -> receive
      {die, R} -> exit(R);
      {link, P, From} -> process_flag(trap_exit, true), link(P), From ! {linked, self()}, Ag(From);
      {unlink, P, From} -> unlink(P), From ! {unlinked, self()}, Ag(F);
      {links, From} -> {links, L} = process_info(self(), links), From ! {links, L}, Ag(F);
      {exit, P, R, From} -> exit(P, R), From ! {sent, self()}, Ag(F);
      {'EXIT', P, R} -> F ! {exit_seen, P, R}, Ag(F)
    end end,
    register(spawner, spawn(fun Sp() -> receive {new, From} -> From ! {agent, spawn(fun() -> Agent(From) end)}, Sp();
                                                halt -> erlang:halt() end end)),
    file:write_file("%s", <<>>),
    receive never -> ok end]]):format(ready))
  return job, full
end

-- Lua for the moonbeam node: N.LUA_CONNECT's, agent() for a fresh Erlang
-- agent, watched(), and linked() for a Lua process linked to an agent.
local PRELUDE = N.LUA_CONNECT .. [[
local function agent()
  mb.send({"spawner", erl}, mb.tuple(A"new", mb.self()))
  local m = mb.receive(30000)
  assert(m and m[1] == A"agent", "no agent")
  return m[2]
end
-- A Lua process running fn(...), and a monitor of it.
local function watched(fn, ...)
  local pid = mb.spawn(fn, ...)
  return pid, mb.monitor(pid)
end
-- The next two messages, by their first element (in either order).
local function two()
  local got = {}
  for _ = 1, 2 do
    local m = mb.receive(30000)
    got[m[1] ] = m
  end
  return got
end
-- A Lua process (not trapping) linked to the Erlang process a, and its monitor.
local function linked(a)
  local pid, ref = watched(function(a, main)
    local mb = require "moonbeam"
    mb.link(a)
    mb.send(main, "linked")
    mb.receive()
  end, a, mb.self())
  assert(mb.receive(30000) == "linked")
  return pid, ref
end
]]

describe("links across nodes", function()
  setup(function() N.epmd() end)
  teardown(N.cleanup)

  it("ends or tells a Lua process linked to an Erlang one, and breaks links with noconnection", function()
    local ready = N.barrier()
    local _, efull = agents_node("l1", ready)
    local lua = N.moonbeam("--sname " .. N.name("lua") .. " --cookie l1", PRELUDE .. [==[
      mb.trap_exit(true)
      -- Trapping: the Erlang end's exit is a message; an atom reason a string.
      local a = agent()
      assert(mb.link(a) == true)
      mb.send(a, mb.tuple(A"die", A"boom"))
      local m = mb.receive(30000)
      say(m[1], m[2] == a, m[3])
      -- A link to a pid that is gone breaks at once: noproc.
      mb.link(a)
      m = mb.receive(30000)
      say(m[1], m[2] == a, m[3])
      -- "normal" reaches a trapping process too.
      a = agent()
      mb.link(a)
      mb.send(a, mb.tuple(A"die", A"normal"))
      m = mb.receive(30000)
      say(m[1], m[2] == a, m[3])
      -- Not trapping: the Lua process ends with the Erlang end's reason.
      a = agent()
      local child, ref = linked(a)
      mb.send(a, mb.tuple(A"die", A"boom"))
      m = mb.receive(30000)
      say(m[1], m[2] == ref, m[5])
      -- Erlang's view: the link is there, and gone after unlink; its end
      -- then tells nothing (its DOWN comes alone).
      a = agent()
      mb.link(a)
      mb.send(a, mb.tuple(A"links", mb.self()))
      m = mb.receive(30000)
      say(#m[2], m[2][1] == mb.self())
      assert(mb.unlink(a) == true)
      mb.send(a, mb.tuple(A"links", mb.self()))
      m = mb.receive(30000)
      say(#m[2])
      -- Whether it lives, and its info, only its node knows: both raise
      -- (as Erlang's is_process_alive and process_info), never a false "ended".
      for _, f in ipairs({ "alive", "info" }) do
        local ok, e = pcall(mb[f], a)
        say(ok, e)
      end
      local mon = mb.monitor(a)
      mb.send(a, mb.tuple(A"die", A"boom"))
      m = mb.receive(30000)
      say(m[1], m[2] == mon, m[5], mb.receive(0))
      -- The node goes: every link across its connection breaks.
      local trapped = agent()
      mb.link(trapped)
      a = agent()
      child, ref = linked(a)
      mb.send({"spawner", erl}, A"halt")
      local got = two()
      say(got.EXIT[2] == trapped, got.EXIT[3], got.DOWN[2] == ref, got.DOWN[5])
    ]==], { efull, ready })
    local status, out, err = lua:wait(90000)
    assert.equal(0, status, err)
    assert.equal(table.concat({ "EXIT\ttrue\tboom", "EXIT\ttrue\tnoproc", "EXIT\ttrue\tnormal",
                                "DOWN\ttrue\tboom", "1\ttrue", "0",
                                "false\talive: a pid of another node: only that node knows (monitor it)",
                                "false\tinfo: a pid of another node: only that node knows (monitor it)",
                                "DOWN\ttrue\tboom\tnil",
                                "true\tnoconnection\ttrue\tnoconnection", "" }, "\n"), out)
  end)

  it("ends in order with os.exit while a process is linked to an Erlang one", function()
    local ready = N.barrier()
    local _, efull = agents_node("l5", ready)
    local lua = N.moonbeam("--sname " .. N.name("lua") .. " --cookie l5", PRELUDE .. [==[
      mb.trap_exit(true)
      mb.link(agent())
      -- The shutdown walks the first process's links: another node's pid
      -- is left to its node, not looked at.
      os.exit(3)
    ]==], { efull, ready })
    local t0 = os.time()
    local status, _, err = lua:wait(90000)
    assert.equal(3, status, err)
    assert.is_nil(err:find("shutdown did not finish", 1, true), err)
    assert.is_true(os.time() - t0 < 8)
  end)

  it("tells an Erlang process linked to a Lua one its crash, and carries exit/2 both ways", function()
    local ready = N.barrier()
    local _, efull = agents_node("l2", ready)
    local lua = N.moonbeam("--sname " .. N.name("lua") .. " --cookie l2", PRELUDE .. [==[
      local function victim()
        local mb = require "moonbeam"
        local how = mb.receive()
        if how == "crash" then error("boom", 0) end
        mb.exit(how)
      end
      -- Erlang links to a Lua process: it gets the crash, the reason mapped.
      local a, v = agent(), mb.spawn(victim)
      mb.send(a, mb.tuple(A"link", v, mb.self()))
      local m = mb.receive(30000)
      say(m[1], m[2] == a)
      mb.send(v, "crash")
      m = mb.receive(30000)
      say(m[1], m[2] == v, m[3][1], m[3][2])
      -- An exit reason that is a string leaves as an atom.
      v = mb.spawn(victim)
      mb.send(a, mb.tuple(A"link", v, mb.self()))
      mb.receive(30000)
      mb.send(v, "shutdown")
      m = mb.receive(30000)
      say(m[1], m[3] == A"shutdown")
      -- Erlang links to this process and unlinks (UNLINK_ID, acknowledged):
      -- the link's half here comes and goes.
      a = agent()
      mb.send(a, mb.tuple(A"link", mb.self(), mb.self()))
      mb.receive(30000)
      local links = mb.info(mb.self()).links
      say(#links, links[1] == a)
      mb.send(a, mb.tuple(A"unlink", mb.self(), mb.self()))
      m = mb.receive(30000)
      say(m[1], #mb.info(mb.self()).links)
      -- A Lua process linked to an Erlang one ends: Erlang gets its reason.
      -- (An agent linked to itself just traps.)
      a = agent()
      mb.send(a, mb.tuple(A"link", a, mb.self()))
      mb.receive(30000)
      local child, ref = watched(function(a)
        local mb = require "moonbeam"
        mb.link(a)
        mb.exit("gone")
      end, a)
      m = mb.receive(30000)
      local down = m[1] == "DOWN" and m or mb.receive(30000)
      local seen = m[1] == "DOWN" and mb.receive(30000) or m
      say(down[5], seen[1], seen[2] == child, seen[3] == A"gone")
      -- exit/2 from Lua: an Erlang process not trapping ends with the reason.
      a = agent()
      local mon = mb.monitor(a)
      assert(mb.exit(a, "boom") == true)
      m = mb.receive(30000)
      say(m[2] == mon, m[5])
      -- ...and "kill" ends even one that traps, as killed.
      a = agent()
      mb.send(a, mb.tuple(A"link", a, mb.self()))
      mb.receive(30000)
      mon = mb.monitor(a)
      mb.exit(a, "kill")
      m = mb.receive(30000)
      say(m[2] == mon, m[5])
      -- exit/2 from Erlang: kill ends a Lua process as killed, normal
      -- reaches a trapping one as a message.
      a = agent()
      child, ref = watched(function() require("moonbeam").receive() end)
      mb.send(a, mb.tuple(A"exit", child, A"kill", mb.self()))
      local got = two()
      say(got.DOWN[2] == ref, got.DOWN[5])
      mb.trap_exit(true)
      mb.send(a, mb.tuple(A"exit", mb.self(), A"normal", mb.self()))
      got = two()
      say(got.EXIT[2] == a, got.EXIT[3])
      -- The node goes: a Lua process Erlang linked to ends with noconnection.
      child, ref = watched(function() require("moonbeam").receive() end)
      mb.send(agent(), mb.tuple(A"link", child, mb.self()))
      mb.receive(30000)
      mb.monitor_node(erl)
      mb.send({"spawner", erl}, A"halt")
      got = two()
      say(got.nodedown[2] == erl, got.DOWN[2] == ref, got.DOWN[5])
      -- A remote pid that cannot be reached: the link breaks at once.
      mb.link(a)
      m = mb.receive(30000)
      say(m[1], m[2] == a, m[3])
    ]==], { efull, ready })
    local status, out, err = lua:wait(90000)
    assert.equal(0, status, err)
    assert.equal(table.concat({ "linked\ttrue", "exit_seen\ttrue\terror\tboom", "exit_seen\ttrue",
                                "1\ttrue", "unlinked\t0",
                                "gone\texit_seen\ttrue\ttrue", "true\tboom", "true\tkilled",
                                "true\tkilled", "true\tnormal", "true\ttrue\tnoconnection",
                                "EXIT\ttrue\tnoconnection", "" }, "\n"), out)
  end)

  it("links processes of two moonbeam hosts", function()
    local ready, done = N.barrier(), N.barrier()
    local aalive, afull = N.name("lua")
    -- Host A: processes registered as one and two that answer {"pid",
    -- from} with their pid and end with the reason {"exit", r} gives.
    local ja = N.moonbeam("--sname " .. aalive .. " --cookie l4", [==[
      local mb = require "moonbeam"
      for _, name in ipairs({ "one", "two" }) do
        mb.spawn(function(name)
          local mb = require "moonbeam"
          mb.register(name, mb.self())
          while true do
            local m = mb.receive()
            if m[1] == "pid" then mb.send(m[2], mb.self()) else mb.exit(m[2]) end
          end
        end, name)
      end
      while not mb.whereis("two") do mb.sleep(5) end
      io.open(arg[1], "w"):close()
      while not io.open(arg[2]) do mb.sleep(20) end
    ]==], { ready, done })
    local jb = N.moonbeam("--sname " .. N.name("lua") .. " --cookie l4", N.LUA_CONNECT .. [==[
      mb.trap_exit(true)
      local function pid_of(name)
        mb.send({name, erl}, {"pid", mb.self()})
        return mb.receive(30000)
      end
      local one, two = pid_of("one"), pid_of("two")
      mb.link(one)
      mb.link(two)
      mb.send(one, {"exit", "boom"})
      local m = mb.receive(30000)
      say(m[1], m[2] == one, m[3])
      io.open(arg[3], "w"):close()   -- host A ends: the link to two breaks
      m = mb.receive(30000)
      say(m[1], m[2] == two, m[3])
    ]==], { afull, ready, done })
    local status, out, err = jb:wait(90000)
    ja:wait(90000)
    assert.equal(0, status, err)
    assert.equal("EXIT\ttrue\tboom\nEXIT\ttrue\tnoconnection\n", out)
  end)

  it("raises for a link to what is not a pid", function()
    local lua = N.moonbeam("--sname " .. N.name("lua") .. " --cookie l3", [[
      local mb = require "moonbeam"
      print(pcall(mb.link, "nobody@nowhere"))
      print(pcall(mb.unlink, 42))
    ]], {})
    local status, out, err = lua:wait(30000)
    assert.equal(0, status, err)
    assert.matches("^false\t[^\n]*link[^\n]*\nfalse\t[^\n]*unlink", out)
  end)
end)
