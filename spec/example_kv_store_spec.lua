-- examples/kv_store.lua: the seeds' KeyValueStore, through its client
-- functions: reads from the server's shared table, writes through the server.

local mb = require "moonbeam"
local h = require "spec.support.helpers"
local kv = require "examples.kv_store"

describe("examples.kv_store", function()
  before_each(h.before)
  after_each(h.after)

  it("gets what was put; a put is seen by the next get, read from the table", function()
    local s = assert(kv.start_link())
    assert.is_true(kv.put(s, "k", "v"))
    assert.equal("v", kv.get(s, "k"))
    kv.put(s, "k", "w")
    assert.equal("w", kv.get(s, "k"))
  end)

  it("gives the default, or nil, for a missing key", function()
    local s = assert(kv.start_link())
    assert.is_nil(kv.get(s, "missing"))
    assert.equal("d", kv.get(s, "missing", "d"))
    kv.put(s, "f", false)
    assert.is_false(kv.get(s, "f", "d"))
  end)

  it("deletes, lists its keys sorted and counts them", function()
    local s = assert(kv.start_link({ initial = { b = 2, a = 1 } }))
    kv.put(s, "c", 3)
    assert.same({ "a", "b", "c" }, kv.keys(s))
    assert.is_true(kv.delete(s, "b"))
    assert.same({ "a", "c" }, kv.keys(s))
    assert.equal(2, kv.size(s))
  end)

  it("stores tables and numbers as keys and values", function()
    local s = assert(kv.start_link())
    kv.put(s, 1, { nested = { ok = true } })
    assert.same({ nested = { ok = true } }, kv.get(s, 1))
  end)

  it("is shared by name between processes", function()
    local name = h.name("kv")
    assert(kv.start_link({ name = name }))
    local me = mb.self()
    mb.spawn(function(parent, name)
      require("examples.kv_store").put(name, "from", "child")
      require("moonbeam").send(parent, "put")
    end, me, name)
    h.expect(function(m) return m == "put" end, "the child's put")
    assert.equal("child", kv.get(name, "from"))
  end)

  it("reads without a call to the server once it knows the table", function()
    local s = assert(kv.start_link({ initial = { a = 1 } }))
    assert.equal(1, kv.get(s, "a"))        -- learns the table
    assert(require("moonbeam.gen_server").suspend(s))
    assert.equal(1, kv.get(s, "a"))        -- a suspended server answers no call
    assert.equal(1, kv.size(s))
    assert.same({ "a" }, kv.keys(s))
    assert(require("moonbeam.gen_server").resume(s))
  end)

  it("finds the new table of a server restarted under the same name", function()
    local name = h.name("kv")
    local first = assert(kv.start_link({ name = name, initial = { v = "old" } }))
    assert.equal("old", kv.get(name, "v"))
    mb.unlink(first)
    kv.stop(name)
    assert(kv.start_link({ name = name, initial = { v = "new" } }))
    assert.equal("new", kv.get(name, "v"))
  end)

  it("refuses a nil key or value", function()
    local s = assert(kv.start_link())
    assert.matches("must not be nil", h.error_of(kv.put, s, nil, 1))
    assert.matches("must not be nil", h.error_of(kv.put, s, "k", nil))
  end)
end)
