-- moonbeam.port: real programs (echo, cat, sh, sleep, env, pwd) run as
-- ports. What each call returns and refuses, the messages a port sends its
-- owner (port_exit last), signals as 128+N, and that an owner's death
-- kills the program.

local mb = require "moonbeam"
local port = require "moonbeam.port"

-- Every message about p up to and including its port_exit, within 2 s each.
local function drain(p)
  local got = {}
  repeat
    local m = mb.receive(function(m) return type(m) == "table" and m[2] == p end, 2000)
    assert(m, "no port_exit within 2 s")
    got[#got + 1] = m
  until m[1] == "port_exit"
  return got
end

-- The concatenated data of tag in msgs, and the exit status.
local function output(msgs, tag)
  local parts = {}
  for _, m in ipairs(msgs) do
    if m[1] == (tag or "port_data") then parts[#parts + 1] = m[3] end
  end
  return table.concat(parts), msgs[#msgs][3]
end

local function alive(pid)
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0
end

-- The descriptors open in this OS process (the host runs inside it), as a
-- set: fcntl(F_GETFD) fails only on one that is not open.
local ffi = require "ffi"
pcall(ffi.cdef, "int fcntl(int fd, int cmd, ...);")
local function open_fds()
  local set = {}
  for fd = 0, 4095 do
    if ffi.C.fcntl(fd, 1) >= 0 then set[fd] = true end
  end
  return set
end

describe("port.open", function()
  it("runs a program found in PATH, its output as port_data, then port_exit 0", function()
    local p = assert(port.open({ "echo", "hello", "world" }))
    assert.matches("^#Port<%d+>$", tostring(p))
    local out, status = output(drain(p))
    assert.equal("hello world\n", out)
    assert.equal(0, status)
  end)

  it("passes argv without a shell", function()
    local p = assert(port.open({ "echo", "$HOME", "a;b" }))
    assert.equal("$HOME a;b\n", (output(drain(p))))
  end)

  it("reports the exit status", function()
    local p = assert(port.open({ "sh", "-c", "exit 3" }))
    assert.same({ { "port_exit", p, 3 } }, drain(p))
  end)

  -- A bounded mailbox drops the program's output past its bound, as any
  -- message, but never its end: an owner would wait for it for ever.
  it("gives port_exit to an owner whose bounded mailbox is full", function()
    local me = mb.self()
    mb.spawn_opt(function(me)
      local mb, port = require "moonbeam", require "moonbeam.port"
      local p = assert(port.open({ "sh", "-c", "printf a; printf b; printf c; printf d; exit 7" }))
      mb.sleep(300)   -- the program has ended meanwhile, its messages queued or dropped
      local last
      repeat last = mb.receive(2000) until last == nil or last[1] == "port_exit"
      mb.send(me, { "owner saw", last and last[1], last and last[3] })
    end, { max_queue = 1 }, me)
    local m = mb.receive(function(m) return type(m) == "table" and m[1] == "owner saw" end, 10000)
    assert.same({ "owner saw", "port_exit", 7 }, m)
  end)

  it("a program that does not exist gives nil, enoent", function()
    assert.same({ nil, "enoent" }, { port.open({ "moonbeam-no-such-program" }) })
  end)

  it("a cwd that does not exist gives nil, an error", function()
    local p, err = port.open({ "pwd" }, { cwd = "/nonexistent-moonbeam-dir" })
    assert.is_nil(p)
    assert.equal("enoent", err)
  end)

  -- Each string sat on a C function's stack, 8,000 slots: from 7,990
  -- arguments (or 9,000 variables) it raised "stack overflow".
  it("passes an argv of 10,000 strings and an env of 9,000 variables", function()
    local argv = { "echo" }
    for i = 1, 10000 do argv[#argv + 1] = "a" end
    local p = assert(port.open(argv))
    assert.equal(20000, #output(drain(p)))
    local env = {}
    for i = 1, 9000 do env["MB_SPEC_" .. i] = "v" end
    p = assert(port.open({ "sh", "-c", "echo $MB_SPEC_1 $MB_SPEC_9000" }, { env = env }))
    assert.equal("v v\n", (output(drain(p))))
  end)

  it("cwd sets the directory; env adds to the environment", function()
    local p = assert(port.open({ "pwd" }, { cwd = "/tmp" }))
    assert.equal("/tmp\n", (output(drain(p))))
    p = assert(port.open({ "env" }, { env = { MOONBEAM_PORT_SPEC = "yes" } }))
    local env = output(drain(p))
    assert.matches("\nMOONBEAM_PORT_SPEC=yes\n", "\n" .. env)
    assert.matches("\nPATH=", "\n" .. env)   -- added to, not replaced
  end)

  it("stderr: separate by default, merge into port_data, or discard", function()
    local cmd = { "sh", "-c", "echo out; echo err >&2" }
    local msgs = drain(assert(port.open(cmd)))
    assert.equal("out\n", (output(msgs)))
    assert.equal("err\n", (output(msgs, "port_stderr")))
    msgs = drain(assert(port.open(cmd, { stderr = "merge" })))
    local merged = output(msgs)
    assert.is_truthy(merged:find("out\n", 1, true) and merged:find("err\n", 1, true))
    assert.equal("", (output(msgs, "port_stderr")))
    msgs = drain(assert(port.open(cmd, { stderr = "discard" })))
    assert.equal("out\n", (output(msgs)))
    assert.equal("", (output(msgs, "port_stderr")))
  end)

  it("bad arguments raise errors that name the call", function()
    assert.has_error(function() port.open("echo") end, "port.open: argv must be a non-empty array of strings")
    assert.has_error(function() port.open({}) end, "port.open: argv must be a non-empty array of strings")
    assert.has_error(function() port.open({ "echo", 1 }) end, "port.open: each argv element must be a string without NUL")
    assert.has_error(function() port.open({ "echo" }, 5) end, "port.open: opts must be a table, got number")
    assert.has_error(function() port.open({ "echo" }, { stderr = "x" }) end,
      'port.open: stderr must be "separate", "merge" or "discard"')
    assert.has_error(function() port.open({ "echo" }, { env = { ["A=B"] = "c" } }) end,
      "port.open: an env name must be non-empty, without '='")
    assert.has_error(function() port.open({ "echo" }, { cwd = 1 }) end, "port.open: cwd must be a string without NUL")
    assert.has_error(function() port.open({ "echo" }, { cdw = "/" }) end, "port.open: unknown option 'cdw'")
    assert.has_error(function() port.open({ "echo" }, { "x" }) end,
      "port.open: opts keys are option names, got a number key")
    assert.has_error(function() port.write("p", "x") end, "port.write: a port expected, got string")
    assert.has_error(function() port.kill(nil) end, "port.kill: a port expected, got nil")
    assert.has_error(function() port.close_stdin({}) end, "port.close_stdin: a port expected, got table")
    assert.has_error(function() port.controlling_process("p", mb.self()) end,
                     "port.controlling_process: a port expected, got string")
    local u = require("moonbeam.net").udp_open(0)
    assert.has_error(function() port.controlling_process(u, mb.self()) end,
                     "port.controlling_process: a port expected, got a socket")
    assert.has_error(function() port.write(u, "x") end, "port.write: a port expected, got a socket")
    require("moonbeam.net").close(u)
  end)

  it("controlling_process to no pid raises at the line of the call", function()
    local p = assert(port.open({ "cat" }))
    local line = debug.getinfo(1, "l").currentline
    local _, err = pcall(function() port.controlling_process(p, 5) end)
    assert.equal(("port_spec.lua:%d: port.controlling_process: a pid expected, got number"):format(line + 1),
                 tostring(err):match("[^/]*$"))
    port.kill(p, "KILL")
  end)
end)

describe("port.write and port.close_stdin", function()
  it("cat echoes what is written, and exits when stdin closes", function()
    local p = assert(port.open({ "cat" }))
    assert.is_true(port.write(p, "one "))
    assert.is_true(port.write(p, "two"))
    assert.is_true(port.close_stdin(p))
    assert.same({ nil, "closed" }, { port.write(p, "late") })
    local out, status = output(drain(p))
    assert.equal("one two", out)
    assert.equal(0, status)
  end)

  it("close_stdin twice is no error while the program runs", function()
    -- cat would end at once with its stdin: this one lives on until killed.
    local p = assert(port.open({ "sh", "-c", "cat; exec sleep 30" }))
    assert.is_true(port.write(p, "x"))
    assert.is_true(port.close_stdin(p))
    assert.is_true(port.close_stdin(p))
    assert.same({ nil, "closed" }, { port.write(p, "late") })
    local echoed = mb.receive(function(m) return m[1] == "port_data" and m[2] == p end, 5000)
    assert.same({ "port_data", p, "x" }, echoed)   -- all there is: now only the end
    assert.is_true(port.kill(p, "KILL"))
    local out, status = output(drain(p))
    assert.equal("", out)
    assert.equal(128 + 9, status)
  end)

  it("moves a megabyte through cat", function()
    local p = assert(port.open({ "cat" }))
    local chunk = string.rep("x", 64 * 1024)
    local _, writer = mb.spawn_monitor(function(p, chunk)
      local port = require "moonbeam.port"
      for _ = 1, 16 do assert(port.write(p, chunk)) end
    end, p, chunk)
    local n = 0
    while n < 16 * #chunk do
      local m = mb.receive(function(m) return m[1] == "port_data" and m[2] == p end, 2000)
      assert(m, "data stopped at " .. n)
      n = n + #m[3]
    end
    assert.equal(16 * #chunk, n)
    -- Every write was answered (the writer ended normally): its last answer
    -- may reach it just after the data reached us, so wait for its DOWN.
    local down = mb.receive(function(m) return m[1] == "DOWN" and m[2] == writer end, 5000)
    assert(down, "the writer did not end")
    assert.equal("normal", down[5])
    port.close_stdin(p)
    assert.equal(0, select(2, output(drain(p))))
  end)

  it("its owner writes 4 MB through cat in one write, then reads them all", function()
    -- The owner cannot empty its mailbox while it writes: the port must go
    -- on reading cat's output meanwhile, or cat blocks and the write never ends.
    local me = mb.self()
    local owner = mb.spawn(function(me)
      local mb, port = require "moonbeam", require "moonbeam.port"
      local p = assert(port.open({ "cat" }))
      local big = string.rep("w", 4 * 1024 * 1024)
      mb.send(me, { "written", port.write(p, big) })
      port.close_stdin(p)
      local n, status = 0, nil
      repeat
        local m = mb.receive(function(m) return m[2] == p end, 2000)
        if m and m[1] == "port_data" then n = n + #m[3] end
        if m and m[1] == "port_exit" then status = m[3] end
      until m == nil or status
      mb.send(me, { "read", n, status })
    end, me)
    local written = mb.receive(function(m) return m[1] == "written" end, 5000)
    if not written then mb.exit(owner, "kill") end
    assert(written, "the owner's write through cat never ended")
    assert.is_true(written[2])
    local read = mb.receive(function(m) return m[1] == "read" end, 5000)
    assert.same({ "read", 4 * 1024 * 1024, 0 }, read)
  end)

  it("write after the exit says closed, as do kill and close_stdin", function()
    local p = assert(port.open({ "sh", "-c", "exit 0" }))
    drain(p)
    assert.same({ nil, "closed" }, { port.write(p, "x") })
    assert.same({ nil, "closed" }, { port.kill(p) })
    assert.same({ nil, "closed" }, { port.close_stdin(p) })
    assert.has_error(function() port.write(p, 5) end, "port.write: data must be a string, got number")
  end)
end)

describe("port.kill", function()
  it("TERM by default: status 128 + 15", function()
    local p = assert(port.open({ "sleep", "30" }))
    assert.is_true(port.kill(p))
    assert.equal(143, select(2, output(drain(p))))
  end)

  it("by name (KILL, SIGINT) and by number", function()
    local p = assert(port.open({ "sleep", "30" }))
    assert.is_true(port.kill(p, "KILL"))
    assert.equal(137, select(2, output(drain(p))))
    p = assert(port.open({ "sleep", "30" }))
    assert.is_true(port.kill(p, "SIGINT"))
    assert.equal(130, select(2, output(drain(p))))
    p = assert(port.open({ "sleep", "30" }))
    assert.is_true(port.kill(p, 9))
    assert.equal(137, select(2, output(drain(p))))
    p = assert(port.open({ "sleep", "30" }))
    assert.is_true(port.kill(p, "SIGPROF"))   -- every POSIX name, not only the common ones
    assert.equal(128 + 27, select(2, output(drain(p))))
    p = assert(port.open({ "sleep", "30" }))
    assert.is_true(port.kill(p, "POLL"))   -- POSIX's, obsolescent: Linux's SIGIO
    assert.equal(128 + 29, select(2, output(drain(p))))
  end)

  it("an unknown signal raises", function()
    local p = assert(port.open({ "sleep", "30" }))
    assert.has_error(function() port.kill(p, "NOPE") end,
      'port.kill: signal must be a number from 1 to 64 or a name such as "TERM"')
    assert.has_error(function() port.kill(p, 0) end)
    port.kill(p, "KILL")
    drain(p)
  end)
end)

describe("ports and their owner", function()
  it("kill, close_stdin and controlling_process from another process: not_owner; write from any", function()
    local p = assert(port.open({ "cat" }))
    local me = mb.self()
    mb.spawn(function(me, p)
      local mb, port = require "moonbeam", require "moonbeam.port"
      mb.send(me, { "other", { port.kill(p) }, { port.close_stdin(p) },
                    { port.controlling_process(p, mb.self()) }, port.write(p, "hi") })
    end, me, p)
    local m = mb.receive(function(m) return m[1] == "other" end, 2000)
    assert.same({ nil, "not_owner" }, m[2])
    assert.same({ nil, "not_owner" }, m[3])
    assert.same({ nil, "not_owner" }, m[4])
    assert.is_true(m[5])
    port.close_stdin(p)
    assert.equal("hi", (output(drain(p))))
  end)

  it("controlling_process hands it over with its queued messages", function()
    local p = assert(port.open({ "cat" }))
    port.write(p, "early")
    mb.sleep(50)   -- "early" is now in this mailbox
    local me = mb.self()
    local to = mb.spawn(function(me, p)
      local mb, port = require "moonbeam", require "moonbeam.port"
      local data = ""
      while true do
        local m = mb.receive()
        if m == "close" then port.close_stdin(p)
        elseif m[1] == "port_data" then data = data .. m[3]
        elseif m[1] == "port_exit" then break end
      end
      mb.send(me, { "got", data })
    end, me, p)
    assert.is_true(port.controlling_process(p, to))
    assert.same({ nil, "not_owner" }, { port.close_stdin(p) })
    port.write(p, "late")
    mb.send(to, "close")
    assert.same({ "got", "earlylate" }, mb.receive(function(m) return m[1] == "got" end, 2000))
  end)

  it("controlling_process to its own owner returns, its queued messages left in order", function()
    local p = assert(port.open({ "sh", "-c", "echo one; sleep 0.1; echo two" }))
    mb.sleep(50)   -- "one" is now in this mailbox
    assert.is_true(port.controlling_process(p, mb.self()))
    local got, status = output(drain(p))
    assert.equal("one\ntwo\n", got)
    assert.equal(0, status)
  end)

  it("an owner's death has closed its program's pipes before its DOWN", function()
    -- The I/O thread runs, with descriptors of its own; the port's pipes
    -- are closed once a call after its port_exit is answered.
    local first = assert(port.open({ "true" }))
    drain(first)
    port.kill(first)
    local before = open_fds()
    local owner = mb.spawn(function(me)
      local mb, port = require "moonbeam", require "moonbeam.port"
      assert(port.open({ "sleep", "30" }))
      mb.send(me, "open")
      mb.receive()
    end, mb.self())
    assert.equal("open", mb.receive(function(m) return m == "open" end, 2000))
    local pipes = {}
    for fd in pairs(open_fds()) do
      if not before[fd] then pipes[#pipes + 1] = fd end
    end
    assert.is_true(#pipes >= 3)   -- stdin, stdout, stderr
    local ref = mb.monitor(owner)
    mb.exit(owner, "kill")
    assert.is_not_nil(mb.receive(function(m) return type(m) == "table" and m[1] == "DOWN" and m[2] == ref end, 2000))
    for _, fd in ipairs(pipes) do assert.is_true(ffi.C.fcntl(fd, 1) < 0, "fd " .. fd .. " still open") end
  end)

  it("an owner's death SIGKILLs its program, and it is reaped", function()
    local me = mb.self()
    local owner = mb.spawn(function(me)
      local mb, port = require "moonbeam", require "moonbeam.port"
      local p = assert(port.open({ "sh", "-c", "echo $$; exec sleep 30" }))
      local m = mb.receive(function(m) return m[1] == "port_data" end, 2000)
      mb.send(me, { "pid", tonumber(m[3]:match("%d+")) })
      mb.receive()
    end, me)
    local pid = mb.receive(function(m) return m[1] == "pid" end, 2000)[2]
    assert.is_true(alive(pid))
    mb.exit(owner, "kill")
    for _ = 1, 200 do
      if not alive(pid) then break end
      mb.sleep(10)
    end
    assert.is_false(alive(pid))   -- gone: not even a zombie (kill -0 succeeds on zombies)
  end)
end)
