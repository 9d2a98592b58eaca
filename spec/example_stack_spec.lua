-- examples/stack.lua: the seeds' Stack, through its client functions.

local mb = require "moonbeam"
local h = require "spec.support.helpers"
local stack = require "examples.stack"

describe("examples.stack", function()
  before_each(h.before)
  after_each(h.after)

  it("pops what was pushed, last in first out, then nil, \"empty\"", function()
    local s = assert(stack.start_link())
    assert.is_true(stack.push(s, "a"))
    assert.is_true(stack.push(s, "b"))
    assert.is_true(stack.push(s, 3))
    assert.equal(3, stack.pop(s))
    assert.equal("b", stack.pop(s))
    assert.equal("a", stack.pop(s))
    local v, why = stack.pop(s)
    assert.is_nil(v)
    assert.equal("empty", why)
  end)

  it("starts with its initial items, bottom first", function()
    local s = assert(stack.start_link({ "bottom", "top" }))
    assert.equal(2, stack.size(s))
    assert.equal("top", stack.pop(s))
    assert.equal("bottom", stack.pop(s))
  end)

  it("peeks without popping", function()
    local s = assert(stack.start_link({ "x" }))
    assert.equal("x", stack.peek(s))
    assert.equal(1, stack.size(s))
    stack.pop(s)
    local v, why = stack.peek(s)
    assert.is_nil(v)
    assert.equal("empty", why)
  end)

  it("holds copies of tables", function()
    local s = assert(stack.start_link())
    local t = { n = 1, list = { "a" } }
    stack.push(s, t)
    t.n = 2
    local got = stack.pop(s)
    assert.same({ n = 1, list = { "a" } }, got)
  end)

  it("refuses to push nil", function()
    local s = assert(stack.start_link())
    assert.matches("cannot push nil", h.error_of(stack.push, s, nil))
    assert.equal(0, stack.size(s))
  end)

  it("stops", function()
    local s = assert(stack.start_link())
    assert.is_true(stack.stop(s))
    assert.is_false(mb.alive(s))
  end)
end)
