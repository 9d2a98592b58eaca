-- The moonbeam executable: `moonbeam [options] run script.lua [args]`.

local sh = require "spec.support.shell"

local BIN = "./build/bin/moonbeam"

-- Runs `moonbeam <options> run <script> <args>`; returns status, stdout, stderr.
local function run_script(source, args, options)
  local path = sh.script(source)
  local cmd = BIN .. " " .. (options or "") .. " run " .. sh.quote(path)
  for _, a in ipairs(args or {}) do cmd = cmd .. " " .. sh.quote(a) end
  local status, out, err = sh.run(cmd)
  return status, out, err, path
end

describe("moonbeam run", function()
  after_each(sh.cleanup)

  it("runs the script with its arguments in arg", function()
    local status, out, err, path = run_script([[
      print(arg[1], arg[2], #arg)
      print(arg[0])
    ]], { "a", "b c" })
    assert.equal(0, status, err)
    assert.equal("a\tb c\t2\n" .. path .. "\n", out)
  end)

  it("exits 0 when the script returns", function()
    local status, _, err = run_script("local x = 1")
    assert.equal(0, status, err)
  end)

  it("exits non-zero with the message on stderr when the script raises", function()
    local status, _, err = run_script([[error("kaboom from the script")]])
    assert.equal(1, status)
    assert.matches("kaboom from the script", err)
  end)

  it("exits non-zero and reports a syntax error in the script", function()
    local status, _, err = run_script("this is not lua")
    assert.equal(1, status)
    assert.is_true(#err > 0)
  end)

  it("exits non-zero and names a script that does not exist", function()
    local missing = os.tmpname() .. "-missing.lua"
    local status, _, err = sh.run(BIN .. " run " .. sh.quote(missing))
    assert.is_true(status ~= 0 and status ~= 124, "status " .. tostring(status))
    assert.is_truthy(err:find(missing, 1, true), err)
  end)

  it("exits 1 with the reason on stderr when the script calls mb.exit with an abnormal reason", function()
    local status, _, err = run_script([[
      local mb = require "moonbeam"
      mb.exit("gave up")
    ]])
    assert.equal(1, status)
    assert.matches("gave up", err)
  end)

  it("exits 0 when the script calls mb.exit(\"normal\")", function()
    local status, out, err = run_script([[
      local mb = require "moonbeam"
      print("before")
      mb.exit("normal")
      print("after")
    ]])
    assert.equal(0, status, err)
    assert.equal("before\n", out)
  end)

  it("exits when the script returns, though other processes still wait", function()
    local status, out, err = run_script([[
      local mb = require "moonbeam"
      for _ = 1, 10 do
        mb.spawn(function() local mb = require "moonbeam"; mb.receive() end)
      end
      print("returning")
    ]])
    assert.equal(0, status, err)
    assert.equal("returning\n", out)
  end)

  it("runs the script as a process that can spawn and receive", function()
    local status, out, err = run_script([[
      local mb = require "moonbeam"
      local pid = mb.spawn(function(parent)
        local mb = require "moonbeam"
        mb.send(parent, { "hi", mb.self() })
      end, mb.self())
      local m = mb.receive(5000)
      print(m and m[1], m and m[2] == pid)
    ]])
    assert.equal(0, status, err)
    assert.equal("hi\ttrue\n", out)
  end)

  it("works with --schedulers 1", function()
    local status, out, err = run_script([[
      local mb = require "moonbeam"
      local n = 100
      for i = 1, n do
        mb.spawn(function(parent, i)
          local mb = require "moonbeam"
          local peer = mb.spawn(function(back)
            local mb = require "moonbeam"
            local m = mb.receive(5000)
            mb.send(back, { "pong", m })
          end, mb.self())
          mb.send(peer, i)
          local m = mb.receive(5000)
          mb.send(parent, m and m[2])
        end, mb.self(), i)
      end
      local got = 0
      for _ = 1, n do
        if mb.receive(5000) then got = got + 1 end
      end
      print("done", got)
    ]], {}, "--schedulers 1")
    assert.equal(0, status, err)
    assert.equal("done\t100\n", out)
  end)

  it("works with --max-processes, refusing spawns past it without dying", function()
    local status, out, err = run_script([[
      local mb = require "moonbeam"
      local pids, refused = {}, 0
      for _ = 1, 200 do
        local ok, pid = pcall(mb.spawn, function()
          local mb = require "moonbeam"
          mb.receive(10000)
        end)
        if ok and pid then pids[#pids + 1] = pid else refused = refused + 1 end
      end
      for _, pid in ipairs(pids) do mb.exit(pid, "kill") end
      print(#pids < 200, refused > 0)
    ]], {}, "--max-processes 64")
    assert.equal(0, status, err)
    assert.equal("true\ttrue\n", out)
  end)
end)

describe("moonbeam --help", function()
  it("exits 0 and describes run and the options", function()
    local status, out, err = sh.run(BIN .. " --help")
    assert.equal(0, status, err)
    local text = out .. err
    assert.matches("run", text)
    assert.matches("%-%-schedulers", text)
    assert.matches("%-%-max%-processes", text)
  end)
end)

describe("moonbeam with a bad command line", function()
  it("exits 2 when run has no script", function()
    local status, _, err = sh.run(BIN .. " run")
    assert.equal(2, status)
    assert.is_true(#err > 0)
  end)

  it("exits 2 when --schedulers is not a positive number", function()
    local path = sh.script("print('should not run')")
    finally(sh.cleanup)
    for _, bad in ipairs({ "abc", "0", "-1", "" }) do
      local status, out = sh.run(BIN .. " --schedulers " .. sh.quote(bad) .. " run " .. sh.quote(path))
      assert.equal(2, status, "--schedulers " .. bad)
      assert.equal("", out)
    end
  end)

  it("exits 2 when --max-processes is not a positive number", function()
    local path = sh.script("print('should not run')")
    finally(sh.cleanup)
    local status, out = sh.run(BIN .. " --max-processes nope run " .. sh.quote(path))
    assert.equal(2, status)
    assert.equal("", out)
  end)
end)

describe("moonbeam with an unknown flag", function()
  it("exits 2 and says what is wrong on stderr", function()
    local status, _, err = sh.run(BIN .. " --no-such-flag")
    assert.equal(2, status)
    assert.matches("no%-such%-flag", err)
  end)

  it("exits 2 for an unknown flag before run too", function()
    local path = sh.script("print('should not run')")
    local status, out = sh.run(BIN .. " --bogus run " .. sh.quote(path))
    sh.cleanup()
    assert.equal(2, status)
    assert.equal("", out)
  end)
end)
