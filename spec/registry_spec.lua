-- moonbeam.registry: Elixir's Registry over shared tables. Every call, the
-- unhappy paths, entries gone before a dead holder's DOWN, partitions,
-- racing registrations, and via names wherever a name is accepted.

local mb = require "moonbeam"
local registry = require "moonbeam.registry"
local gen = require "moonbeam.gen_server"
local sup = require "moonbeam.supervisor"
local h = require "spec.support.helpers"

local function start_as(name, keys, partitions)
  return assert(registry.start_link({ name = name, keys = keys or "unique", partitions = partitions }))
end

local function start(keys, partitions)
  local name = h.name("reg")
  return name, start_as(name, keys, partitions)
end

-- A process that runs registry[m[2]](unpack(m, 3)) for each {"do", ...} it
-- gets and sends back {"done", results...}; "exit" ends it.
local function agent()
  return mb.spawn(function(parent)
    local mb = require "moonbeam"
    local registry = require "moonbeam.registry"
    while true do
      local m = mb.receive()
      if m == "exit" then return end
      local r = { pcall(registry[m[2]], unpack(m, 3, m.n)) }
      mb.send(parent, { "done", r[1], r[2], r[3] })
    end
  end, mb.self())
end

local function ask(pid, call, ...)
  mb.send(pid, { "do", call, n = 2 + select("#", ...), ... })
  local m = h.expect(h.tuple("done"), "the agent's " .. call)
  assert(m[2], h.text(m[3]))
  return m[3], m[4]
end

local Echo = {}
function Echo.init(arg) return "ok", arg end
function Echo.handle_call(req, _, s)
  if req == "state" then return "reply", s, s end
  return "reply", req, s
end
function Echo.handle_cast(msg, s) return "noreply", msg end

describe("registry", function()
  before_each(h.before)
  after_each(h.after)

  it("finds the key of each length that its own fresh process registered", function()
    local name = start("duplicate")
    local pids = {}
    for n = 1, 100 do
      pids[n] = mb.spawn(function(parent, name, n)
        local mb = require "moonbeam"
        require("moonbeam.registry").register(name, { string.rep("k", n), n }, n)
        mb.send(parent, { "in", n })
        mb.receive()
      end, mb.self(), name, n)
      h.expect(h.tuple("in"), "the register")
    end
    local misses = {}
    for n = 1, 100 do
      local got = registry.lookup(name, { string.rep("k", n), n })
      if not (got[1] and got[1][1] == pids[n] and got[1][2] == n) then misses[#misses + 1] = n end
    end
    assert.same({}, misses)
    for n = 1, 100 do mb.send(pids[n], "exit") end
  end)

  describe("start_link", function()
    it("refuses a name whose directory table's name a table of the program's holds", function()
      local name = h.name("reg")
      local t = require("moonbeam.table").new("moonbeam.registry/" .. name)
      assert.same({ nil, { "table_name_in_use", "moonbeam.registry/" .. name } },
        { registry.start_link({ name = name, keys = "unique" }) })
      assert.is_nil(mb.whereis(name))
      require("moonbeam.table").delete_table(t)
      local pid = assert(registry.start_link({ name = name, keys = "unique" }))
      assert.is_true(registry.register(name, "k", 1))
      mb.unlink(pid)
      mb.exit(pid, "kill")
    end)

    it("starts a registry, and refuses a taken name", function()
      local name, pid = start()
      assert.equal(pid, mb.whereis(name))
      local none, why = registry.start_link({ name = name, keys = "unique" })
      assert.is_nil(none)
      assert.same({ "already_started", pid }, why)
    end)

    it("a failed start's reason prints as words (assert(registry.start_link(...)) reads)", function()
      local name, pid = start()
      local _, why = registry.start_link({ name = name, keys = "unique" })
      assert.equal(('already_started: registry.start_link({keys = "unique", name = "%s"}): %s')
                   :format(name, tostring(pid)), tostring(why))
    end)

    it("refuses bad options", function()
      h.usage_error("registry.start_link", registry.start_link, nil)
      h.usage_error("registry.start_link", registry.start_link, { name = "", keys = "unique" })
      h.usage_error("registry.start_link", registry.start_link, { name = "x", keys = "sometimes" })
      h.usage_error("registry.start_link", registry.start_link, { name = "x", keys = "unique", partitions = 0 })
      h.usage_error("registry.start_link", registry.start_link, { name = "x", keys = "unique", partitions = 1.5 })
    end)

    it("refuses an unknown option, naming it, and starts nothing", function()
      local name = h.name("reg")
      local err = h.usage_error("registry.start_link", registry.start_link,
                                { name = name, keys = "unique", partition = 4 })
      assert.matches("unknown option 'partition'", err, 1, true)
      assert.matches("unknown option '1'", h.usage_error("registry.start_link", registry.start_link,
                                                          { "x", name = name, keys = "unique" }), 1, true)
      assert.is_nil(mb.whereis(name))
    end)

    it("runs as a supervisor's process child, and that child refuses an unknown option", function()
      local name = h.name("reg")
      local s = assert(sup.start_link({
        { id = "registry", type = "process",
          start = { "moonbeam.registry:start_link", { name = name, keys = "duplicate", partitions = 2 } } },
      }))
      assert.is_true(registry.register(name, "k", 1))
      assert.same({ { mb.self(), 1 } }, registry.lookup(name, "k"))
      sup.stop(s)
      -- The child's body, spawned as the supervisor spawns it, ends on the error.
      local pid, ref = mb.spawn_opt("moonbeam.registry:start_link", { monitor = true }, { name = name, key = "unique" })
      assert.matches("registry.start_link: unknown option 'key'", h.text(h.reason(ref)), 1, true)
      assert.is_false(mb.alive(pid))
    end)

    it("gen.stop stops it, by name or pid, with the reason given, and its entries go", function()
      local name, pid = start("duplicate")
      assert.is_true(registry.register(name, "k", 1))
      assert.is_true(gen.stop(name, "normal", 2000))
      assert.is_false(mb.alive(pid))
      assert.same({ nil, "unknown_registry" }, { registry.lookup(name, "k") })
      local was = mb.trap_exit(true)
      name, pid = start()
      assert.is_true(gen.stop(pid, { "shutdown", "done" }, 2000))
      assert.same({ "EXIT", pid, { "shutdown", "done" } }, h.expect(h.tuple("EXIT", pid), "the registry's EXIT"))
      mb.trap_exit(was)
    end)

    it("the registry's death takes its entries with it", function()
      local name, pid = start()
      assert.is_true(registry.register(name, "k", 1))
      local ref = mb.monitor(pid)
      mb.exit(pid, "kill")
      h.down(ref)
      assert.same({ nil, "unknown_registry" }, { registry.lookup(name, "k") })
      assert.same({ nil, "unknown_registry" }, { registry.register(name, "k") })
    end)
  end)

  describe("unique keys", function()
    it("registers, looks up, counts, and lists the caller's keys", function()
      local name, pid = start()
      assert.is_true(registry.register(name, "a", { n = 1 }))
      assert.is_true(registry.register(name, 2, "two"))
      assert.is_true(registry.register(name, { "x", 1 }))
      assert.equal(1, select("#", registry.register(name, "one value")))   -- true alone
      assert.is_true(registry.unregister(name, "one value"))
      local me = mb.self()
      assert.same({ { me, { n = 1 } } }, registry.lookup(name, "a"))
      assert.same({ { me, "two" } }, registry.lookup(pid, 2))
      assert.same({ { me } }, registry.lookup(name, { "x", 1 }))
      assert.same({}, registry.lookup(name, "missing"))
      assert.equal(3, registry.count(name))
      assert.same({ "a", 2, { "x", 1 } }, registry.keys(name, me))
      assert.same({}, registry.keys(name, h.dead_pid()))
    end)

    it("refuses a taken key, naming its holder (the caller too)", function()
      local name = start()
      assert.is_true(registry.register(name, "k", 1))
      assert.same({ nil, { "already_registered", mb.self() } }, { registry.register(name, "k", 2) })
      local other = agent()
      local ok, why = ask(other, "register", name, "k")
      assert.is_nil(ok)
      assert.same({ "already_registered", mb.self() }, why)
      assert.same({ { mb.self(), 1 } }, registry.lookup(name, "k"))
    end)

    it("unregister removes only the caller's entry", function()
      local name = start()
      local other = agent()
      assert.is_true(ask(other, "register", name, "k", "theirs"))
      assert.is_true(registry.unregister(name, "k"))
      assert.same({ { other, "theirs" } }, registry.lookup(name, "k"))
      assert.is_true(ask(other, "unregister", name, "k"))
      assert.same({}, registry.lookup(name, "k"))
      assert.is_true(registry.unregister(name, "never"))
      assert.is_true(registry.register(name, "k"))
    end)

    it("update_value changes the caller's own value, and nothing else", function()
      local name = start()
      assert.is_true(registry.register(name, "k", 1))
      assert.equal(2, registry.update_value(name, "k", function(v) return v + 1 end))
      assert.same({ { mb.self(), 2 } }, registry.lookup(name, "k"))
      assert.same({ nil, "not_registered" }, { registry.update_value(name, "nope", function() return 0 end) })
      local other = agent()
      local r, why = ask(other, "update_value", name, "k", function() return 99 end)
      assert.is_nil(r)
      assert.equal("not_registered", why)
      assert.same({ { mb.self(), 2 } }, registry.lookup(name, "k"))
    end)

    it("a dead holder's entries are gone by the time its DOWN arrives", function()
      local name = start()
      local other = agent()
      assert.is_true(ask(other, "register", name, "k1", 1))
      assert.is_true(ask(other, "register", name, "k2", 2))
      local ref = mb.monitor(other)
      mb.exit(other, "kill")
      h.down(ref)
      assert.same({}, registry.lookup(name, "k1"))
      assert.same({}, registry.lookup(name, "k2"))
      assert.equal(0, registry.count(name))
      assert.is_true(registry.register(name, "k1"))
    end)

    it("of processes on every scheduler racing for one key, exactly one wins", function()
      local name = start("unique", 4)
      for round = 1, 20 do
        local key = "race" .. round
        local n = 8
        for _ = 1, n do
          mb.spawn(function(parent, name, key)
            local mb = require "moonbeam"
            local registry = require "moonbeam.registry"
            local ok = registry.register(name, key)
            mb.send(parent, { "raced", ok == true })
            mb.receive()   -- keeps its entry until killed
          end, mb.self(), name, key)
        end
        local wins = 0
        for _ = 1, n do
          if h.expect(h.tuple("raced"), "a racer")[2] then wins = wins + 1 end
        end
        assert.equal(1, wins)
        assert.equal(1, #registry.lookup(name, key))
      end
    end)

    it("keys of a process that is registering meanwhile reads a consistent list", function()
      local name = start("unique", 2)
      local pid = mb.spawn(function(parent, name)
        local mb = require "moonbeam"
        local registry = require "moonbeam.registry"
        for i = 1, 300 do registry.register(name, i) end
        mb.send(parent, "registered")
        mb.receive()
      end, mb.self(), name)
      local last = 0
      repeat
        local keys = registry.keys(name, pid)
        for i = 1, #keys do assert.equal(i, keys[i]) end
        assert.is_true(#keys >= last)
        last = #keys
      until mb.receive(function(m) return m == "registered" end, 0)
      assert.equal(300, #registry.keys(name, pid))
    end)
  end)

  describe("duplicate keys", function()
    it("holds many entries per key, the same process's too", function()
      local name = start("duplicate")
      local other = agent()
      assert.is_true(registry.register(name, "topic", "a"))
      assert.is_true(registry.register(name, "topic", "b"))
      assert.is_true(ask(other, "register", name, "topic", "c"))
      local me = mb.self()
      assert.same({ { me, "a" }, { me, "b" }, { other, "c" } }, registry.lookup(name, "topic"))
      assert.same({ "topic", "topic" }, registry.keys(name, me))
      assert.equal(3, registry.count(name))
      assert.is_true(registry.unregister(name, "topic"))
      assert.same({ { other, "c" } }, registry.lookup(name, "topic"))
      assert.same({}, registry.keys(name, me))
      h.usage_error("registry.update_value", registry.update_value, name, "topic", function() end)
    end)

    it("dispatch calls fn for each entry, in the caller, and never without one", function()
      local name = start("duplicate")
      local other = agent()
      assert.is_true(registry.register(name, "t", 1))
      assert.is_true(ask(other, "register", name, "t", 2))
      local seen = {}
      assert.is_true(registry.dispatch(name, "t", function(e, extra)
        seen[#seen + 1] = { e[1], e[2], extra, mb.self() }
      end, "x"))
      assert.same({ { mb.self(), 1, "x", mb.self() }, { other, 2, "x", mb.self() } }, seen)
      local called = false
      assert.is_true(registry.dispatch(name, "none", function() called = true end))
      assert.is_false(called)
    end)

    it("keeps a key's entries in the order they came as holders come and go", function()
      local name = start("duplicate")
      local holders = {}
      for i = 1, 6 do
        holders[i] = agent()
        assert.is_true(ask(holders[i], "register", name, "topic", i))
      end
      for _, i in ipairs({ 1, 4, 6 }) do   -- the first, a middle one, the last
        local ref = mb.monitor(holders[i])
        mb.send(holders[i], "exit")
        h.down(ref)
      end
      for i = 7, 8 do
        holders[i] = agent()
        assert.is_true(ask(holders[i], "register", name, "topic", i))
      end
      local want = {}
      for _, i in ipairs({ 2, 3, 5, 7, 8 }) do want[#want + 1] = { holders[i], i } end
      assert.same(want, registry.lookup(name, "topic"))
    end)

    it("a dead process's entries go, the others stay", function()
      local name = start("duplicate", 3)
      local other = agent()
      assert.is_true(registry.register(name, "t", "mine"))
      assert.is_true(ask(other, "register", name, "t", "theirs"))
      local ref = mb.monitor(other)
      mb.send(other, "exit")
      h.down(ref)
      assert.same({ { mb.self(), "mine" } }, registry.lookup(name, "t"))
    end)
  end)

  describe("partitions", function()
    it("spreads the entries over its tables, and finds each", function()
      local tab = require "moonbeam.table"
      local name = start("unique", 4)
      for i = 1, 200 do assert.is_true(registry.register(name, "k" .. i, i)) end
      for i = 1, 200 do assert.same({ { mb.self(), i } }, registry.lookup(name, "k" .. i)) end
      assert.equal(200, registry.count(name))
      assert.equal(200, #registry.keys(name, mb.self()))
      local layout = tab.lookup(tab.whereis("moonbeam.registry/" .. name), "layout")
      assert.equal(4, #layout.parts)
      for _, t in ipairs(layout.parts) do
        local n = tab.size(t)
        assert.is_true(n > 10 and n < 100, "a partition holds " .. n)
      end
    end)

    it("serves a caller that uses more partitions than it keeps at hand, and each is gone with the registry", function()
      local name, pid = start("unique", 8)
      for round = 1, 2 do
        for i = 1, 100 do
          local key = "k" .. i
          if round == 1 then assert.is_true(registry.register(name, key, i))
          else assert.equal(-i, registry.update_value(name, key, function(old) return -old end)) end
        end
        for i = 1, 100 do
          assert.same({ { mb.self(), round == 1 and i or -i } }, registry.lookup(name, "k" .. i))
        end
      end
      for i = 1, 100, 2 do assert.is_true(registry.unregister(name, "k" .. i)) end
      assert.equal(50, registry.count(name))
      local ref = mb.monitor(pid)
      mb.exit(pid, "kill")
      h.down(ref)
      for i = 1, 10 do
        assert.same({ nil, "unknown_registry" }, { registry.lookup(name, "k" .. i) })
      end
    end)
  end)

  describe("unhappy paths", function()
    it("an unknown registry gives nil and why", function()
      for _, call in ipairs { "register", "unregister", "lookup", "count" } do
        assert.same({ nil, "unknown_registry" }, { registry[call]("spec_no_such_registry", "k") })
      end
      assert.same({ nil, "unknown_registry" }, { registry.keys("spec_no_such_registry", mb.self()) })
      assert.same({ nil, "unknown_registry" }, { registry.dispatch("spec_no_such_registry", "k", print) })
      assert.same({ nil, "unknown_registry" }, { registry.update_value(h.dead_pid(), "k", print) })
    end)

    it("refuses bad arguments with registry.<call>: errors", function()
      local name = start()
      h.usage_error("registry.register", registry.register, 42, "k")
      h.usage_error("registry.register", registry.register, name, nil)
      h.usage_error("registry.register", registry.register, name, 0 / 0)
      h.usage_error("registry.register", registry.register, name, "k", print)
      h.usage_error("registry.lookup", registry.lookup, name, function() end)
      assert.matches("got an empty string", h.usage_error("registry.lookup", registry.lookup, "", "k"), 1, true)
      assert.matches("NUL byte", h.usage_error("registry.lookup", registry.lookup, "a\0b", "k"), 1, true)
      h.usage_error("registry.keys", registry.keys, name, "not a pid")
      h.usage_error("registry.dispatch", registry.dispatch, name, "k", "not a function")
      h.usage_error("registry.update_value", registry.update_value, name, "k", nil)
      -- a bad key is the call's own, not the lookup's it makes
      assert.matches("bad key", h.usage_error("registry.dispatch", registry.dispatch, name, 0 / 0, print))
      h.usage_error("registry.update_value", registry.update_value, name, function() end, print)
    end)

    it("a program's table with a registry directory's name is no registry", function()
      local name = h.name("reg")
      local other = mb.spawn(function(dir, parent)
        local mb = require "moonbeam"
        require("moonbeam.table").new(dir, { access = "private" })
        mb.send(parent, "made")
        mb.receive()
      end, "moonbeam.registry/" .. name, mb.self())
      h.expect(function(m) return m == "made" end)
      assert.same({ nil, "unknown_registry" }, { registry.lookup(name, "k") })
      assert.is_nil(mb.whereis({ "via", name, "k" }))
      mb.exit(other, "kill")
    end)

    it("answers get_state and get_status, and refuses suspend, at once", function()
      local name, pid = start()
      local status = gen.get_status(name)
      assert.equal(pid, status.pid)
      assert.equal("moonbeam.registry", status.module)
      assert.equal("running", status.status)
      assert.equal(pid, gen.get_state(pid).pid)
      local ok, err = pcall(gen.suspend, name, 1000)
      assert.is_false(ok)
      assert.matches("gen_server.suspend: not supported", err, 1, true)
      assert.same({}, registry.lookup(name, "k"))   -- still serving
    end)

    it("a process child named otherwise than its name option says why it cannot start", function()
      local name = h.name("reg")
      local pid, ref = mb.spawn_opt("moonbeam.registry:start_link", { name = h.name("other"), monitor = true },
                                    { name = name, keys = "unique" })
      local down = h.down(ref)
      assert.equal(pid, down[4])
      assert.matches("registry.start_link: this process is registered as", h.text(down[5]), 1, true)
    end)

    it("update_value on a registry restarted as a duplicate one changes nothing", function()
      local name, pid = start("unique")
      assert.is_true(registry.register(name, "k", "old"))
      local got = { registry.update_value(name, "k", function()
        gen.stop(pid)
        start_as(name, "duplicate")
        assert.is_true(registry.register(name, "k", "x"))
        return "new"
      end) }
      assert.same({ nil, "not_registered" }, got)
      assert.same({ { mb.self(), "x" } }, registry.lookup(name, "k"))
    end)

    it("a process keeps no memory of the registries it met once they stopped", function()
      mb.trap_exit(true)
      local function round(i)
        local name, pid = start("duplicate")
        registry.register(name, "k", i)
        registry.lookup(pid, "k")
        gen.stop(pid)
      end
      for i = 1, 200 do round(i) end
      collectgarbage()
      local before = collectgarbage("count")
      for i = 1, 2000 do round(i) end
      collectgarbage()
      -- A layout kept for each name and pid was ~600 bytes a registry: 1.2 MB here.
      assert.is_true(collectgarbage("count") - before < 300, collectgarbage("count") - before .. " KB more")
      mb.trap_exit(false)
      h.drain()
    end)

    it("registering does not link the caller to the registry", function()
      local name, pid = start()
      local other = agent()
      assert.is_true(ask(other, "register", name, "k"))
      assert.same({}, mb.info(other).links)
      assert.is_false(h.contains(mb.info(pid).links, other))
    end)
  end)

  describe("via names", function()
    it("gen.start registers the new server before init; call, cast and stop reach it", function()
      local name = start()
      local via = { "via", name, "server" }
      local pid = assert(gen.start_link(Echo, "s0", { name = via }))
      assert.same({ { pid } }, registry.lookup(name, "server"))
      assert.equal("hi", gen.call(via, "hi"))
      assert.is_true(gen.cast(via, "s1"))
      assert.equal("s1", gen.call(via, "state"))
      local none, why = gen.start_link(Echo, nil, { name = via })
      assert.is_nil(none)
      assert.same({ "already_started", pid }, why)
      local ref = mb.monitor(pid)
      assert.is_true(gen.stop(via))
      h.down(ref)
      assert.same({}, registry.lookup(name, "server"))
      assert.has_error(function() gen.call(via, "hi") end)
    end)

    it("init sees its own entry", function()
      local name = start()
      local Self = {}
      function Self.init(a)
        local registry = require "moonbeam.registry"
        local mb = require "moonbeam"
        return "ok", registry.lookup(a, "me")[1][1] == mb.self()
      end
      function Self.handle_call(_, _, s) return "reply", s, s end
      assert(gen.start_link(Self, name, { name = { "via", name, "me" } }))
      assert.is_true(gen.call({ "via", name, "me" }, "q"))
    end)

    it("mb.send, mb.whereis and mb.monitor take one", function()
      local name = start()
      local other = agent()
      assert.is_true(ask(other, "register", name, "a"))
      local via = { "via", name, "a" }
      assert.equal(other, mb.whereis(via))
      assert.is_nil(mb.whereis({ "via", name, "nobody" }))
      -- monitor first: once told to exit, other may be gone (and its name
      -- with it) before a monitor by name could find it
      local m = mb.monitor(via)
      assert.is_true(mb.send(via, "exit"))
      local down = h.down(m)
      assert.equal(other, down[4])
      local err = h.usage_error("send", mb.send, { "via", name, "nobody" }, "x")
      assert.matches("no process is registered", err)
      local unknown = { "via", name, "nobody" }
      local ref = mb.monitor(unknown)
      down = h.down(ref)
      assert.equal("noproc", down[5])
      assert.same(unknown, down[4])
    end)

    it("mb.exit takes one, as it takes a registered name", function()
      local name = start()
      local other = agent()
      assert.is_true(ask(other, "register", name, "a"))
      local m = mb.monitor(other)
      mb.exit({ "via", name, "a" }, "kill")
      assert.equal("killed", h.down(m)[5])
      local err = h.usage_error("exit", mb.exit, { "via", name, "nobody" }, "kill")
      assert.matches("exit: no process is registered as {via, " .. name .. ", nobody}", err, 1, true)
    end)

    it("mb.register and mb.unregister take one, for the calling process itself", function()
      local name = start()
      local via = { "via", name, "me" }
      assert.is_true(mb.register(via, mb.self()))
      assert.equal(mb.self(), mb.whereis(via))
      mb.spawn(function(parent, reg)
        local mb = require "moonbeam"
        local ok, why = mb.register({ "via", reg, "me" }, mb.self())
        mb.send(parent, { "tried", tostring(ok), why, mb.unregister({ "via", reg, "me" }) })
      end, mb.self(), name)
      assert.same({ "tried", "nil", "already_registered", false }, h.expect(h.tuple("tried"), "the other's register"))
      local err = h.usage_error("register", mb.register, { "via", name, "x" }, agent())
      assert.matches("register: a via name is taken by the calling process itself", err, 1, true)
      assert.is_true(mb.unregister(via))
      assert.is_nil(mb.whereis(via))
      assert.is_false(mb.unregister(via))
      local ok, why = mb.register({ "via", h.name("noreg"), "k" }, mb.self())
      assert.is_nil(ok)
      assert.equal("unknown_registry", why)
    end)

    it("spawn_opt takes one: the new process holds it before its target runs", function()
      local name = start()
      local via = { "via", name, "sp" }
      local pid = mb.spawn_opt(function(parent, v)
        local mb = require "moonbeam"
        mb.send(parent, { "holds", mb.whereis(v) == mb.self() })
        mb.receive()
      end, { name = via }, mb.self(), via)
      assert.same({ "holds", true }, h.expect(h.tuple("holds"), "the new process's look"))
      assert.equal(pid, mb.whereis(via))
      local before = #mb.processes()
      local err = h.usage_error("spawn_opt", mb.spawn_opt, function() end, { name = via })
      assert.equal("spawn_opt: the name {via, " .. name .. ", sp} is already registered", err)
      assert.equal(before, #mb.processes())   -- the refused one is gone, unseen
      local other, ref = mb.spawn_opt("moonbeam:self", { name = { "via", name, "m" }, monitor = true })
      assert.equal("normal", h.reason(ref))
      assert.is_nil(mb.whereis({ "via", name, "m" }))   -- its name went with it
      assert.is_true(mb.is_pid(other))
      err = h.usage_error("spawn_opt", mb.spawn_opt, function() end, { name = { "via", h.name("noreg"), "k" } })
      assert.matches("spawn_opt: no registry runs for the name {via, ", err, 1, true)
      assert.is_nil(mb.receive(0))   -- no ack, EXIT or DOWN left behind
      mb.exit(pid, "kill")
    end)

    it("send_after and send_interval take one, looked up when the timer is set", function()
      local name = start()
      assert.is_true(mb.register({ "via", name, "t" }, mb.self()))
      mb.send_after(1, { "via", name, "t" }, "once")
      assert.equal("once", mb.receive(2000))
      local iv = mb.send_interval(1, { "via", name, "t" }, "again")
      assert.equal("again", mb.receive(2000))
      assert.equal("again", mb.receive(2000))
      mb.cancel_timer(iv)
      assert.is_true(mb.unregister({ "via", name, "t" }))
      local err = h.usage_error("send_after", mb.send_after, 1, { "via", name, "t" }, "m")
      assert.equal("send_after: no process is registered as {via, " .. name .. ", t}", err)
      err = h.usage_error("send", mb.send, { "via", name, { "svc", 2 } }, "m")
      assert.equal("send: no process is registered as {via, " .. name .. ', {"svc", 2}}', err)
      mb.sleep(5)
      while mb.receive(0) do end
    end)

    it("have three elements: one more is no via name", function()
      local name = start()
      assert.is_true(mb.register({ "via", name, "x" }, mb.self()))
      local err = h.usage_error("send", mb.send, { "via", name, "x", "extra" }, "m")
      assert.matches("send: a name must be", err, 1, true)
      assert.matches("server must be", h.usage_error("gen_server.call", gen.call, { "via", name, "x", "extra" }, "m"), 1, true)
      assert.is_true(mb.unregister({ "via", name, "x" }))
    end)

    it("of a duplicate registry is refused under the name of the call it was given to", function()
      local name = start("duplicate")
      local via = { "via", name, "k" }
      for call, fn in pairs({ ["gen_server.call"] = gen.call, ["gen_server.try_call"] = gen.try_call,
                              ["gen_server.cast"] = gen.cast, ["gen_server.stop"] = gen.stop,
                              ["gen_server.get_state"] = gen.get_state }) do
        assert.matches("via names need a unique registry", h.usage_error(call, fn, via, "x"))
      end
      for call, fn in pairs({ ["gen_server.start"] = gen.start, ["gen_server.start_link"] = gen.start_link }) do
        assert.matches("via names need a unique registry", h.usage_error(call, fn, Echo, nil, { name = via }))
      end
      assert.matches("via names need a unique registry", h.usage_error("whereis", mb.whereis, via))
    end)

    it("follow a registry restarted under its name as the other kind", function()
      -- this process looked each up (and so knows its tables) before the restart
      local name = start("duplicate")
      assert.same({}, registry.lookup(name, "x"))
      assert.is_true(gen.stop(name, "normal", 2000))
      assert(registry.start_link({ name = name, keys = "unique" }))
      local other = agent()
      assert.is_true(ask(other, "register", name, "k"))
      assert.equal(other, mb.whereis({ "via", name, "k" }))
      local name2 = start()
      assert.same({}, registry.lookup(name2, "x"))
      assert.is_true(gen.stop(name2, "normal", 2000))
      assert(registry.start_link({ name = name2, keys = "duplicate" }))
      assert.is_true(ask(other, "register", name2, "k"))
      assert.matches("via names need a unique registry", h.usage_error("whereis", mb.whereis, { "via", name2, "k" }))
      mb.send(other, "exit")
    end)

    it("with a key no table takes is refused under the name of the call it was given to", function()
      local name = start()
      local via = { "via", name, 0 / 0 }
      for call, fn in pairs({ ["gen_server.call"] = gen.call, ["gen_server.cast"] = gen.cast,
                              ["gen_server.stop"] = gen.stop, send = mb.send, whereis = mb.whereis,
                              monitor = mb.monitor }) do
        assert.matches("bad key: NaN", h.usage_error(call, fn, via, "x"))
      end
      assert.matches("bad key", h.usage_error("gen_server.start", gen.start, Echo, nil,
                                              { name = { "via", name, function() end } }))
    end)

    -- {"via", registry} is read as a via name without its key, not as a
    -- process "via" of node "registry" ("node must be name@host").
    it("without its key is refused as a bad name by every call", function()
      local name = start()
      local via = { "via", name }
      local bad = "a name must be a non%-empty string, {name, node} or {\"via\", registry, key}"
      assert.matches(bad, h.usage_error("send", mb.send, via, "x"))
      assert.matches(bad, h.usage_error("whereis", mb.whereis, via))
      assert.matches(bad, h.usage_error("monitor", mb.monitor, via))
      assert.matches("server must be", h.usage_error("gen_server.call", gen.call, via, "x"))
    end)

    it("names a supervisor's worker, which registers itself at each start", function()
      local name = h.name("reg")
      local via = { "via", name, "worker" }
      local s = assert(sup.start_link({
        { id = "registry", type = "process", start = { "moonbeam.registry:start_link", { name = name, keys = "unique" } } },
        { id = "w", module = "spec.support.counter", name = via },
      }))
      local pid = mb.whereis(via)
      assert.is_true(mb.is_pid(pid))
      assert.same({ { pid } }, registry.lookup(name, "worker"))
      local ref = mb.monitor(pid)
      mb.exit(pid, "kill")
      h.down(ref)
      assert.is_true(h.wait_until(function()
        local now = mb.whereis(via)
        return now ~= nil and now ~= pid
      end))
      sup.stop(s)
    end)

    it("a supervisor refuses a via name for a non-worker", function()
      local none, why = sup.start_link({
        { id = "p", type = "process", name = { "via", "r", "k" }, start = { "spec.support.nap:main" } },
      })
      assert.is_nil(none)
      assert.equal("bad_spec", why[1])
    end)
  end)
end)
