-- Modules a process requires from files: every process is a Lua state of
-- its own, and the host keeps each module it found on package.path
-- compiled for the next state that requires it (bindings/module_cache.c).
-- What a process sees must be what it would see without the cache.

local mb = require "moonbeam"
local h = require "spec.support.helpers"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir) == 0)
local PATH = dir .. "/?.lua;" .. package.path

local function write(name, source)
  local f = assert(io.open(dir .. "/" .. name .. ".lua", "w"))
  f:write(source)
  f:close()
end

-- In a new process with PATH: fn(mod) of require(name), or the error.
local function in_process(name, fn, path)
  mb.spawn(function(parent, name, fn, path)
    package.path = path
    local ok, v = pcall(function() return fn(require(name)) end)
    require("moonbeam").send(parent, { "result", ok, v })
  end, mb.self(), name, fn, path or PATH)
  local m = h.expect(h.tuple("result"), "the process's result")
  return m[2], m[3]
end

describe("a module required from a file by many processes", function()
  before_each(h.before)
  after_each(h.after)
  teardown(function() os.execute("rm -rf " .. dir) end)

  it("gives every process the module's code, run afresh in its own state", function()
    write("mc_counter", "local n = 0\nreturn { bump = function() n = n + 1; return n end }\n")
    for _ = 1, 3 do
      local ok, v = in_process("mc_counter", function(m) return m.bump() end)
      assert.is_true(ok, tostring(v))
      assert.equal(1, v)   -- one state's upvalue is not another's
    end
  end)

  it("sees the file's new contents once it is edited", function()
    write("mc_edit", "return { v = function() return 'old' end }\n")
    assert.equal("old", select(2, in_process("mc_edit", function(m) return m.v() end)))
    assert.equal("old", select(2, in_process("mc_edit", function(m) return m.v() end)))
    write("mc_edit", "return { v = function() return 'new, and longer' end }\n")
    assert.equal("new, and longer", select(2, in_process("mc_edit", function(m) return m.v() end)))
  end)

  it("keeps the file and line in errors and debug information", function()
    write("mc_err", "local M = {}\n\nfunction M.boom() error('kaboom') end\nreturn M\n")
    for _ = 1, 2 do
      local ok, err = in_process("mc_err", function(m) return m.boom() end)
      assert.is_false(ok)
      assert.equal(dir .. "/mc_err.lua:3: kaboom", err)
    end
    local _, source = in_process("mc_err", function(m) return debug.getinfo(m.boom, "S").source end)
    assert.equal("@" .. dir .. "/mc_err.lua", source)
  end)

  it("reports a syntax error with the file, as require does", function()
    write("mc_bad", "return {\n")
    for _ = 1, 2 do
      local ok, err = in_process("mc_bad", function(m) return m end)
      assert.is_false(ok)
      assert.matches("error loading module 'mc_bad' from file '" .. dir:gsub("%p", "%%%0") .. "/mc_bad.lua'", err)
    end
  end)

  it("says where it looked for a module that is on no path", function()
    local ok, err = in_process("mc_nowhere", function(m) return m end)
    assert.is_false(ok)
    assert.matches("module 'mc_nowhere' not found", err)
    assert.matches("no file '" .. dir:gsub("%p", "%%%0") .. "/mc_nowhere.lua'", err)
  end)

  it("follows a process's own package.path", function()
    local other = os.tmpname()
    os.remove(other)
    assert(os.execute("mkdir -p " .. other) == 0)
    write("mc_where", "return 'first'\n")
    local f = assert(io.open(other .. "/mc_where.lua", "w"))
    f:write("return 'second'\n")
    f:close()
    assert.equal("first", select(2, in_process("mc_where", function(m) return m end)))
    assert.equal("second", select(2, in_process("mc_where", function(m) return m end,
                                                 other .. "/?.lua;" .. package.path)))
    assert.equal("first", select(2, in_process("mc_where", function(m) return m end)))
    os.execute("rm -rf " .. other)
  end)
end)
