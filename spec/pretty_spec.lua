-- moonbeam.pretty: how the console prints values.

local pretty = require "moonbeam.pretty"
local mb = require "moonbeam"

local f = pretty.format

describe("pretty.format", function()
  it("quotes strings and escapes what a terminal would not show", function()
    assert.equal('"hello"', f("hello"))
    assert.equal('"a\\nb\\t\\"q\\"\\\\"', f('a\nb\t"q"\\'))
    assert.equal('"\\000\\0271"', f("\0\0271"))
    assert.equal('"héllo"', f("héllo"))
  end)

  it("cuts long strings and says how long they were", function()
    local s = f(("x"):rep(5000))
    assert.equal(4096 + 2, #s:match('^"x*"'))
    assert.matches("%.%.%.%(5000 bytes%)$", s)
  end)

  it("prints numbers exactly, integers without a fraction", function()
    assert.equal("42", f(42))
    assert.equal("-0", f(-0.0))
    assert.equal("1.5", f(1.5))
    assert.equal("0.1", f(0.1))
    assert.equal("9007199254740992", f(2 ^ 53))
    assert.equal("0.3333333333333333", f(1 / 3))
    assert.equal("inf", f(math.huge))
    assert.equal("-inf", f(-math.huge))
    assert.equal("nan", f(0 / 0))
  end)

  it("prints booleans, nil and pids as Lua and moonbeam do", function()
    assert.equal("true", f(true))
    assert.equal("nil", f(nil))
    assert.matches("^<0%.%d+%.%d+>$", f(mb.self()))
    assert.matches("^#Ref<", f(mb.make_ref()))
  end)

  it("prints an atom as the call that makes it, also inside tables", function()
    assert.equal('mb.atom("ping")', f(mb.atom("ping")))
    assert.equal('{mb.atom("ok"), 1, [mb.atom("k")] = mb.atom("a b")}',
                 f({ mb.atom("ok"), 1, [mb.atom("k")] = mb.atom("a b") }))
  end)

  it("prints the array part first, then the other keys in order", function()
    assert.equal('{1, 2, 3, [10] = "ten", ["a b"] = true, x = 1, z = 2}',
      f({ 1, 2, 3, z = 2, x = 1, ["a b"] = true, [10] = "ten" }))
    assert.equal('{["end"] = 1, [false] = 2, [true] = 3}', f({ ["end"] = 1, [true] = 3, [false] = 2 }))
    assert.equal("{}", f({}))
  end)

  it("breaks a table that does not fit on one line, indented", function()
    local t = { name = ("n"):rep(40), list = { 1, 2, 3 }, nested = { deeper = ("d"):rep(70) } }
    assert.equal(table.concat({
      "{",
      "  list = {1, 2, 3},",
      '  name = "' .. ("n"):rep(40) .. '",',
      "  nested = {",
      '    deeper = "' .. ("d"):rep(70) .. '"',
      "  }",
      "}",
    }, "\n"), f(t))
  end)

  it("labels a table that contains itself and marks the way back", function()
    local t = { name = "loop" }
    t.self = t
    t.children = { { parent = t } }
    assert.equal('<1>{children = {{parent = <cycle 1>}}, name = "loop", self = <cycle 1>}', f(t))
  end)

  it("prints a table seen twice, but not in a cycle, twice", function()
    local shared = { 1 }
    assert.equal("{{1}, {1}}", f({ shared, shared }))
  end)

  it("bounds depth and entries per table", function()
    assert.equal("{a = {b = {c = {...}}}}", f({ a = { b = { c = { d = {} } } } }, { depth = 3 }))
    local t = {}
    for i = 1, 100 do t[i] = i end
    local s = f(t, { width = 1000 })
    assert.matches("^{1, 2, 3,", s)
    assert.matches(", 40, %.%.%.%(60 more%)}$", s)
  end)

  it("never calls __index or __tostring that fail", function()
    local t = setmetatable({ 1 }, { __index = function() error("no") end })
    assert.equal("{1}", f(t))
    local u = newproxy(true)
    getmetatable(u).__tostring = function() error("no") end
    assert.equal("<userdata>", f(u))
  end)
end)
