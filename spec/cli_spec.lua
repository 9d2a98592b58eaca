-- The moonbeam executable: `moonbeam [options] run script.lua [args]`.

local sh = require "spec.support.shell"

local BIN = "./build/bin/moonbeam"

-- The command `moonbeam <options> run <script> <args>`, and the script's path.
local function command(source, args, options)
  local path = sh.script(source)
  local cmd = BIN .. " " .. (options or "") .. " run " .. sh.quote(path)
  for _, a in ipairs(args or {}) do cmd = cmd .. " " .. sh.quote(a) end
  return cmd, path
end

-- Runs `moonbeam <options> run <script> <args>`; returns status, stdout, stderr.
local function run_script(source, args, options)
  local cmd, path = command(source, args, options)
  local status, out, err = sh.run(cmd)
  return status, out, err, path
end

-- Starts `moonbeam <options> run <script> <args>` in the background.
local function start_script(source, args, options)
  return sh.start((command(source, args, options)))
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

  it("says an error object the script did not catch in words, without moonbeam's own frames", function()
    local status, _, err, path = run_script([[require("moonbeam.gen_server").call("nobody", "get")]])
    assert.equal(1, status)
    assert.equal("moonbeam: " .. path .. ": noproc: gen_server.call(\"nobody\", \"get\")\nstack traceback:\n\t"
                 .. path .. ":1: in main chunk\n", err)
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

  it("exits when the script returns, though other processes spin in loops that never yield", function()
    local job = start_script([[
      local mb = require "moonbeam"
      for _ = 1, 2 do   -- compiled, and interpreted where no yield reaches the scheduler
        mb.spawn(function() local x = 0 for i = 1, 1e15 do x = x + i end end)
        mb.spawn(function() jit.off(); ("a"):gsub(".", function() while true do end end) end)
      end
      mb.sleep(100)   -- compiled, and handed off
      print("returning")
      io.stdout:flush()
    ]], nil, "--schedulers 2")
    -- Timed from the return: a busy machine may be slow to start the host.
    job:wait_for("returning\n")
    local status, out, err, took = job:wait()
    assert.equal(0, status, err)
    assert.equal("returning\n", out)
    assert.equal("", err)   -- not "leaving them to the OS", after a 2 s grace period
    assert.is_true(took < 1900, "exit took " .. took .. " ms after the script returned")
  end)

  -- mb.processes() lists the host's own process (module "host"): another
  -- process's exit signal, a crash through a link, or a forged end of a
  -- shutdown must not end the host under a running script.
  it("is not ended by exit signals or messages to the host's own process", function()
    local status, out, err = run_script([[
      local mb = require "moonbeam"
      local host
      for _, p in ipairs(mb.processes()) do
        if (mb.info(p) or {}).module == "host" then host = p end
      end
      assert(host, "no host process listed")
      mb.exit(host, "shutdown")
      mb.spawn(function(h)
        local mb = require "moonbeam"
        mb.link(h)
        error("boom", 0)
      end, host)
      mb.send(host, { "$shutdown_done" })
      mb.sleep(300)
      print("still running", mb.alive(host))
    ]])
    assert.equal(0, status, err)
    assert.equal("still running\ttrue\n", out)
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

  local TWO_NAPS = require "spec.support.two_naps"

  it("sizes mb.blocking's pool with --blocking-threads", function()
    local status, out, err = run_script(TWO_NAPS, {}, "--blocking-threads 1")
    assert.equal(0, status, err)
    assert.equal("one after the other\n", out)
    status, out, err = run_script(TWO_NAPS, {}, "--blocking-threads 2 --schedulers 1")
    assert.equal(0, status, err)
    assert.equal("overlapped\n", out)
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

  it("names the call a start past --max-processes was refused in", function()
    local status, out, err = run_script([[
      local mb = require "moonbeam"
      for _ = 1, 3 do mb.spawn(function() require("moonbeam").receive() end) end
      local function say(f, ...) print((select(2, pcall(f, ...)))) end
      say(require("moonbeam.supervisor").start_link, {})
      say(require("moonbeam.supervisor").start, {})
      say(require("moonbeam.registry").start_link, { name = "r", keys = "unique" })
      say(require("moonbeam.gen_server").start, { init = function() return "ok" end })
    ]], {}, "--max-processes 5")
    assert.equal(0, status, err)
    assert.equal("supervisor.start_link: too many processes (max_processes is 5)\n" ..
                 "supervisor.start: too many processes (max_processes is 5)\n" ..
                 "registry.start_link: too many processes (max_processes is 5)\n" ..
                 "gen_server.start: too many processes (max_processes is 5)\n", out)
  end)
end)

-- A worker for the shutdown specs: it traps exits, so its supervisor's
-- "shutdown" runs its terminate, which appends "<id> <reason>" to the log
-- (its arg: {log =, id =, stuck =}); a stuck one then never returns.
local WORKER = [[
  local worker = {
    init = function(a) require("moonbeam").trap_exit(true); return "ok", a end,
    handle_cast = function(code, a) os.exit(code) end,
    terminate = function(reason, a)
      local f = assert(io.open(a.log, "a"))
      f:write(a.id, " ", tostring(reason), "\n")
      f:close()
      if a.stuck then require("moonbeam").receive() end
    end,
  }
  local function child(id, stuck)
    return { id = id, name = "worker_" .. id, module = worker, arg = { log = arg[1], id = id, stuck = stuck } }
  end
]]

-- A script that starts a supervisor with children a, b and c (registered
-- as worker_a...; b stuck in terminate if arg[2] is "stuck"), prints
-- "ready" and waits.
local TREE = WORKER .. [[
  local mb = require "moonbeam"
  local sup = require "moonbeam.supervisor"
  assert(sup.start_link({ child("a"), child("b", arg[2] == "stuck"), child("c") }))
  print("ready")
  io.stdout:flush()
  mb.receive()
]]

local function tempfile()
  local path = os.tmpname()
  os.remove(path)
  return path
end


describe("moonbeam run, shutting down in order", function()
  local log
  before_each(function() log = tempfile() end)
  after_each(function()
    os.remove(log)
    sh.cleanup()
  end)

  it("on SIGTERM: the script gets exit signal shutdown, the tree stops newest first, exit 0", function()
    local job = start_script([[
      local mb = require "moonbeam"
      mb.trap_exit(true)
    ]] .. TREE:gsub("mb%.receive%(%)", [[
      local m = mb.receive(function(m) return type(m) == "table" and m[1] == "EXIT" end)
      local f = assert(io.open(arg[1], "a"))
      f:write("script ", tostring(m[3]), "\n")
      f:close()
    ]]), { log })
    job:wait_for("ready")
    job:signal("TERM")
    local status, _, err = job:wait()
    assert.equal(0, status, err)
    assert.equal("script shutdown\nc shutdown\nb shutdown\na shutdown\n", sh.read(log))
  end)

  it("on SIGINT: the same, and exit 130", function()
    local job = start_script(TREE, { log })
    job:wait_for("ready")
    job:signal("INT")
    local status, _, err = job:wait()
    assert.equal(130, status, err)
    assert.equal("c shutdown\nb shutdown\na shutdown\n", sh.read(log))
  end)

  it("on SIGINT while a process runs os.execute: the signal is not lost (system() ignored it)", function()
    local job = start_script([[
      local mb = require "moonbeam"
      print("ready")
      io.stdout:flush()
      os.execute("sleep 1")
      print("the command ended, the host went on")
      io.stdout:flush()
      mb.sleep(10000)
    ]], {})
    job:wait_for("ready")
    require("moonbeam").sleep(300)   -- inside the command
    job:signal("INT")
    local status, out, err = job:wait()
    assert.equal(130, status, err)
    assert.is_nil(out:find("the host went on", 1, true), out)
  end)

  it("removes the console socket", function()
    local socket = tempfile()
    local job = start_script(TREE, { log }, "--console-socket " .. sh.quote(socket))
    job:wait_for("ready")
    assert.equal(0, (sh.run("test -S " .. sh.quote(socket))))
    job:signal("TERM")
    local status, _, err = job:wait()
    assert.equal(0, status, err)
    assert.equal("c shutdown\nb shutdown\na shutdown\n", sh.read(log))
    assert.is_not.equal(0, (sh.run("test -e " .. sh.quote(socket))))
  end)

  -- A first process that traps the signal and returns ends "normal",
  -- which ends none of its links: they waited for the shutdown's timeout,
  -- and the host exited 1. They get "shutdown", as its death would pass on.
  it("on SIGTERM: a first process that traps and returns normally: its links end too, exit 0 at once", function()
    local job = start_script([[
      local mb = require "moonbeam"
      local gen = require "moonbeam.gen_server"
      mb.trap_exit(true)
      assert(gen.start_link({ init = function() return "ok", 0 end }))
      mb.spawn_link(function() require("moonbeam").receive() end)
      print("ready")
      io.stdout:flush()
      mb.receive(function(m) return type(m) == "table" and m[1] == "EXIT" end)
    ]], {})
    job:wait_for("ready")
    job:signal("TERM")
    local status, _, err, waited = job:wait()
    assert.equal(0, status, err)
    assert.is_true(waited < 5000, ("it took %d ms (the shutdown timeout is 10 s)"):format(waited))
  end)

  it("os.exit(code) from a child of a first process that traps and returns: exit code at once", function()
    local status, _, err = run_script([[
      local mb = require "moonbeam"
      mb.spawn_link(function() local mb = require "moonbeam" mb.sleep(50) os.exit(6) end)
      mb.trap_exit(true)
      mb.receive()
    ]], {}, "--shutdown-timeout 4000")
    assert.equal(6, status, err)
  end)

  -- The terminal it ran in closed: it died at once, its terminates never
  -- ran and its console socket was left behind.
  it("on SIGHUP: the same shutdown, the console socket removed, exit 129", function()
    local socket = tempfile()
    local job = start_script(TREE, { log }, "--console-socket " .. sh.quote(socket))
    job:wait_for("ready")
    job:signal("HUP")
    local status, _, err = job:wait()
    assert.equal(129, status, err)
    assert.equal("c shutdown\nb shutdown\na shutdown\n", sh.read(log))
    assert.is_not.equal(0, (sh.run("test -e " .. sh.quote(socket))))
  end)

  -- While a log handler has a file, SIGHUP is logrotate's: the file is
  -- reopened and the host goes on.
  it("on SIGHUP with a log file: reopens it and goes on", function()
    local job = start_script([[
      local mb = require "moonbeam"
      local log = require "moonbeam.logger"
      assert(log.add_handler("file", { type = "file", path = arg[1] }))
      log.notice("before")
      log.flush()
      print("ready")
      io.stdout:flush()
      mb.receive(function(m) return m == "never" end, 1500)
      log.notice("after")
      log.flush()
      print("still here")
    ]], { log })
    job:wait_for("ready")
    local rotated = log .. ".1"
    assert(os.rename(log, rotated))
    job:signal("HUP")
    local status, out, err = job:wait()
    assert.equal(0, status, err)
    assert.truthy(out:find("still here", 1, true))
    assert.truthy(sh.read(rotated):find("before", 1, true))
    assert.truthy(sh.read(log):find("after", 1, true))
    os.remove(rotated)
  end)

  it("exits at once with status 1 on a second SIGINT while a terminate is stuck", function()
    local job = start_script(TREE, { log, "stuck" })
    job:wait_for("ready")
    job:signal("INT")
    job:wait_until(function() return sh.read(log):find("b shutdown", 1, true) end, 10000, "b's terminate")
    job:signal("INT")
    local status, _, err, waited = job:wait()
    assert.equal(1, status, err)
    assert.is_true(waited < 5000, ("it took %d ms (the shutdown timeout is 10 s)"):format(waited))
    assert.equal("c shutdown\nb shutdown\n", sh.read(log))
  end)

  it("exits with status 1 when the shutdown takes longer than --shutdown-timeout", function()
    local job = start_script(TREE, { log, "stuck" }, "--shutdown-timeout 300")
    job:wait_for("ready")
    local t0 = sh.clock_ms()
    job:signal("TERM")
    local status, _, err = job:wait()
    local took = sh.clock_ms() - t0
    assert.equal(1, status, err)
    assert.matches("did not finish within 300 ms", err)
    assert.is_true(took >= 250 and took < 5000, ("it took %d ms"):format(took))
    assert.equal("c shutdown\nb shutdown\n", sh.read(log))
  end)

  it("exits with status 1 when a process's finalizer never ends, past --shutdown-timeout", function()
    local job = start_script([[
      local mb = require "moonbeam"
      mb.spawn(function()   -- outside the tree: its state is closed as the host stops
        local mb = require "moonbeam"
        local u = newproxy(true)
        getmetatable(u).__gc = function() local x = 0 while true do x = x + 1 end end
        _G.kept = u
        mb.receive()
      end)
      print("ready")
      io.stdout:flush()
      mb.receive()
    ]], {}, "--shutdown-timeout 500")
    job:wait_for("ready")
    job:signal("TERM")
    local status, _, err, waited = job:wait(30000)
    assert.equal(1, status, err)
    assert.matches("finalizers did not finish within 500 ms", err)
    assert.is_true(waited < 10000, ("it took %d ms"):format(waited))
  end)

  it("refuses a --shutdown-timeout that is not a number of ms", function()
    local status, out, err = run_script("print('should not run')", {}, "--shutdown-timeout soon")
    assert.equal(2, status)
    assert.equal("", out)
    assert.matches("%-%-shutdown%-timeout needs a number", err)
  end)
  -- More than the kernel's buffers hold, queued behind a high-water mark
  -- that lets send return at once: the end of the host cut it off, and the
  -- peer saw a clean end of a shortened stream (4 MB of 20).
  it("sends what a socket had queued before the host ends, as a close does", function()
    local mb = require "moonbeam"
    local net = require "moonbeam.net"
    local l = assert(net.listen(0))
    local _, port = net.sockname(l)
    local job = start_script([[
      local net = require "moonbeam.net"
      local c = assert(net.connect("127.0.0.1", tonumber(arg[1]), { high_watermark = 64 * 1024 * 1024 }))
      assert(net.send(c, string.rep("x", 20 * 1024 * 1024)))
      assert(net.close(c))
    ]], { tostring(port) })
    local s = assert(net.accept(l, 10000))
    mb.sleep(300)   -- the script has ended its part by now
    local got = 0
    while true do
      local data, err = net.recv(s, nil, 10000)
      if not data then
        assert.equal("closed", err)
        break
      end
      got = got + #data
    end
    net.close(s)
    net.close(l)
    local status, _, err = job:wait()
    assert.equal(0, status, err)
    assert.equal(20 * 1024 * 1024, got)
  end)
end)

describe("os.exit in moonbeam run", function()
  local log
  before_each(function() log = tempfile() end)
  after_each(function()
    os.remove(log)
    sh.cleanup()
  end)

  it("from a spawned process ends the host with its status, after terminate callbacks", function()
    local status, out, err = run_script(TREE:gsub("mb%.receive%(%)", [[
      mb.spawn(function() os.exit(3) end)
      mb.receive()
    ]]), { log })
    assert.equal(3, status, err)
    assert.equal("ready\n", out)
    assert.equal("c shutdown\nb shutdown\na shutdown\n", sh.read(log))
  end)

  it("from a supervised gen_server's callback: the other children stop in order", function()
    local status, _, err = run_script(TREE:gsub("mb%.receive%(%)", [[
      local gen = require "moonbeam.gen_server"
      gen.cast("worker_b", 4)
      mb.receive()
    ]]), { log })
    assert.equal(4, status, err)
    assert.equal("c shutdown\na shutdown\n", sh.read(log))
  end)

  it("from a gen_server's callback once the shutdown's signals went out: ended untrapped, no terminate", function()
    -- a asks first (status 4); the tree stops c, whose terminate has b ask
    -- too: b ends at once with "shutdown" as the signal would end it, not
    -- by an exit raised in its callback (which ran b's terminate).
    local status, _, err = run_script(WORKER .. [[
      local mb = require "moonbeam"
      local gen = require "moonbeam.gen_server"
      local sup = require "moonbeam.supervisor"
      local last = child("c")
      last.module = { init = worker.init, handle_cast = worker.handle_cast, terminate = function(reason, a)
        local f = assert(io.open(a.log, "a"))
        f:write(a.id, " ", tostring(reason), "\n")
        f:close()
        require("moonbeam.gen_server").cast("worker_b", 6)
        require("moonbeam").sleep(300)
      end }
      assert(sup.start_link({ child("a"), child("b"), last }))
      gen.cast("worker_a", 4)
      mb.receive()
    ]], { log })
    assert.equal(4, status, err)
    assert.equal("c shutdown\n", sh.read(log))
  end)

  it("from the script itself does not return, and stops the script's tree first", function()
    local status, out, err = run_script(TREE:gsub("mb%.receive%(%)", [[
      os.exit(5)
      print("after os.exit")
    ]]), { log })
    assert.equal(5, status, err)
    assert.equal("ready\n", out)
    assert.equal("c shutdown\nb shutdown\na shutdown\n", sh.read(log))
  end)
end)

describe("moonbeam run never fails silently", function()
  after_each(sh.cleanup)

  -- With the crash log on, as a user runs it.
  local function run_loud(source)
    local path = sh.script(source)
    return sh.run("env -u MOONBEAM_CRASH_LOG " .. BIN .. " run " .. sh.quote(path))
  end

  it("prints the init error of a child the script start_link'd", function()
    local status, _, err = run_loud([[
      local gen = require "moonbeam.gen_server"
      gen.start_link({ init = function() error("no database here") end })
    ]])
    assert.equal(1, status)
    assert.matches("no database here", err)
    assert.matches("traceback", err)
  end)

  it("prints why a child the script start_link'd could not load its module", function()
    local status, _, err = run_loud([[
      local gen = require "moonbeam.gen_server"
      gen.start_link("no.such.module")
    ]])
    assert.equal(1, status)
    assert.matches("module 'no.such.module' not found", err, 1, true)
  end)

  it("prints which child of a supervisor failed to start, and its error", function()
    local status, _, err = run_loud([[
      local sup = require "moonbeam.supervisor"
      sup.start_link({
        { id = "cache", module = { init = function() return "ok", 0 end } },
        { id = "db", module = { init = function() error("cannot reach the database") end } },
      })
    ]])
    assert.equal(1, status)
    assert.matches("child 'db' failed to start", err, 1, true)
    assert.matches("cannot reach the database", err, 1, true)
  end)

  it("prints a nested supervisor's failed child", function()
    local status, _, err = run_loud([[
      local sup = require "moonbeam.supervisor"
      sup.start_link({
        { id = "inner", type = "supervisor", children = { { id = "w", module = "no.such.worker" } } },
      })
    ]])
    assert.equal(1, status)
    assert.matches("child 'inner' failed to start: child 'w' failed to start", err, 1, true)
    assert.matches("module 'no.such.worker' not found", err, 1, true)
  end)

  it("prints the script's own crash once", function()
    local status, _, err = run_loud([[error("kaboom, once")]])
    assert.equal(1, status)
    local _, n = err:gsub("kaboom, once", "")
    assert.equal(1, n, err)
  end)
end)

describe("moonbeam --help", function()
  it("exits 0 and describes run and the options", function()
    local status, out, err = sh.run(BIN .. " --help")
    assert.equal(0, status, err)
    local text = out .. err
    assert.matches("run", text)
    assert.matches("%-%-schedulers", text)
    assert.matches("%-%-blocking%-threads", text)
    assert.matches("%-%-max%-processes", text)
    assert.matches("%-%-shutdown%-timeout", text)
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

  it("exits 2 when --blocking-threads is not a number from 1 to 1024", function()
    local path = sh.script("print('should not run')")
    finally(sh.cleanup)
    for _, bad in ipairs({ "abc", "0", "-1", "1025", "" }) do
      local status, out, err = sh.run(BIN .. " --blocking-threads " .. sh.quote(bad) .. " run " .. sh.quote(path))
      assert.equal(2, status, "--blocking-threads " .. bad)
      assert.equal("", out)
      assert.matches("%-%-blocking%-threads needs a number from 1 to 1024", err)
    end
  end)

  it("exits 2 when --max-processes is not a number from 2 to 2097152", function()
    local path = sh.script("print('should not run')")
    finally(sh.cleanup)
    for _, bad in ipairs({ "nope", "0", "1", "2097153" }) do
      local status, out, err = sh.run(BIN .. " --max-processes " .. bad .. " run " .. sh.quote(path))
      assert.equal(2, status, bad)
      assert.equal("", out)
      assert.matches("%-%-max%-processes needs a number from 2 to 2097152", err)
    end
  end)
end)

describe("moonbeam's words when it cannot start or run", function()
  after_each(sh.cleanup)

  it("a script that does not load: the error alone, no traceback of moonbeam's own", function()
    local status, _, err, path = run_script("syntax(")
    assert.equal(1, status)
    assert.equal("moonbeam: " .. path .. ": " .. path .. ":1: unexpected symbol near '<eof>'\n", err)
  end)

  it("os.exit with a code that is no number: os.exit's own error", function()
    local status, _, err = run_script([[os.exit("x")]])
    assert.equal(1, status)
    assert.matches("os.exit: code must be a number or a boolean, got string", err, 1, true)
    assert.is_nil(err:find("[string", 1, true), err)
    assert.equal(4, (run_script([[os.exit("4")]])))
  end)

  it("says 'moonbeam:' once before the runtime's own errors", function()
    local status, _, err = sh.run("MOONBEAM_MAX_PROCESSES=3000000 " .. BIN .. " -e 'print(1)'")
    assert.equal(1, status)
    assert.equal("moonbeam: max_processes must be from 2 to 2097152\n", err)
  end)

  it("refuses a MOONBEAM_* value that is no whole number from 1 up, and MOONBEAM_MAX_PROCESSES=1", function()
    for _, bad in ipairs { "abc", "0", "-1", "2.5" } do
      local status, out, err = sh.run("MOONBEAM_SCHEDULERS=" .. bad .. " " .. BIN .. " -e 'print(1)'")
      assert.equal(1, status, bad)
      assert.equal("", out)
      assert.equal("moonbeam: MOONBEAM_SCHEDULERS must be a whole number from 1 up, got '" .. bad .. "'\n", err)
    end
    assert.equal(0, (sh.run("MOONBEAM_SCHEDULERS= " .. BIN .. " -e 'print(1)'")))
    local status, _, err = sh.run("MOONBEAM_MAX_PROCESSES=1 " .. BIN .. " -e 'print(1)'")
    assert.equal(1, status)
    assert.matches("max_processes must be from 2", err)
  end)

  it("removes at exit its console socket only: not another host's made at the same path since", function()
    local sock = os.tmpname()
    os.remove(sock)
    local script = sh.script("print('up') io.stdout:flush() require('moonbeam').sleep(60000)")
    local a = sh.start(BIN .. " --console-socket " .. sh.quote(sock) .. " run " .. sh.quote(script))
    a:wait_for("up")
    os.remove(sock)   -- by hand: a second host may take the path
    local b = sh.start(BIN .. " --console-socket " .. sh.quote(sock) .. " run " .. sh.quote(script))
    b:wait_for("up")
    a:signal("TERM")
    a:wait()
    assert.equal(0, (sh.run("test -S " .. sh.quote(sock))), "the second host's socket is gone")
    b:signal("TERM")
    b:wait()
    assert.is_not.equal(0, (sh.run("test -e " .. sh.quote(sock))))
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

describe("moonbeam run --watch", function()
  -- A directory of its own for the test's modules, gone after it.
  local function watched_dir()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. sh.quote(dir)) == 0)
    finally(function()
      os.execute("rm -rf " .. sh.quote(dir))
      sh.cleanup()
    end)
    return dir
  end

  it("reloads a module when its file changes, and says so on stderr", function()
    local dir = watched_dir()
    local path = sh.script([[
      local mb = require "moonbeam"
      io.stdout:setvbuf("line")
      local file = arg[1] .. "/watched.lua"
      local function write(text)
        local f = assert(io.open(file .. ".new", "w"))   -- replaced by a rename, as editors do
        f:write(text)
        f:close()
        assert(os.rename(file .. ".new", file))
      end
      local function version(v) return ("return { v = function() return %q end }\n"):format(v) end
      -- Until the watcher made this process take the new version (it
      -- does at a receive), or 10 s.
      local function wait_for(v)
        for _ = 1, 500 do
          if require("watched").v() == v then return print(v) end
          mb.receive(20)
        end
        print("still " .. require("watched").v())
      end
      write(version("one"))
      print(require("watched").v())
      write(version("two"))
      wait_for("two")
      write("return {")   -- a syntax error: not taken, and said once
      print("broken")
      while not io.open(file .. ".go") do mb.receive(20) end
      write(version("three"))
      wait_for("three")
    ]])
    local env = "env LUA_PATH=" .. sh.quote(dir .. "/?.lua;" .. (os.getenv("LUA_PATH") or ";"))
    local job = sh.start(env .. " " .. BIN .. " run --watch " .. sh.quote(path) .. " " .. sh.quote(dir))
    job:wait_for("broken")
    job:wait_until(function() return sh.read(job.err):find("not reloaded", 1, true) end, 10000,
      "the watcher to say it did not reload the broken version")
    assert(io.open(dir .. "/watched.lua.go", "w")):close()
    local status, out, err = job:wait()
    assert.equal(0, status, err)
    assert.equal("one\ntwo\nbroken\nthree\n", out)
    local _, reloads = err:gsub("moonbeam: reloaded watched %(1 process took it%)\n", "")
    assert.equal(2, reloads, err)
    local _, failures = err:gsub("moonbeam: watched changed but was not reloaded: [^\n]*watched.lua:1:", "")
    assert.equal(1, failures, err)
  end)

  it("reloads a module found on a package.path the script set itself", function()
    local dir = watched_dir()
    local path = sh.script([[
      local mb = require "moonbeam"
      package.path = arg[1] .. "/?.lua;" .. package.path   -- after the watcher started
      local file = arg[1] .. "/mine.lua"
      local function write(v)
        local f = assert(io.open(file .. ".new", "w"))
        f:write(("return { v = function() return %q end }\n"):format(v))
        f:close()
        assert(os.rename(file .. ".new", file))
      end
      write("one")
      assert(require("mine").v() == "one")
      write("two")
      for _ = 1, 500 do
        if require("mine").v() == "two" then return print("two") end
        mb.receive(20)
      end
      print("still " .. require("mine").v())
    ]])
    local status, out, err = sh.run(BIN .. " run --watch " .. sh.quote(path) .. " " .. sh.quote(dir), 30)
    assert.equal(0, status, err)
    assert.equal("two\n", out)
    assert.matches("moonbeam: reloaded mine (1 process took it)", err, 1, true)
  end)
end)
