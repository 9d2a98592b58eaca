-- examples/counter_server.lua: the seeds' Counter, through its client functions.

local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local h = require "spec.support.helpers"
local counter = require "examples.counter_server"

describe("examples.counter_server", function()
  before_each(h.before)
  after_each(h.after)

  it("starts at its argument, or 0", function()
    assert.equal(10, counter.get(assert(counter.start_link(10))))
    assert.equal(0, counter.get(assert(counter.start_link())))
  end)

  it("increments and decrements, answering the new value", function()
    local c = assert(counter.start_link(5))
    assert.equal(6, counter.increment(c))
    assert.equal(7, counter.increment(c))
    assert.equal(6, counter.decrement(c))
    assert.equal(6, counter.get(c))
  end)

  it("adds and resets by cast: true at once, applied before a later call from the same process", function()
    local c = assert(counter.start_link(1))
    assert.is_true(counter.add(c, 41))
    assert.equal(42, counter.get(c))
    assert.is_true(counter.reset(c))
    assert.equal(0, counter.get(c))
  end)

  it("answers by its registered name", function()
    local name = h.name("counter")
    local c = assert(counter.start_link(0, { name = name }))
    assert.equal(c, mb.whereis(name))
    assert.equal(1, counter.increment(name))
  end)

  it("loses no increment when many processes increment at once", function()
    local name = h.name("counter")
    assert(counter.start_link(0, { name = name }))
    local me = mb.self()
    for _ = 1, 8 do
      mb.spawn(function(parent, name)
        local counter = require "examples.counter_server"
        for _ = 1, 50 do counter.increment(name) end
        require("moonbeam").send(parent, "done")
      end, me, name)
    end
    for _ = 1, 8 do h.expect(function(m) return m == "done" end, "a client", 10000) end
    assert.equal(400, counter.get(name))
  end)

  it("stops", function()
    local c = assert(counter.start_link(0))
    assert.is_true(counter.stop(c))
    assert.is_false(mb.alive(c))
    assert.same({ "noproc" }, select(2, gen.try_call(c, "get")))
  end)
end)
