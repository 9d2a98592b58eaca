-- Shared tables (moonbeam.table): an ETS for Lua, in the C core. What each
-- call does, what it refuses, ownership and death, TTL, eviction, order,
-- and reads and writes from processes on every scheduler at once.

local mb = require "moonbeam"
local tab = require "moonbeam.table"
local h = require "spec.support.helpers"

-- A process that creates a table with opts, sends {"table", t} to parent,
-- then does what it is told: {"insert", k, v}, "exit" (ends normally).
local function owner(parent, opts)
  local mb = require "moonbeam"
  local tab = require "moonbeam.table"
  local t = tab.new(opts)
  mb.send(parent, { "table", t, mb.self() })
  while true do
    local m = mb.receive()
    if m == "exit" then return end
    if type(m) == "table" and m[1] == "insert" then
      tab.insert(t, m[2], m[3])
      mb.send(parent, { "inserted", m[2] })
    elseif type(m) == "table" and m[1] == "call" then
      local ok, r = pcall(tab[m[2]], t, m[3], m[4])
      mb.send(parent, { "result", ok, r })
    end
  end
end

local function spawn_owner(opts)
  local pid = mb.spawn(owner, mb.self(), opts or {})
  local m = h.expect(h.tuple("table"), "the owner's table")
  return m[2], pid
end

-- Tells an owner to exit and waits for its DOWN.
local function end_owner(pid)
  local ref = mb.monitor(pid)
  mb.send(pid, "exit")
  h.down(ref)
end

-- Runs tab[call](t, ...) in a fresh process; its ok and result (or error).
local function from_other(call, t, a, b, c)
  mb.spawn(function(parent, call, t, a, b, c)
    local mb = require "moonbeam"
    local tab = require "moonbeam.table"
    local ok, r = pcall(tab[call], t, a, b, c)
    mb.send(parent, { "other", ok, r })
  end, mb.self(), call, t, a, b, c)
  local m = h.expect(h.tuple("other"), "the other process's result")
  return m[2], m[3]
end

-- The error tab[call] raised in another process, checked to name the call.
local function refused(call, t, a, b)
  local ok, err = from_other(call, t, a, b)
  assert.is_false(ok)
  assert.matches("^tab%.[a-z_]+: ", err)
  assert.equal("tab." .. call .. ": ", err:sub(1, #call + 6))
  return err
end

describe("tab.new", function()
  before_each(h.before)
  after_each(h.after)

  it("makes a set by default: a handle that prints, compares with == and crosses messages", function()
    local t = tab.new()
    assert.matches("^#Table<%d+>$", tostring(t))
    assert.is_true(tab.insert(t, "k", "v"))
    mb.spawn(function(parent, t)
      local mb = require "moonbeam"
      mb.send(parent, { "back", t, tostring(t) })
    end, mb.self(), t)
    local m = h.expect(h.tuple("back"), "the handle back")
    assert.equal(t, m[2])
    assert.equal(tostring(t), m[3])
    local keyed = { [t] = "yes" }
    assert.equal("yes", keyed[m[2]])
    assert.equal("v", tab.lookup(m[2], "k"))
    assert.equal("set", tab.info(t).type)
    assert.equal(mb.self(), tab.info(t).owner)
  end)

  it("gives its whole name in info and all: a long one, one with a NUL byte", function()
    local long, nul = h.name(("n"):rep(100)), h.name("a") .. "\0b"
    local a, b = tab.new(long), tab.new(nul)
    assert.equal(long, tab.info(a).name)
    assert.equal(nul, tab.info(b).name)
    local seen = {}
    for _, i in ipairs(tab.all()) do seen[i.table] = i.name end
    assert.equal(long, seen[a])
    assert.equal(nul, seen[b])
    assert.is_nil(tab.info(tab.new()).name)
    tab.delete_table(a)
    tab.delete_table(b)
  end)

  it("takes a table as its only argument as opts", function()
    local t = tab.new({ type = "ordered_set", access = "public" })
    assert.equal("ordered_set", tab.info(t).type)
    assert.equal("public", tab.info(t).access)
  end)

  it("names a table in a namespace of its own; a name in use raises", function()
    local name = h.name("tab")
    local t = tab.new(name)
    assert.equal(t, tab.whereis(name))
    assert.is_nil(mb.whereis(name))
    h.usage_error("tab.new", tab.new, name)
    tab.delete_table(t)
    assert.is_nil(tab.whereis(name))
    local t2 = tab.new(name)
    assert.are_not.equal(t, t2)
  end)

  it("refuses unknown options, bad types, access, names and limits", function()
    h.usage_error("tab.new", tab.new, { colour = "red" })
    h.usage_error("tab.new", tab.new, { type = "heap" })
    h.usage_error("tab.new", tab.new, { access = "open" })
    h.usage_error("tab.new", tab.new, "", {})
    h.usage_error("tab.new", tab.new, 42)
    h.usage_error("tab.new", tab.new, { max_memory = -1 })
    for _, mm in ipairs({ 0, 1.5, 2 ^ 53 + 2, 2 ^ 60, 2 ^ 64, 1e300, math.huge, 0 / 0 }) do
      h.usage_error("tab.new", tab.new, { max_memory = mm })
    end
    assert.equal(2 ^ 53, tab.info(tab.new({ max_memory = 2 ^ 53 })).max_memory)
    h.usage_error("tab.new", tab.new, { heir = "nobody" })
  end)

  it("says what is wrong with a name: empty, or not a string; which one is in use", function()
    local WANT = "tab.new: the name must be a non-empty string, got "
    assert.equal(WANT .. "an empty string", h.usage_error("tab.new", tab.new, ""))
    assert.equal(WANT .. "an empty string", h.usage_error("tab.new", tab.new, "", { type = "bag" }))
    assert.equal(WANT .. "number", h.usage_error("tab.new", tab.new, 42))
    local nul = h.name("a") .. "\0b"
    tab.new(nul)
    assert.equal('tab.new: the name "' .. nul:sub(1, -3) .. '\\000b" is in use', h.usage_error("tab.new", tab.new, nul))
  end)
end)

describe("a set", function()
  before_each(h.before)
  after_each(h.after)

  it("inserts, replaces, looks up, tests, deletes and takes", function()
    local t = tab.new()
    assert.is_true(tab.insert(t, "a", { 1, 2, x = { y = "z" } }))
    assert.same({ 1, 2, x = { y = "z" } }, tab.lookup(t, "a"))
    assert.is_true(tab.insert(t, "a", 2))
    assert.equal(2, tab.lookup(t, "a"))
    assert.is_false(tab.insert_new(t, "a", 3))
    assert.is_true(tab.insert_new(t, "b", 3))
    assert.is_true(tab.member(t, "b"))
    assert.is_false(tab.member(t, "c"))
    assert.is_nil(tab.lookup(t, "c"))
    assert.equal(2, tab.size(t))
    assert.is_true(tab.delete(t, "b"))
    assert.is_true(tab.delete(t, "b"))
    assert.equal(2, tab.take(t, "a"))
    assert.is_nil(tab.take(t, "a"))
    assert.equal(0, tab.size(t))
  end)

  it("gives a copy: changing what lookup returned changes nothing stored", function()
    local t = tab.new()
    tab.insert(t, "k", { n = 1 })
    local v = tab.lookup(t, "k")
    v.n = 2
    assert.equal(1, tab.lookup(t, "k").n)
  end)

  it("keys by value: -0.0 and 0, arrays, pids, refs, handles and booleans", function()
    local t = tab.new()
    tab.insert(t, 0, "zero")
    assert.equal("zero", tab.lookup(t, -0.0))
    tab.insert(t, { 1, "a", { true } }, "array")
    assert.equal("array", tab.lookup(t, { 1, "a", { true } }))
    local ref = mb.make_ref()
    tab.insert(t, ref, "ref")
    tab.insert(t, mb.self(), "pid")
    tab.insert(t, t, "handle")
    tab.insert(t, false, "false")
    assert.equal("ref", tab.lookup(t, ref))
    assert.equal("pid", tab.lookup(t, mb.self()))
    assert.equal("handle", tab.lookup(t, t))
    assert.equal("false", tab.lookup(t, false))
    assert.equal(6, tab.size(t))
  end)

  it("refuses nil and NaN keys, functions and tables with other keys, naming the call", function()
    local t = tab.new()
    assert.matches("key is nil", h.usage_error("tab.insert", tab.insert, t, nil, 1))
    assert.matches("NaN", h.usage_error("tab.insert", tab.insert, t, 0 / 0, 1))
    assert.matches("function", h.usage_error("tab.insert", tab.insert, t, "f", function() end))
    assert.matches("function", h.usage_error("tab.insert", tab.insert, t, "f", { deep = { function() end } }))
    h.usage_error("tab.insert", tab.insert, t, function() end, 1)
    h.usage_error("tab.insert", tab.insert, t, { x = 1 }, 1)
    h.usage_error("tab.insert", tab.insert, t, { 1, { 2, { x = 1 } } }, 1)   -- at any depth
    -- What no key can be says what it is (it said "not a key").
    assert.equal("tab.insert: bad key: an atom cannot be a key",
      h.usage_error("tab.insert", tab.insert, t, mb.atom("x"), 1))
    assert.equal("tab.insert: bad key: a tuple, list or map cannot be a key (an array can)",
      h.usage_error("tab.insert", tab.insert, t, mb.tuple(1, 2), 1))
    h.usage_error("tab.insert", tab.insert, t, "k", nil)
    h.usage_error("tab.lookup", tab.lookup, t, nil)
    h.usage_error("tab.insert", tab.insert, "not a table", "k", 1)
    h.usage_error("tab.insert", tab.insert, t, "k", 1, -5)
    assert.equal(0, tab.size(t))
  end)
end)

-- Keys and bag values of every length from 1 to n, written and read back
-- by a fresh process (its encode buffer small at first, grown by them):
-- the misses, as {n, what} pairs, sent to parent.
local function round_trips(parent, t, n, bag)
  local tab = require "moonbeam.table"
  local misses = {}
  for i = 1, n do
    local s = string.rep("k", i)
    if bag then
      tab.insert(t, i, s)
      local ok, got = pcall(tab.lookup, t, i)
      if not ok or got[1] ~= s then misses[#misses + 1] = { i, tostring(got) } end
    else
      for _, k in ipairs({ s, { s, i }, { { s }, -0.0 } }) do
        tab.insert(t, k, i)
        if tab.lookup(t, k) ~= i then misses[#misses + 1] = { i, type(k) } end
      end
    end
  end
  require("moonbeam").send(parent, { "misses", misses, tab.size(t) })
end

describe("a finalizer that uses a table", function()
  before_each(h.before)
  after_each(h.after)

  it("while a call's results are read gets results of its own, and neither is spoiled", function()
    -- A big value's reading allocates, which runs the collector's steps,
    -- and with them the finalizers of garbage: each calls tab.lookup.
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      local tab = require "moonbeam.table"
      local t = tab.new()
      local big = {}
      for i = 1, 10000 do big[i] = "value number " .. i end
      tab.insert(t, "big", big)
      tab.insert(t, "small", { "s", 1, 2, 3 })
      local bad, ran = 0, 0
      collectgarbage("setpause", 50)
      collectgarbage("setstepmul", 400)
      for _ = 1, 10 do
        for _ = 1, 200 do
          getmetatable(newproxy(true)).__gc = function()
            ran = ran + 1
            local s = tab.lookup(t, "small")
            if type(s) ~= "table" or s[1] ~= "s" or s[4] ~= 3 then bad = bad + 1 end
          end
        end
        local got = tab.lookup(t, "big")
        for i = 1, 10000 do
          if got[i] ~= "value number " .. i then bad = bad + 1 break end
        end
      end
      collectgarbage("collect")
      mb.send(parent, { "finalized", ran, bad })
    end, mb.self())
    local m = h.expect(h.tuple("finalized"), "the finalizers' count", 60000)
    assert.is_true(m[2] > 0, "no finalizer ran")
    assert.equal(0, m[3])
  end)
end)

describe("keys and values as they grow", function()
  before_each(h.before)
  after_each(h.after)

  it("finds every key a fresh process inserted, 1 to 300 bytes, alone and in arrays", function()
    local t = tab.new({ access = "public" })
    mb.spawn(round_trips, mb.self(), t, 300)
    local m = h.expect(h.tuple("misses"), "the writer's misses")
    assert.same({}, m[2])
    assert.equal(900, m[3])
    assert.equal(1, tab.lookup(t, { { "k" }, 0 }))   -- and from here
  end)

  it("finds the key of each length that its own fresh process inserted", function()
    local t = tab.new({ access = "public" })
    for n = 1, 100 do
      mb.spawn(function(parent, t, n)
        local tab = require "moonbeam.table"
        tab.insert(t, string.rep("k", n), n)
        require("moonbeam").send(parent, { "in", n })
      end, mb.self(), t, n)
      h.expect(h.tuple("in"), "the insert")
    end
    local misses = {}
    for n = 1, 100 do
      if tab.lookup(t, string.rep("k", n)) ~= n then misses[#misses + 1] = n end
    end
    assert.same({}, misses)
  end)

  it("reads back every bag value a fresh process inserted, 1 to 300 bytes", function()
    local t = tab.new({ type = "bag", access = "public" })
    mb.spawn(round_trips, mb.self(), t, 300, true)
    local m = h.expect(h.tuple("misses"), "the writer's misses")
    assert.same({}, m[2])
    assert.same({ string.rep("k", 29) }, tab.lookup(t, 29))
  end)
end)

describe("bags", function()
  before_each(h.before)
  after_each(h.after)

  it("a bag keeps each distinct value of a key once, in insertion order", function()
    local t = tab.new({ type = "bag" })
    tab.insert(t, "k", 1)
    tab.insert(t, "k", { a = 1, b = 2 })
    tab.insert(t, "k", 1)
    tab.insert(t, "k", { b = 2, a = 1 })
    tab.insert(t, "k", 3)
    assert.same({ 1, { a = 1, b = 2 }, 3 }, tab.lookup(t, "k"))
    assert.same({}, tab.lookup(t, "none"))
    assert.equal(3, tab.size(t))
    assert.equal(3, #tab.to_list(t))
  end)

  it("a duplicate_bag keeps every insert; take returns the array", function()
    local t = tab.new({ type = "duplicate_bag" })
    tab.insert(t, "k", 1)
    tab.insert(t, "k", 1)
    tab.insert(t, "j", 2)
    assert.same({ 1, 1 }, tab.lookup(t, "k"))
    assert.equal(3, tab.size(t))
    assert.is_false(tab.insert_new(t, "k", 5))
    assert.same({ 1, 1 }, tab.take(t, "k"))
    assert.same({}, tab.take(t, "k"))
    assert.equal(1, tab.size(t))
  end)

  it("keeps a key's order as objects go from its front, middle and end, and after", function()
    for _, kind in ipairs({ "bag", "duplicate_bag" }) do
      local t = tab.new({ type = kind })
      for i = 1, 7 do   -- the first, a middle and the last expire
        tab.insert(t, "k", "v" .. i, (i == 1 or i == 4 or i == 7) and 1 or nil)
        tab.insert(t, "other" .. i, i)
      end
      mb.sleep(20)
      tab.insert(t, "k", "v8")   -- the insert reclaims the expired ones first
      assert.same({ "v2", "v3", "v5", "v6", "v8" }, tab.lookup(t, "k"), kind)
      tab.insert(t, "k", "v9")
      assert.same({ "v2", "v3", "v5", "v6", "v8", "v9" }, tab.lookup(t, "k"), kind)
      assert.equal(13, tab.size(t), kind)
      for i = 1, 7 do assert.same({ i }, tab.lookup(t, "other" .. i), kind) end
    end
    local bag = tab.new({ type = "bag" })   -- a value again: replaced in place, the last too
    for _, v in ipairs({ "a", "b", "c", "c", "a", "d" }) do tab.insert(bag, "k", v) end
    assert.same({ "a", "b", "c", "d" }, tab.lookup(bag, "k"))
  end)

  it("keeps every key's objects in order through random inserts and takes", function()
    math.randomseed(7)
    for _, kind in ipairs({ "bag", "duplicate_bag" }) do
      local t, model = tab.new({ type = kind }), {}
      for step = 1, 3000 do
        local k = math.random(40)
        if math.random(10) == 1 then
          assert.same(model[k] or {}, tab.take(t, k), kind .. " take at step " .. step)
          model[k] = nil
        else
          local v = math.random(kind == "bag" and 6 or 1000)
          local vs = model[k] or {}
          model[k] = vs
          local seen = false
          for _, x in ipairs(vs) do seen = seen or x == v end
          if kind == "duplicate_bag" or not seen then vs[#vs + 1] = v end
          tab.insert(t, k, v)
        end
      end
      for k = 1, 40 do assert.same(model[k] or {}, tab.lookup(t, k), kind .. " key " .. k) end
    end
  end)

  it("takes a duplicate_bag's 20,000th object of one key as it took the first", function()
    local t = tab.new({ type = "duplicate_bag" })
    for i = 1, 20000 do tab.insert(t, "topic", i) end
    tab.insert(t, "after", true)
    local got = tab.lookup(t, "topic")
    assert.equal(20000, #got)
    for i = 1, 20000, 997 do assert.equal(i, got[i]) end
    assert.same({ true }, tab.lookup(t, "after"))
  end)

  it("walks a bag's keys once each", function()
    local t = tab.new({ type = "bag" })
    for i = 1, 50 do
      tab.insert(t, i % 10, i)
    end
    local seen, k = {}, tab.first(t)
    while k ~= nil do
      assert.is_nil(seen[k])
      seen[k] = true
      k = tab.next(t, k)
    end
    for i = 0, 9 do assert.is_true(seen[i]) end
  end)
end)

describe("tab.update_counter", function()
  before_each(h.before)
  after_each(h.after)

  it("adds, starting from default; without one a missing key raises", function()
    local t = tab.new()
    assert.equal(15, tab.update_counter(t, "c", 5, 10))
    assert.equal(14, tab.update_counter(t, "c", -1))
    assert.equal(14, tab.lookup(t, "c"))
    assert.matches("not in the table", h.usage_error("tab.update_counter", tab.update_counter, t, "nope", 1))
    tab.insert(t, "s", "text")
    assert.matches("not a number", h.usage_error("tab.update_counter", tab.update_counter, t, "s", 1))
    h.usage_error("tab.update_counter", tab.update_counter, t, "c", "1")
    -- A counter stays finite: NaN or an infinity, once stored, would stick.
    assert.matches("finite", h.usage_error("tab.update_counter", tab.update_counter, t, "c", 0 / 0))
    assert.matches("finite", h.usage_error("tab.update_counter", tab.update_counter, t, "c", math.huge))
    assert.matches("finite", h.usage_error("tab.update_counter", tab.update_counter, t, "new", 1, -math.huge))
    assert.equal(14, tab.lookup(t, "c"))
    assert.is_nil(tab.lookup(t, "new"))
    h.usage_error("tab.update_counter", tab.update_counter, tab.new({ type = "bag" }), "c", 1, 0)
  end)

  it("refuses a result at or past 2^53, where a double stops counting by one", function()
    local t = tab.new()
    tab.insert(t, "c", 2 ^ 53 - 2)
    assert.equal(2 ^ 53 - 1, tab.update_counter(t, "c", 1))
    -- 2^53 itself is refused: 2^53 + 1 would round back to it and be lost.
    assert.matches("out of range", h.usage_error("tab.update_counter", tab.update_counter, t, "c", 1))
    assert.equal(2 ^ 53 - 1, tab.lookup(t, "c"))
    assert.equal(-(2 ^ 53 - 1), tab.update_counter(t, "c", -(2 ^ 54 - 2)))
    assert.matches("out of range", h.usage_error("tab.update_counter", tab.update_counter, t, "c", -1))
    -- Finite steps that would sum to infinity, and a default out of range.
    tab.insert(t, "big", 1e308)
    assert.matches("out of range", h.usage_error("tab.update_counter", tab.update_counter, t, "big", 1e308))
    assert.equal(1e308, tab.lookup(t, "big"))
    assert.matches("out of range", h.usage_error("tab.update_counter", tab.update_counter, t, "new", 0, 2 ^ 60))
    assert.is_nil(tab.lookup(t, "new"))
    -- Fractions stay allowed, as before.
    assert.equal(0.5, tab.update_counter(t, "f", 0.25, 0.25))
  end)

  it("is atomic: processes on every scheduler count without losing one", function()
    local t = tab.new({ access = "public" })
    local n, each = 8, 500
    for _ = 1, n do
      mb.spawn(function(parent, t, each)
        local mb = require "moonbeam"
        local tab = require "moonbeam.table"
        for _ = 1, each do tab.update_counter(t, "hits", 1, 0) end
        mb.send(parent, "counted")
      end, mb.self(), t, each)
    end
    for _ = 1, n do h.expect(function(m) return m == "counted" end, "a counter process") end
    assert.equal(n * each, tab.lookup(t, "hits"))
  end)
end)

describe("an ordered_set", function()
  before_each(h.before)
  after_each(h.after)

  local function keys(t)
    local out, k = {}, tab.first(t)
    while k ~= nil do
      out[#out + 1] = k
      k = tab.next(t, k)
    end
    return out
  end

  it("orders numbers < strings < booleans < pids < refs < arrays", function()
    local t = tab.new({ type = "ordered_set" })
    local ref = mb.make_ref()
    local me = mb.self()
    local all = { { 1, 2 }, "b", ref, true, me, 2.5, { 1 }, false, "a", -3, "ab", { 0, 9 } }
    for _, k in ipairs(all) do tab.insert(t, k, true) end
    assert.same({ -3, 2.5, "a", "ab", "b", false, true, me, ref, { 0, 9 }, { 1 }, { 1, 2 } }, keys(t))
    assert.same({ 1, 2 }, tab.last(t))
    assert.same({ 1 }, tab.prev(t, { 1, 2 }))
    assert.equal(-3, tab.first(t))
    assert.is_nil(tab.prev(t, -3))
    assert.is_nil(tab.next(t, { 1, 2 }))
  end)

  it("orders arrays inside keys element by element, at any depth", function()
    local t = tab.new({ type = "ordered_set" })
    local all = { { 1, { 2 } }, { 1, { 1, 5 } }, { 1, 3 }, { 0 }, { 1, { 2, 0 } }, { 1, { 2, { "x" } } }, { 1 } }
    for i, k in ipairs(all) do tab.insert(t, k, i) end
    assert.same({ { 0 }, { 1 }, { 1, 3 }, { 1, { 1, 5 } }, { 1, { 2 } }, { 1, { 2, 0 } }, { 1, { 2, { "x" } } } },
                keys(t))
    assert.equal(6, tab.lookup(t, { 1, { 2, { "x" } } }))
    assert.is_nil(tab.lookup(t, { 1, { 2, { "y" } } }))
  end)

  it("gives the neighbour of a key not in the table", function()
    local t = tab.new({ type = "ordered_set" })
    for i = 1, 10, 2 do tab.insert(t, i, i) end
    assert.equal(5, tab.next(t, 4))
    assert.equal(3, tab.prev(t, 4))
    assert.equal(1, tab.next(t, -100))
    assert.is_nil(tab.next(t, "after every number"))
    assert.equal(9, tab.prev(t, "after every number"))
  end)

  it("returns ranges, inclusive, with a limit; to_list and select in key order", function()
    local t = tab.new({ type = "ordered_set" })
    for i = 10, 1, -1 do tab.insert(t, i, i * i) end
    assert.same({ { 3, 9 }, { 4, 16 }, { 5, 25 } }, tab.range(t, 3, 5))
    assert.same({ { 3, 9 }, { 4, 16 } }, tab.range(t, 2.5, 100, 2))
    assert.same({}, tab.range(t, 20, 30))
    local l = tab.to_list(t)
    for i = 1, 10 do assert.same({ i, i * i }, l[i]) end
    local limit = 7
    local odd = tab.select(t, function(k, v) return k % 2 == 1 and v < limit * limit end)
    assert.same({ { 1, 1 }, { 3, 9 }, { 5, 25 } }, odd)
    assert.same({ { 2, 4 } }, tab.select(t, function(k) return k % 2 == 0 end, 1))
    -- A limit is an integer >= 1 for range as for select: math.huge is none
    -- (it raised in select and was taken by range); an integer beyond any
    -- table's size is no limit.
    for _, call in ipairs { function(l) return tab.range(t, 1, 10, l) end,
                            function(l) return tab.select(t, function() return true end, l) end } do
      for _, bad in ipairs { math.huge, -math.huge, 0 / 0, 0, 1.5, "2" } do
        assert.matches("^[^ ]*tab%.%a+: limit must be an integer >= 1$", select(2, pcall(call, bad)))
      end
      assert.equal(10, #call(2 ^ 64))
      assert.equal(10, #call(2 ^ 53 + 2))
    end
    h.usage_error("tab.range", tab.range, tab.new(), 1, 2)
    h.usage_error("tab.select", tab.select, t, "fn")
  end)
end)

describe("iterating a set", function()
  before_each(h.before)
  after_each(h.after)

  it("visits every key once; next of a missing key raises", function()
    local t = tab.new()
    for i = 1, 300 do tab.insert(t, "k" .. i, i) end
    local seen, n, k = {}, 0, tab.first(t)
    while k ~= nil do
      assert.is_nil(seen[k])
      seen[k] = true
      n = n + 1
      k = tab.next(t, k)
    end
    assert.equal(300, n)
    assert.is_nil(tab.first(tab.new()))
    h.usage_error("tab.next", tab.next, t, "missing")
  end)
end)

describe("access rights", function()
  before_each(h.before)
  after_each(h.after)

  it("protected: others read, only the owner writes", function()
    local t = tab.new()
    tab.insert(t, "k", 1)
    assert.same({ true, 1 }, { from_other("lookup", t, "k") })
    assert.matches("access", refused("insert", t, "k", 2))
    assert.equal(1, tab.lookup(t, "k"))
  end)

  it("private: only the owner reads or writes; public: anyone", function()
    local p = tab.new({ access = "private" })
    refused("lookup", p, "k")
    local q = tab.new({ access = "public" })
    assert.is_true((from_other("insert", q, "k", 5)))
    assert.equal(5, tab.lookup(q, "k"))
  end)

  it("delete_table and give_away are the owner's, whatever the access", function()
    local q = tab.new({ access = "public" })
    assert.matches("owner", refused("delete_table", q))
    assert.matches("owner", refused("give_away", q, mb.self()))
  end)
end)

describe("a deleted table", function()
  before_each(h.before)
  after_each(h.after)

  it("raises on every call, naming it", function()
    local t = tab.new()
    tab.insert(t, "k", 1)
    assert.is_true(tab.delete_table(t))
    assert.is_nil(tab.info(t))
    for _, call in ipairs { "lookup", "member", "delete", "take", "first", "size", "memory", "to_list" } do
      assert.matches("does not exist", h.usage_error("tab." .. call, tab[call], t, "k"))
    end
    h.usage_error("tab.insert", tab.insert, t, "k", 1)
    h.usage_error("tab.delete_table", tab.delete_table, t)
    h.usage_error("tab.select", tab.select, t, function() return true end)
  end)

  it("raises in a process that used it before the delete, which goes on with its other tables", function()
    local t = tab.new({ access = "public" })
    tab.insert(t, "k", 1)
    local reader = mb.spawn(function(parent, t)
      local mb = require "moonbeam"
      local tab = require "moonbeam.table"
      local mine = tab.new()
      tab.insert(mine, "m", 2)
      mb.send(parent, { "read", tab.lookup(t, "k") })
      mb.receive()   -- "again", once t is deleted
      local ok, err = pcall(tab.lookup, t, "k")
      local ok2, err2 = pcall(tab.size, t)
      mb.send(parent, { "again", ok, err, ok2, err2, tab.lookup(mine, "m") })
    end, mb.self(), t)
    assert.same({ "read", 1 }, h.expect(h.tuple("read"), "the first read"))
    assert.is_true(tab.delete_table(t))
    mb.send(reader, "again")
    local m = h.expect(h.tuple("again"), "the read after the delete")
    assert.is_false(m[2])
    assert.matches("^tab%.lookup: .*does not exist", m[3])
    assert.is_false(m[4])
    assert.matches("^tab%.size: .*does not exist", m[5])
    assert.equal(2, m[6])
  end)

  it("frees its entries at the delete, while a process that used it lives on", function()
    -- Under a preloaded sanitizer freed memory sits in its quarantine.
    if (os.getenv("LD_PRELOAD") or ""):find("san", 1, true) then return end
    local function rss_kb()
      local f = assert(io.open("/proc/self/status"))
      local kb = f:read("*a"):match("VmRSS:%s*(%d+)")
      f:close()
      return tonumber(kb)
    end
    local t = tab.new({ access = "public" })
    -- Blocks beyond what malloc keeps in its heaps: each freed is unmapped.
    local big = ("x"):rep(40 * 1024 * 1024)
    tab.insert(t, 1, big)
    tab.insert(t, 2, big)
    big = nil
    collectgarbage()
    local reader = mb.spawn(function(parent, t)
      local mb = require "moonbeam"
      local tab = require "moonbeam.table"
      mb.send(parent, { "read", tab.member(t, 1) })
      mb.receive()
    end, mb.self(), t)
    assert.same({ "read", true }, h.expect(h.tuple("read"), "the reader's use"))
    local before = rss_kb()
    assert.is_true(tab.delete_table(t))
    local freed = before - rss_kb()
    mb.exit(reader, "kill")
    assert.is_true(freed > 60 * 1024, ("%d KB freed of 80 MB"):format(freed))
  end)

  it("leaves a process that uses more tables than it keeps at hand reaching each", function()
    local ts = {}
    for i = 1, 10 do
      ts[i] = tab.new()
      tab.insert(ts[i], "k", i)
    end
    for round = 1, 3 do
      for i = 1, 10 do assert.equal(i, tab.lookup(ts[i], "k"), "table " .. i .. ", round " .. round) end
      for i = 10, 1, -1 do assert.equal(i, tab.update_counter(ts[i], "k", 0)) end
    end
    assert.is_true(tab.delete_table(ts[5]))
    for i = 1, 10 do
      if i == 5 then h.usage_error("tab.lookup", tab.lookup, ts[i], "k")
      else assert.equal(i, tab.lookup(ts[i], "k")) end
    end
  end)
end)

describe("ownership", function()
  before_each(h.before)
  after_each(h.after)

  it("a table dies with its owner, before the owner's DOWN arrives", function()
    local t, pid = spawn_owner({ access = "public" })
    tab.insert(t, "k", 1)
    end_owner(pid)
    h.usage_error("tab.lookup", tab.lookup, t, "k")
  end)

  it("goes to a living heir with {\"table_transfer\", t, from}, before the DOWN", function()
    local t, pid = spawn_owner({ heir = mb.self() })
    mb.send(pid, { "insert", "k", "v" })
    h.expect(h.tuple("inserted"), "the insert")
    local ref = mb.monitor(pid)
    mb.send(pid, "exit")
    local first = h.expect(function(m)
      return type(m) == "table" and (m[1] == "table_transfer" or m[1] == "DOWN")
    end, "the transfer or the DOWN")
    assert.same({ "table_transfer", t, pid }, first)
    h.down(ref)
    assert.equal(mb.self(), tab.info(t).owner)
    assert.equal("v", tab.lookup(t, "k"))
    assert.is_true(tab.insert(t, "mine", 1))
  end)

  it("is deleted when the heir is dead", function()
    local t, pid = spawn_owner({ heir = h.dead_pid() })
    end_owner(pid)
    assert.is_nil(tab.info(t))
  end)

  it("give_away hands the table over with the message; to a dead pid it fails", function()
    local t = tab.new()
    tab.insert(t, "k", 1)
    assert.matches("not alive", h.usage_error("tab.give_away", tab.give_away, t, h.dead_pid()))
    -- To its owner itself: refused, as ETS does (no table_transfer to oneself).
    assert.matches("owns the table already", h.usage_error("tab.give_away", tab.give_away, t, mb.self()))
    assert.is_nil(mb.receive(h.tuple("table_transfer"), 0))
    local receiver = mb.spawn(function(parent)
      local mb = require "moonbeam"
      local tab = require "moonbeam.table"
      local m = mb.receive(2000)
      tab.insert(m[2], "new", m[3])
      mb.send(parent, { "taken", m[1], m[3] })
      mb.receive(2000)
    end, mb.self())
    assert.is_true(tab.give_away(t, receiver))
    local m = h.expect(h.tuple("taken"), "the new owner's reply")
    assert.same({ "taken", "table_transfer", mb.self() }, m)
    assert.equal(mb.self(), tab.lookup(t, "new"))
    h.usage_error("tab.insert", tab.insert, t, "k", 2)
    h.usage_error("tab.give_away", tab.give_away, t, mb.self())
    mb.exit(receiver, "kill")
  end)

  it("its table_transfer reaches a full mailbox, which neither drops it nor ends its owner", function()
    for _, on_full in ipairs { "exit", "drop_new" } do
      local receiver, ref = mb.spawn_opt(function(parent)
        local mb = require "moonbeam"
        mb.sleep(300)   -- meanwhile its mailbox is filled, then the table given
        local got = {}
        for i = 1, 2 do got[i] = mb.receive(0) end
        mb.send(parent, { "got", got })
        mb.receive()
      end, { max_queue = 1, on_full = on_full, monitor = true }, mb.self())
      mb.send(receiver, "filler")
      local t = tab.new()
      tab.insert(t, "k", "kept")
      assert.is_true(tab.give_away(t, receiver))
      assert.equal("kept", tab.lookup(t, "k"))
      local m = h.expect(h.tuple("got"), "what the new owner got")
      assert.equal("filler", m[2][1])
      assert.same({ "table_transfer", t, mb.self() }, m[2][2])
      assert.equal("kept", tab.lookup(t, "k"))
      mb.exit(receiver, "kill")
      h.down(ref)
    end
  end)
end)

describe("TTL", function()
  before_each(h.before)
  after_each(h.after)

  it("hides an expired entry from every read, and reclaims it", function()
    -- Seen before it expires when this process is not held up for 20 ms.
    local t
    h.unless_held_up(function()
      t = tab.new({ type = "ordered_set" })
      local t0 = h.now_ms()
      tab.insert(t, "short", 1, 20)
      tab.insert(t, "long", 2)
      local short, size = tab.lookup(t, "short"), tab.size(t)
      if h.now_ms() - t0 >= 20 then return false end
      assert.equal(1, short)
      assert.equal(2, size)
      return true
    end, "an insert and two reads within 20 ms")
    mb.sleep(40)
    assert.is_nil(tab.lookup(t, "short"))
    assert.is_false(tab.member(t, "short"))
    assert.same({ { "long", 2 } }, tab.to_list(t))
    assert.equal("long", tab.first(t))
    assert.equal("long", tab.last(t))
    assert.equal(1, tab.size(t))
    assert.is_true(tab.insert_new(t, "short", 3))
    assert.equal(3, tab.lookup(t, "short"))
  end)

  it("a re-insert replaces the entry's TTL", function()
    local t = tab.new()
    tab.insert(t, "k", 1, 20)
    tab.insert(t, "k", 2)
    tab.insert(t, "j", 1)
    tab.insert(t, "j", 2, 20)
    mb.sleep(40)
    assert.equal(2, tab.lookup(t, "k"))
    assert.is_nil(tab.lookup(t, "j"))
    assert.equal(1, tab.size(t))
  end)

  it("raises for a ttl_ms that is not a number > 0, naming the value", function()
    local t = tab.new()
    for _, case in ipairs({ { 0, "got 0" }, { -5, "got %-5" }, { 0 / 0, "got %-?nan" }, { "10", "got string" } }) do
      local err = h.usage_error("tab.insert", tab.insert, t, "k", 1, case[1])
      assert.matches('ttl_ms must be a number > 0 or "infinity", ' .. case[2] .. "$", err)
    end
    assert.equal(0, tab.size(t))
  end)

  it("insert_new takes a ttl_ms too: an expiring lock", function()
    local t = tab.new()
    assert.is_true(tab.insert_new(t, "lock", "me", 20))
    assert.is_false(tab.insert_new(t, "lock", "you", 20))
    mb.sleep(40)
    assert.is_true(tab.insert_new(t, "lock", "you"))
    assert.equal("you", tab.lookup(t, "lock"))
    assert.matches('ttl_ms must be a number > 0 or "infinity", got %-5$',
                   h.usage_error("tab.insert_new", tab.insert_new, t, "x", 1, -5))
    assert.is_false(tab.member(t, "x"))
  end)

  it("insert_new of a key whose objects all expired succeeds, in every type of table", function()
    for _, type in ipairs({ "set", "ordered_set", "bag", "duplicate_bag" }) do
      local t = tab.new({ type = type })
      assert.is_true(tab.insert(t, "lock", "old", 10))
      mb.sleep(25)   -- expired, and no sweep of the shard yet (one each 50 ms)
      assert.is_false(tab.member(t, "lock"), type)
      assert.is_true(tab.insert_new(t, "lock", "new"), type)
      local v = tab.lookup(t, "lock")
      assert.equal("new", type:find("bag") and v[1] or v, type)
    end
  end)

  it("last and prev step over expired keys that no write has swept, one or many in a row", function()
    local t = tab.new({ type = "ordered_set" })
    local live = {}
    for k = 1, 100 do
      local dies = (k > 40 and k <= 80) or k == 90 or k == 92 or k == 94
      tab.insert(t, k, k, dies and 20 or nil)
      if not dies then live[#live + 1] = k end
    end
    mb.sleep(40)   -- a read-mostly table: the expired ones are still in the list
    local walked, k = {}, tab.last(t)
    while k do
      table.insert(walked, 1, k)
      k = tab.prev(t, k)
    end
    assert.same(live, walked)
    assert.equal(40, tab.prev(t, 81))
    assert.equal(89, tab.prev(t, 91))
  end)

  it("a duplicate_bag's key keeps its live objects in order around expired ones", function()
    local t = tab.new({ type = "duplicate_bag" })
    tab.insert(t, "other", 0, 3600000)
    tab.insert(t, "k", 1)
    tab.insert(t, "k", 2, 20)
    tab.insert(t, "k", 3)
    mb.sleep(40)
    tab.insert(t, "k", 4)
    tab.insert(t, "k", 2)
    assert.same({ 1, 3, 4, 2 }, tab.lookup(t, "k"))
    assert.same({ 1, 3, 4, 2 }, tab.take(t, "k"))
    assert.same({}, tab.lookup(t, "k"))
  end)

  it("takes \"infinity\", math.huge and more than a timer can be set for as no TTL", function()
    local t = tab.new()
    for i, ttl in ipairs({ "infinity", math.huge, 2 ^ 64, 1e300 }) do
      assert.is_true(tab.insert(t, i, "v", 20))
      assert.is_true(tab.insert(t, i, "v", ttl))   -- replaces the 20 ms one: permanent
    end
    mb.sleep(40)
    assert.equal(4, tab.size(t))
    assert.equal("v", tab.lookup(t, 1))
  end)
end)

describe("max_memory", function()
  before_each(h.before)
  after_each(h.after)

  it("finds an entry too big, or not, the same way each time (an ordered_set's links are random)", function()
    for size = 60, 200, 4 do
      local t = tab.new({ type = "ordered_set", max_memory = 200 })
      local fits = pcall(tab.insert, t, 1, string.rep("x", size))
      for _ = 1, 30 do
        tab.delete(t, 1)
        assert.equal(fits, (pcall(tab.insert, t, 1, string.rep("x", size))), "a value of " .. size .. " bytes")
        assert.is_true(tab.memory(t) <= 200)
      end
    end
  end)

  it("evicts the least recently used; lookup and insert count as uses", function()
    local probe = tab.new()
    tab.insert(probe, "a", "xxxxxxxx")
    local one = tab.memory(probe)
    local t = tab.new({ max_memory = one * 3 })
    tab.insert(t, "a", "xxxxxxxx")
    tab.insert(t, "b", "xxxxxxxx")
    tab.insert(t, "c", "xxxxxxxx")
    assert.equal(3, tab.size(t))
    tab.lookup(t, "a")                -- b is now the oldest use
    tab.insert(t, "d", "xxxxxxxx")
    assert.is_nil(tab.lookup(t, "b"))
    assert.is_true(tab.member(t, "a"))
    tab.insert(t, "c", "yyyyyyyy")    -- c used again: a is the oldest
    tab.insert(t, "e", "xxxxxxxx")
    assert.is_false(tab.member(t, "a"))
    assert.same({ true, true, true }, { tab.member(t, "c"), tab.member(t, "d"), tab.member(t, "e") })
    assert.is_true(tab.memory(t) <= one * 3)
  end)

  it("stays within the limit after every insert; an entry larger than it raises", function()
    local t = tab.new({ type = "ordered_set", max_memory = 2000 })
    for i = 1, 200 do
      tab.insert(t, i, string.rep("v", i % 50))
      assert.is_true(tab.memory(t) <= 2000)
    end
    assert.matches("max_memory", h.usage_error("tab.insert", tab.insert, t, "big", string.rep("x", 3000)))
    assert.is_true(tab.size(t) > 0)
  end)

  -- An insert counts its object, then evicts: other processes looking
  -- meanwhile must not see the sum between the two.
  it("stays within the limit for readers on other schedulers while writers insert", function()
    local t = tab.new({ access = "public", max_memory = 2000 })
    for w = 1, 2 do
      mb.spawn(function(parent, t, w)
        local mb, tab = require "moonbeam", require "moonbeam.table"
        for j = 1, 100000 do
          tab.insert(t, { w, j }, 0)
          if j % 100 == 0 then mb.yield() end
        end
        mb.send(parent, { "most", 0 })
      end, mb.self(), t, w)
    end
    for _ = 1, 2 do
      mb.spawn(function(parent, t)
        local mb, tab = require "moonbeam", require "moonbeam.table"
        local most = 0
        for j = 1, 200000 do
          most = math.max(most, tab.memory(t))
          if j % 100 == 0 then mb.yield() end
        end
        mb.send(parent, { "most", most })
      end, mb.self(), t)
    end
    local most = 0
    for _ = 1, 4 do most = math.max(most, h.expect(h.tuple("most"), "a report")[2]) end
    assert.is_true(most <= 2000, "memory seen: " .. most)
  end)
end)

describe("concurrency", function()
  before_each(h.before)
  after_each(h.after)

  -- Readers walk and look up while writers insert and delete, on every
  -- scheduler; each reports what it saw go wrong (nothing, it must be).
  local function storm(kind)
    local t = tab.new({ type = kind, access = "public" })
    for i = 1, 100 do tab.insert(t, i, i) end
    local writers, readers = 3, 3
    for w = 1, writers do
      mb.spawn(function(parent, t, w)
        local mb = require "moonbeam"
        local tab = require "moonbeam.table"
        for i = 1, 400 do
          tab.insert(t, w * 1000 + i, { w, i })
          if i % 3 == 0 then tab.delete(t, w * 1000 + i - 1) end
        end
        mb.send(parent, { "writer", w })
      end, mb.self(), t, w)
    end
    for r = 1, readers do
      mb.spawn(function(parent, t, r, ordered)
        local mb = require "moonbeam"
        local tab = require "moonbeam.table"
        local bad = 0
        for _ = 1, 30 do
          for i = 1, 100 do
            if tab.lookup(t, i) ~= i then bad = bad + 1 end
          end
          local k, steps = tab.first(t), 0
          while k ~= nil and steps < 100000 do
            local ok, nk = pcall(tab.next, t, k)
            if not ok then break end   -- a set's key deleted under us: documented
            if ordered and nk ~= nil and type(k) == "number" and type(nk) == "number" and nk <= k then
              bad = bad + 1
            end
            k, steps = nk, steps + 1
          end
          if steps >= 100000 then bad = bad + 1 end
        end
        mb.send(parent, { "reader", r, bad })
      end, mb.self(), t, r, kind == "ordered_set")
    end
    for _ = 1, writers do h.expect(h.tuple("writer"), "a writer", 10000) end
    for _ = 1, readers do
      local m = h.expect(h.tuple("reader"), "a reader", 10000)
      assert.equal(0, m[3])
    end
    assert.equal(100 + writers * (400 - 133), tab.size(t))
  end

  it("readers and writers share a set", function() storm("set") end)
  it("readers and writers share an ordered_set", function() storm("ordered_set") end)

  it("readers of a table whose owner dies see it gone, and nothing worse", function()
    local t, pid = spawn_owner({ access = "public", type = "ordered_set" })
    for i = 1, 50 do
      mb.send(pid, { "insert", i, i })
      h.expect(h.tuple("inserted", i), "an insert")
    end
    local readers = 4
    for r = 1, readers do
      mb.spawn(function(parent, t, r)
        local mb = require "moonbeam"
        local tab = require "moonbeam.table"
        mb.send(parent, { "reading", r })
        local err
        for _ = 1, 1e6 do
          local ok, e = pcall(function()
            local k = tab.first(t)
            while k ~= nil do
              tab.lookup(t, k)
              k = tab.next(t, k)
            end
          end)
          if not ok then err = e break end
        end
        mb.send(parent, { "reader", r, err })
      end, mb.self(), t, r)
    end
    for _ = 1, readers do h.expect(h.tuple("reading"), "a reader starting") end
    mb.send(pid, "exit")
    for _ = 1, readers do
      local m = h.expect(h.tuple("reader"), "a reader's end", 10000)
      assert.matches("does not exist", m[3])
    end
  end)
end)
