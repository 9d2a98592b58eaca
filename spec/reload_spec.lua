-- mb.reload(module): hot code reload. Every process that loaded the module
-- takes the new version at its next receive; a gen_server whose callback
-- module it is runs code_change and keeps its pid and state.
--
-- The modules are written to a folder of their own, put on package.path
-- before moonbeam starts: the host's processes look where this state
-- looked when the runtime started.
-- Folders are made and removed through the FFI, not a shell: this file
-- runs under the sanitizers too, where LuaJIT's os.execute fails.
local ffi = require "ffi"
pcall(ffi.cdef, "int mkdir(const char *path, unsigned int mode); int rmdir(const char *path);")
local dir = os.tmpname()
os.remove(dir)
for _, d in ipairs({ dir, dir .. "/examples", dir .. "/examples/app" }) do
  assert(ffi.C.mkdir(d, 448) == 0, "cannot make " .. d)   -- 0700
end
package.path = dir .. "/?.lua;" .. package.path
local written = {}

local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local tab = require "moonbeam.table"
local h = require "spec.support.helpers"

local function write(name, source)
  local file = dir .. "/" .. name:gsub("%.", "/") .. ".lua"
  local f = assert(io.open(file, "w"))
  f:write(source)
  f:close()
  written[file] = true
end

local function remove_all()
  for file in pairs(written) do os.remove(file) end
  for _, d in ipairs({ dir .. "/examples/app", dir .. "/examples", dir }) do ffi.C.rmdir(d) end
end

local function read(file)
  local f = assert(io.open(file))
  local s = f:read("*a")
  f:close()
  return s
end

-- A plain module whose main answers {tag, version()} to {pid, tag},
-- calling version through require (a fully-qualified call, in Erlang's
-- words): what a process sees after it took a new version.
local function plain(name, version)
  write(name, ([[
local M = {}
function M.version() return %d end
function M.main()
  local mb = require "moonbeam"
  mb.send(mb.receive(), "up")   -- the first message: who to tell it is up
  while true do
    local m = mb.receive()
    mb.send(m[1], { m[2], require(%q).version() })
  end
end
return M
]]):format(version, name))
end

-- A callback module: "get" replies {version, state}; code_change (from
-- version 2) records its arguments in the state, and raises for a state
-- whose fail is set, after changing it in place.
local function server(name, version)
  local change = version == 1 and "" or [[
function M.code_change(old_vsn, st, extra)
  st.changed = { old_vsn, extra }
  if st.fail then error("cannot upgrade this one") end
  return "ok", st
end
]]
  write(name, ([[
local M = { vsn = "%d.0" }
function M.init(st) return "ok", st end
function M.handle_call(req, _, st) return "reply", { %d, st }, st end
%s
return M
]]):format(version, version, change))
end

local function start_plain(name)
  local pid = mb.spawn(name)
  mb.send(pid, mb.self())
  h.expect(function(m) return m == "up" end, "the process to start")
  return pid
end

-- A process that loaded name and runs Lua, receiving nothing, until flag
-- (a shared table) has "go"; then it tells what version it ran, receives
-- a pid, and tells that pid what it runs now: {tag, the version through
-- its local reference, the version through require}.
local function busy_process(name, flag)
  local pid = mb.spawn(function(parent, name, flag)
    local mb, tab = require "moonbeam", require "moonbeam.table"
    local m = require(name)
    mb.send(parent, "up")
    while not tab.lookup(flag, "go") do end
    mb.send(parent, { "before", m.version(), require(name).version() })
    local from = mb.receive()
    mb.send(from, { "after", m.version(), require(name).version() })
  end, mb.self(), name, flag)
  h.expect(function(m) return m == "up" end, "the busy process to start")
  return pid
end

local function version_of(pid)
  local tag = mb.make_ref()
  mb.send(pid, { mb.self(), tag })
  return h.expect(h.tuple(tag), "the version")[2]
end

describe("mb.reload", function()
  before_each(h.before)
  after_each(h.after)
  teardown(remove_all)

  it("gives every process that loaded the module the new version, and counts them", function()
    plain("rl_count", 1)
    local pids = { start_plain("rl_count"), start_plain("rl_count"), start_plain("rl_count") }
    plain("rl_count", 2)
    assert.equal(3, mb.reload("rl_count"))
    for _, pid in ipairs(pids) do assert.equal(2, version_of(pid)) end
    plain("rl_count", 3)
    assert.equal(3, mb.reload("rl_count"))
    for _, pid in ipairs(pids) do assert.equal(3, version_of(pid)) end
    -- A process started now loads the newest version.
    assert.equal(3, version_of(start_plain("rl_count")))
  end)

  -- Loaders were known by the module's name alone: a process that set
  -- its own package.path and loaded another file by that name got this one.
  -- One whose own path finds the same file gets it.
  it("leaves alone a process that loaded another file by that name, on a package.path of its own", function()
    local other = dir .. "/other"
    assert(ffi.C.mkdir(other, 448) == 0)
    plain("rl_twin", 1)
    local f = assert(io.open(other .. "/rl_twin.lua", "w"))
    f:write((read(dir .. "/rl_twin.lua"):gsub("return 1 end", "return 10 end", 1)))
    f:close()
    local mine = start_plain("rl_twin")
    local also = mb.spawn(function(dir)   -- a path of its own, the same file on it, named otherwise
      package.path = dir .. "/other/../?.lua;" .. package.path
      require("rl_twin").main()
    end, dir)
    mb.send(also, mb.self())
    h.expect(function(m) return m == "up" end, "the process to start")
    local theirs = mb.spawn(function(other)
      package.path = other .. "/?.lua;" .. package.path
      require("rl_twin").main()
    end, other)
    mb.send(theirs, mb.self())
    h.expect(function(m) return m == "up" end, "the process to start")
    assert.equal(10, version_of(theirs))
    plain("rl_twin", 2)
    assert.equal(2, mb.reload("rl_twin"))
    assert.equal(2, version_of(mine))
    assert.equal(2, version_of(also))
    assert.equal(10, version_of(theirs))
    os.remove(other .. "/rl_twin.lua")
    ffi.C.rmdir(other)
  end)

  it("returns 0 for a module no process loaded", function()
    plain("rl_nobody", 1)
    assert.equal(0, mb.reload("rl_nobody"))
    assert.equal(1, version_of(start_plain("rl_nobody")))
  end)

  it("counts the calling process when it loaded the module itself", function()
    plain("rl_self", 1)
    assert.equal(1, require("rl_self").version())
    plain("rl_self", 2)
    assert.equal(1, mb.reload("rl_self"))
    assert.equal(2, require("rl_self").version())
    package.loaded.rl_self = nil
  end)

  it("runs code_change(old_vsn, state, extra) in a gen_server, which keeps its pid and state", function()
    server("rl_gs", 1)
    local name = h.name("rl_gs")
    local pid = assert(gen.start("rl_gs", { n = 5 }, { name = name }))
    assert.same({ 1, { n = 5 } }, gen.call(name, "get"))
    server("rl_gs", 2)
    assert.equal(1, mb.reload("rl_gs", { extra = { "upgrade" } }))
    assert.equal(pid, mb.whereis(name))
    assert.same({ 2, { n = 5, changed = { "1.0", { "upgrade" } } } }, gen.call(name, "get"))
  end)

  it("leaves a server whose code_change raises on its old code and state, and does not count it", function()
    server("rl_fail", 1)
    local good = assert(gen.start("rl_fail", { n = 1 }))
    local bad = assert(gen.start("rl_fail", { n = 2, fail = true }))
    server("rl_fail", 2)
    assert.equal(1, mb.reload("rl_fail"))
    assert.same({ 2, { n = 1, changed = { "1.0" } } }, gen.call(good, "get"))
    assert.same({ 1, { n = 2, fail = true } }, gen.call(bad, "get"))   -- not even changed in place
    assert.is_true(mb.alive(bad))
  end)

  it("changes nothing and returns nil, err when the new version does not load", function()
    server("rl_broken", 1)
    local pid = assert(gen.start("rl_broken", {}))
    write("rl_broken", "local M = {\nfunction M.init() end\nreturn M\n")
    local n, err = mb.reload("rl_broken")
    assert.is_nil(n)
    assert.matches("rl_broken.lua:2:", err, 1, true)
    write("rl_broken", "error('the new version cannot start')\n")
    n, err = mb.reload("rl_broken")
    assert.is_nil(n)
    assert.matches("the new version cannot start", err, 1, true)
    assert.same({ 1, {} }, gen.call(pid, "get"))
    -- Once the file is right again, the reload goes through.
    server("rl_broken", 2)
    assert.equal(1, mb.reload("rl_broken"))
    assert.same({ 2, { changed = { "1.0" } } }, gen.call(pid, "get"))
  end)

  it("returns nil, err for a module not on package.path", function()
    local n, err = mb.reload("rl_no_such_module")
    assert.is_nil(n)
    assert.matches("module 'rl_no_such_module' not found", err, 1, true)
  end)

  it("lets a busy process finish what it runs and switch at its next receive", function()
    plain("rl_busy", 1)
    local flag = tab.new({ access = "public" })
    local busy = busy_process("rl_busy", flag)
    plain("rl_busy", 2)
    mb.spawn(function(parent) require("moonbeam").send(parent, { "reloaded", require("moonbeam").reload("rl_busy") }) end,
      mb.self())
    -- The request waits in its mailbox while it runs.
    assert.is_true(h.wait_until(function() return mb.info(busy).message_queue_len == 1 end))
    tab.insert(flag, "go", true)
    assert.same({ "before", 1, 1 }, h.expect(h.tuple("before"), "what it ran before its receive"))
    assert.same({ "reloaded", 1 }, h.expect(h.tuple("reloaded"), "the reload's count"))
    mb.send(busy, mb.self())
    -- Its local reference keeps the old functions; require gives the new.
    assert.same({ "after", 1, 2 }, h.expect(h.tuple("after"), "what it runs after"))
  end)

  it("does not count a process that reaches no receive within the timeout; it switches later", function()
    plain("rl_late", 1)
    local flag = tab.new({ access = "public" })
    local busy = busy_process("rl_late", flag)
    plain("rl_late", 2)
    assert.equal(0, mb.reload("rl_late", { timeout = 50 }))
    tab.insert(flag, "go", true)
    h.expect(h.tuple("before"), "what it ran before its receive")
    mb.send(busy, mb.self())
    assert.same({ "after", 1, 2 }, h.expect(h.tuple("after"), "what it runs after"))
    -- Its late answer was dropped, not left in this mailbox.
    assert.is_nil(mb.receive(0))
  end)

  -- A waiting process takes the request as it is woken, on its state's
  -- main thread, where a decoding that ran out of memory exited the host.
  it("ends a waiting process whose code change request would take it past its memory_limit", function()
    plain("rl_big", 1)
    local pid, ref = mb.spawn_opt(function(parent, name)
      local mb = require "moonbeam"
      require(name)
      mb.send(parent, "up")
      mb.receive()
    end, { monitor = true, memory_limit = 1024 * 1024 }, mb.self(), "rl_big")
    h.expect(function(m) return m == "up" end, "the process to start")
    mb.sleep(20)   -- waiting in its receive
    write("rl_big", "return { big = [[" .. string.rep("z", 2 * 1024 * 1024) .. "]] }\n")
    assert.equal(0, mb.reload("rl_big"))
    assert.equal("memory_limit", h.reason(ref))
    assert.is_false(mb.alive(pid))
  end)

  it("upgrades the running demo tree without restarting a process", function()
    for _, f in ipairs({ "cache", "session_store", "worker", "pool", "tree" }) do
      write("examples.app." .. f, read("examples/app/" .. f .. ".lua"))
    end
    local sup = require "moonbeam.supervisor"
    local tree = require "examples.app.tree"
    local cache = require "examples.app.cache"
    mb.trap_exit(true)
    local top = assert(tree.start({ workers = 2, name = h.name("app") }))
    -- Every process of the tree, by supervisor and child id.
    local function pids(s, out)
      out = out or {}
      for _, c in ipairs(sup.which_children(s)) do
        out[#out + 1] = tostring(s) .. "/" .. tostring(c.id) .. "=" .. tostring(c.pid)
        if c.type == "supervisor" then pids(c.pid, out) end
      end
      table.sort(out)
      return out
    end
    -- The pool fills the worker supervisor just after it starts.
    assert.is_true(h.wait_until(function() return #pids(top) == 7 end))
    local before = pids(top)
    cache.put("lua", "a language")
    local source = read(dir .. "/examples/app/cache.lua")
    local new = source:gsub('\n  return "reply", nil, st\nend',
      '\n  if op == "version" then return "reply", { Cache.vsn, st.upgraded }, st end\n  return "reply", nil, st\nend')
      :gsub("\nreturn Cache\n$",
      '\nCache.vsn = 2\nfunction Cache.code_change(_, st) st.upgraded = true; return "ok", st end\nreturn Cache\n')
    assert.is_not.equal(source, new)
    write("examples.app.cache", new)
    -- The cache server, and this process (it required the client functions).
    assert.equal(2, mb.reload("examples.app.cache"))
    assert.same(before, pids(top))
    assert.same({ 2, true }, gen.call("cache", { "version" }))
    assert.equal("a language", cache.get("lua"))
    sup.stop(top)
    package.loaded["examples.app.cache"], package.loaded["examples.app.tree"] = nil, nil
  end)

  it("refuses bad arguments", function()
    assert.equal("reload: module must be a module name (a non-empty string without NUL bytes), got nil",
      h.error_of(mb.reload))
    assert.equal("reload: module must be a module name (a non-empty string without NUL bytes), got number",
      h.error_of(mb.reload, 42))
    assert.equal("reload: module must be a module name (a non-empty string without NUL bytes), got an empty string",
      h.error_of(mb.reload, ""))
    assert.equal("reload: module must be a module name (a non-empty string without NUL bytes), got a string with a NUL byte",
      h.error_of(mb.reload, "spec.support.counter\0x"))
    assert.equal("reload: opts must be a table", h.error_of(mb.reload, "x", 5))
    assert.equal("reload: unknown option 'timout'", h.error_of(mb.reload, "x", { timout = 5 }))
    assert.equal('reload: opts.timeout must be a number >= 0 or "infinity"',
      h.error_of(mb.reload, "x", { timeout = -1 }))
  end)
end)
