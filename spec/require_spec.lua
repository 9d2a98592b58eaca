-- require "moonbeam" from a plain LuaJIT script: the script becomes a
-- process of its own, and the host lives in that OS process.

local mb = require "moonbeam"
local h = require "spec.support.helpers"
local sh = require "spec.support.shell"

local function luajit(source)
  local path = sh.script(source)
  return sh.run("luajit " .. sh.quote(path))
end

describe("require \"moonbeam\" from plain luajit", function()
  after_each(sh.cleanup)

  it("spawns, sends, receives and exits cleanly with status 0", function()
    local status, out, err = luajit([[
      local mb = require "moonbeam"
      local me = mb.self()
      local pid = mb.spawn(function(parent)
        local mb = require "moonbeam"
        local m = mb.receive(5000)
        mb.send(parent, { "echo", m, mb.self() })
      end, me)
      mb.send(pid, "hello")
      local m = mb.receive(5000)
      print(tostring(me):match("^<0%.%d+%.%d+>$") ~= nil, m and m[2], m and m[3] == pid)
    ]])
    assert.equal(0, status, err)
    assert.equal("true\thello\ttrue\n", out)
  end)

  -- luajit's own SIGINT handler sets a hook that raises "interrupted!" at
  -- the next instruction; the script's wait in receive runs it too.
  it("is interrupted by Ctrl-C (SIGINT) while the script waits in receive", function()
    local path = sh.script([[
      local mb = require "moonbeam"
      print("waiting")
      io.stdout:flush()
      mb.receive()
    ]])
    local job = sh.start("luajit " .. sh.quote(path))
    job:wait_for("waiting")
    job:signal("INT")
    local status, _, err = job:wait(10000)
    assert.equal(1, status, err)
    assert.matches("interrupted!", err, 1, true)
  end)

  it("runs and exits cleanly from a program started with stdin closed", function()
    -- The host's first descriptors must not take fd 0's number: libuv
    -- aborted on closing it.
    local path = sh.script([[
      local mb = require "moonbeam"
      local pid = mb.spawn(function(parent)
        local mb = require "moonbeam"
        mb.send(parent, "up")
      end, mb.self())
      print(mb.receive(5000))
    ]])
    local status, out, err = sh.run("exec 0<&-; luajit " .. sh.quote(path))
    assert.equal(0, status, err)
    assert.equal("up\n", out)
  end)

  it("works as a one-liner with luajit -e", function()
    local status, out, err = sh.run([[luajit -e 'local mb = require "moonbeam"; mb.send(mb.self(), 42); print(mb.receive(1000))']])
    assert.equal(0, status, err)
    assert.equal("42\n", out)
  end)

  it("exits with status 0 even while a spawned process is still waiting", function()
    local status, out, err = luajit([[
      local mb = require "moonbeam"
      mb.spawn(function() local mb = require "moonbeam"; mb.receive() end)
      print("leaving")
    ]])
    assert.equal(0, status, err)
    assert.equal("leaving\n", out)
  end)

  it("takes MOONBEAM_SCHEDULERS and MOONBEAM_MAX_PROCESSES from the environment", function()
    local path = sh.script([[
      local mb = require "moonbeam"
      local pids, refused = {}, 0
      for _ = 1, 100 do
        local ok, pid = pcall(mb.spawn, function()
          local mb = require "moonbeam"
          mb.receive(5000)
        end)
        if ok and pid then pids[#pids + 1] = pid else refused = refused + 1 end
      end
      for _, pid in ipairs(pids) do mb.exit(pid, "kill") end
      print(#pids < 100, refused > 0)
    ]])
    local status, out, err = sh.run("MOONBEAM_SCHEDULERS=1 MOONBEAM_MAX_PROCESSES=32 luajit " .. sh.quote(path))
    assert.equal(0, status, err)
    assert.equal("true\ttrue\n", out)
  end)

  it("takes the scheduler count from MOONBEAM_SCHEDULERS", function()
    -- The host's threads: this one, the schedulers and the timer thread
    -- (the blocking pool starts on first use).
    local path = sh.script([[
      local mb = require "moonbeam"
      local f = assert(io.open("/proc/self/status"))
      print((f:read("*a"):match("Threads:%s*(%d+)")))
      f:close()
    ]])
    local counts = {}
    for _, n in ipairs({ 1, 3 }) do
      local status, out, err = sh.run("MOONBEAM_SCHEDULERS=" .. n .. " luajit " .. sh.quote(path))
      assert.equal(0, status, err)
      counts[n] = tonumber(out)
    end
    assert.equal(2, counts[3] - counts[1], "threads: " .. h.text(counts))
  end)

  local TWO_NAPS = require "spec.support.two_naps"

  it("sizes mb.blocking's pool with MOONBEAM_BLOCKING_THREADS", function()
    local path = sh.script(TWO_NAPS)
    local status, out, err = sh.run("MOONBEAM_BLOCKING_THREADS=1 luajit " .. sh.quote(path))
    assert.equal(0, status, err)
    assert.equal("one after the other\n", out)
    status, out, err = sh.run("MOONBEAM_BLOCKING_THREADS=2 MOONBEAM_SCHEDULERS=1 luajit " .. sh.quote(path))
    assert.equal(0, status, err)
    assert.equal("overlapped\n", out)
  end)

  it("keeps a 2-scheduler host answering while two processes sit in mb.blocking(os.execute, ...)", function()
    -- Each call's shell marks that it is in, then waits for the mark "go"
    -- (spec/support/meet.lua): the pongs are counted over a second that both
    -- calls are known to span.
    local status, out, err = sh.run("MOONBEAM_SCHEDULERS=2 luajit " .. sh.quote(sh.script([[
      local mb = require "moonbeam"
      local meet = require "spec.support.meet"
      local place = meet.place()
      local pinger = mb.spawn("spec.support.pingpong")
      for i = 1, 2 do
        mb.spawn(function(parent, wait)
          local mb = require "moonbeam"
          mb.blocking(os.execute, wait)
          mb.send(parent, "returned")
        end, mb.self(), ("touch %s.in%d; while [ ! -e %s.go ]; do sleep 0.01; done"):format(place, i, place))
      end
      local deadline = mb.now() + 10000
      while not (meet.seen(place, "in1") and meet.seen(place, "in2")) do
        assert(mb.now() < deadline, "the blocking calls never began")
        mb.sleep(5)
      end
      local from = mb.now()
      mb.sleep(1000)
      local to = mb.now()
      meet.mark(place, "go")
      for _ = 1, 2 do assert(mb.receive(10000), "a blocking call never ended") end
      meet.clear(place, "in1", "in2", "go")
      mb.send(pinger, { "count", from, to, mb.self() })
      local m = assert(mb.receive(5000), "no pong count")
      print(math.floor(to - from), m[2])
    ]])))
    assert.equal(0, status, err)
    local ms, pongs = out:match("^(%d+)\t(%d+)\n$")
    assert.is_truthy(ms, out)
    assert.is_true(tonumber(ms) >= 500, "the calls overlapped for " .. ms .. " ms")
    -- Some thousands on two cores; none when both schedulers wait.
    assert.is_true(tonumber(pongs) >= 100, pongs .. " pongs in " .. ms .. " ms")
  end)

  it("keeps the script's error exit status", function()
    local status, _, err = luajit([[
      local mb = require "moonbeam"
      mb.spawn(function() end)
      error("script failed")
    ]])
    assert.is_true(status ~= 0 and status ~= 124, "status " .. tostring(status))
    assert.matches("script failed", err)
  end)

  -- A server the script start_link'd that traps exits: terminate prints.
  local SERVER = [[
    local mb = require "moonbeam"
    local gen = require "moonbeam.gen_server"
    assert(gen.start_link({
      init = function() require("moonbeam").trap_exit(true); return "ok", 0 end,
      terminate = function(reason) print("terminate", reason); io.stdout:flush() end,
    }))
  ]]

  it("ends with os.exit's status when a spawned process calls it, after terminate callbacks", function()
    local status, out, err = luajit(SERVER .. [[
      mb.spawn(function() os.exit(3) end)
      mb.receive()
      print("the script went on")
    ]])
    assert.equal(3, status, err)
    assert.equal("terminate\tshutdown\n", out)
  end)

  it("shuts its processes down in order when the script itself calls os.exit", function()
    local status, out, err = luajit(SERVER .. [[
      os.exit(6, true)
      print("os.exit returned")
    ]])
    assert.equal(6, status, err)
    assert.equal("terminate\tshutdown\n", out)
  end)

  -- os.exit ends the OS process without the runtime's stop (no lua_close):
  -- the ports' programs were left running, owners dead or not.
  for _, who in ipairs({ "the script", "a spawned process" }) do
    it("kills its ports' programs when " .. who .. " calls os.exit", function()
      local status, out, err = luajit([[
        local mb = require "moonbeam"
        local port = require "moonbeam.port"
        local from_script = ]] .. tostring(who == "the script") .. [[

        local p = assert(port.open({ "sh", "-c", "echo $$; exec sleep 30" }))
        local m = mb.receive(function(m) return m[1] == "port_data" end, 5000)
        print(m[3]:match("%d+")); io.stdout:flush()
        if from_script then os.exit(4) end
        mb.spawn(function() os.exit(4) end)
        mb.receive()
      ]])
      local pid = tonumber(out:match("^(%d+)\n"))
      assert.is_number(pid, err)
      local alive = os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0
      if alive then os.execute("kill -9 " .. pid) end
      assert.equal(4, status, err)
      assert.is_false(alive, "the port's program (pid " .. pid .. ") outlived the host")
    end)
  end

  it("survives being required again, as the same process", function()
    local status, out, err = luajit([[
      local mb = require "moonbeam"
      local me = mb.self()
      for k in pairs(package.loaded) do
        if k == "moonbeam" or k:match("^moonbeam%.") then package.loaded[k] = nil end
      end
      local mb2 = require "moonbeam"
      mb2.send(me, "again")
      print(mb2.self() == me, mb.receive(1000))
    ]])
    assert.equal(0, status, err)
    assert.equal("true\tagain\n", out)
  end)

  it("prints an uncaught error table as words, not \"error object is not a string\"", function()
    local status, _, err = luajit([[
      local gen_server = require "moonbeam.gen_server"
      gen_server.call("nope", "x")
    ]])
    assert.not_equal(0, status)
    assert.matches('noproc: gen_server.call%("nope", "x"%)', err)
    assert.not_matches("error object is not a string", err)
  end)

  it("raises a linked crash's exit signal in the script with the crash's message, not its tuple", function()
    local status, out, err = luajit([[
      local mb = require "moonbeam"
      mb.spawn_link(function() error({ code = 1 }) end)
      print(select(2, pcall(mb.sleep, 5000)))
      mb.spawn_link(function() error("plain words") end)
      print(select(2, pcall(mb.sleep, 5000)))
    ]])
    assert.equal(0, status, err)
    assert.matches("^moonbeam: this process received an exit signal: {code = 1}\n" ..
                   "moonbeam: this process received an exit signal: [^\n]*:4: plain words\n$", out)
  end)

  -- It carries on: it said it was dead (alive false, info nil) for good,
  -- while it went on sending and receiving.
  it("is alive after a kill it caught: alive, info, and its watchers see no DOWN", function()
    local status, out, err = luajit([[
      local mb = require "moonbeam"
      local me = mb.self()
      mb.spawn(function(host) require("moonbeam").exit(host, "kill") end, me)
      print(select(2, pcall(mb.sleep, 5000)))
      print(mb.alive(me), type(mb.info(me)))
      mb.spawn(function(host)
        local mb = require "moonbeam"
        mb.monitor(host)
        mb.send(host, mb.receive(200) or "no DOWN")
      end, me)
      print(mb.receive(2000))
    ]])
    assert.equal(0, status, err)
    assert.equal("moonbeam: this process received an exit signal: killed\ntrue\ttable\nno DOWN\n", out)
  end)
end)

describe("a spawned process", function()
  before_each(h.before)
  after_each(h.after)

  it("can require cjson", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      local cjson = require "cjson"
      mb.send(parent, { "json", cjson.encode({ 1, 2, 3 }), cjson.decode('{"a":[true]}').a[1] })
    end, mb.self())
    local m = h.expect(h.tuple("json"), "the child's report")
    assert.equal("[1,2,3]", m[2])
    assert.is_true(m[3])
  end)

  it("can require the standard libraries", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      local ok = type(string.format) == "function" and type(table.concat) == "function"
        and type(math.floor) == "function" and type(os.time) == "function"
        and type(io.open) == "function" and type(require("ffi").new) == "function"
        and type(require("bit").band) == "function" and type(coroutine.wrap) == "function"
      mb.send(parent, { "libs", ok })
    end, mb.self())
    assert.same({ "libs", true }, h.expect(h.tuple("libs"), "the child's report"))
  end)

  it("has the jit library when it touches it, and jit.opt and jit.util by require", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      local opened_before = package.loaded.jit ~= nil
      local opt, util = require "jit.opt", require "jit.util"
      mb.send(parent, { "jit", opened_before, type(opt.start), type(util.funcinfo), jit.status(),
                        require("jit") == jit })
    end, mb.self())
    assert.same({ "jit", false, "function", "function", true, true },
      h.expect(h.tuple("jit"), "the child's report"))
  end)

  it("runs interpreted until it has done some work, then compiles", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      local idle = package.loaded.jit ~= nil
      for i = 1, 2000 do   -- a thousand reductions and more: messages to itself
        mb.send(mb.self(), i)
        mb.receive()
      end
      mb.send(parent, { "compiler", idle, package.loaded.jit ~= nil and jit.status() })
    end, mb.self())
    assert.same({ "compiler", false, true }, h.expect(h.tuple("compiler"), "the child's report"))
  end)

  it("binds each moonbeam.core function at its first look-up, and that one alone", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      local core = require "moonbeam.core"
      local seen = {}
      -- A gen_server's functions come alone: no sibling, no table or socket function.
      seen.call = type(core.call_begin) == "function" and type(core.reply) == "function"
      seen.sibling_before = rawget(core, "call_send") ~= nil
      seen.tab_before = rawget(core, "tab_new") ~= nil
      seen.tab = type(core.tab_new) == "function"
      seen.tab_sibling = rawget(core, "tab_lookup") ~= nil
      seen.rest = type(core.net_listen) == "function" and type(core.net_send) == "function"
        and type(core.sup_start) == "function" and type(core.shutdown_status) == "function"
        and type(core.console_open) == "function" and type(core.port_open) == "function"
        and type(core.reg_lookup) == "function" and type(core.version) == "string"
        and core._max_timeout > 2 ^ 31
      seen.unbound = rawget(core, "tab_info") ~= nil or rawget(core, "net_recv") ~= nil
      mb.send(parent, { "core", seen })
    end, mb.self())
    local seen = h.expect(h.tuple("core"), "the child's report")[2]
    assert.same({ call = true, sibling_before = false, tab_before = false, tab = true, tab_sibling = false,
                  rest = true, unbound = false }, seen)
  end)

  it("binds them all at a look-up of a name it has none of, keeping what the program put there", function()
    mb.spawn(function(parent)
      local mb = require "moonbeam"
      local core = require "moonbeam.core"
      local mine = function() return "mine" end
      core.tab_info = mine
      local seen = { none = core.no_such_function == nil }
      seen.all = rawget(core, "net_recv") ~= nil and rawget(core, "tab_lookup") ~= nil
        and rawget(core, "version") ~= nil and rawget(core, "log_flush") ~= nil
      seen.kept = core.tab_info == mine
      seen.asks = getmetatable(core) ~= nil
      -- and the rest of the API (moonbeam.api_rest) with them
      seen.rest = rawget(mb, "sleep") ~= nil and rawget(mb, "whereis") ~= nil
      mb.send(parent, { "core", seen })
    end, mb.self())
    local seen = h.expect(h.tuple("core"), "the child's report")[2]
    assert.same({ none = true, all = true, kept = true, asks = false, rest = true }, seen)
  end)
end)

describe("package.path set in a script", function()
  after_each(sh.cleanup)

  -- A folder that is on no path, with a module in it, and a script that
  -- puts the folder on package.path after the host started.
  local function module_dir()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. sh.quote(dir)))
    local f = assert(io.open(dir .. "/pp_found_here.lua", "w"))
    f:write([[
      local M = { value = "found" }
      function M.main(to) require("moonbeam").send(to, { "main", M.value }) end
      function M.init(to) require("moonbeam").send(to, { "init", M.value }); return "ok", 0 end
      function M.handle_call(req, from, s) return "reply", M.value, s end
      return M
    ]])
    f:close()
    return dir
  end

  local SCRIPT = [[
    local mb = require "moonbeam"
    package.path = arg_dir .. "/?.lua;" .. package.path
    local me = mb.self()
    local function got(tag)
      local m = mb.receive(function(m) return type(m) == "table" and m[1] == tag end, 5000)
      return m and m[2]
    end
    mb.spawn("pp_found_here", me)
    local a = got("main")
    local gen = require "moonbeam.gen_server"
    local s = gen.start("pp_found_here", me)
    local b = got("init")
    local sup = require "moonbeam.supervisor"
    local ok = sup.start_link({ { id = "w", module = "pp_found_here", arg = me } })
    local c = got("init")
    local inner = mb.spawn(function(me)
      local mb = require "moonbeam"
      mb.spawn("pp_found_here", me)   -- a grandchild: inherited
    end, me)
    local d = got("main")
    print(a, b, c, d, s and gen.call(s, "x"))
    os.exit(0)
  ]]

  it("reaches the processes a plain luajit script spawns (and theirs, and a supervisor's)", function()
    local dir = module_dir()
    local status, out, err = luajit("local arg_dir = " .. ("%q"):format(dir) .. "\n" .. SCRIPT)
    os.execute("rm -rf " .. sh.quote(dir))
    assert.equal(0, status, err)
    assert.equal("found\tfound\tfound\tfound\tfound\n", out)
  end)

  it("reaches the processes a script under moonbeam run spawns", function()
    local dir = module_dir()
    local path = sh.script("local arg_dir = " .. ("%q"):format(dir) .. "\n" .. SCRIPT)
    local status, out, err = sh.run("./build/bin/moonbeam run " .. sh.quote(path))
    os.execute("rm -rf " .. sh.quote(dir))
    assert.equal(0, status, err)
    assert.equal("found\tfound\tfound\tfound\tfound\n", out)
  end)
end)
