--- moonbeam.reload: hot code reload (docs/reference.md, "Code reload").
--
-- mb.reload(module) compiles the module's file afresh (the host's module
-- cache keeps the new version for the states that require it from now on),
-- runs it once in a process of its own to see that it loads, then sends a
-- code change request to every process that loaded the module
-- (bindings/code_loaders.c knows which). A process takes the request at its
-- next receive, before any message (bindings/message_api.c, recv): its
-- package.loaded entry becomes the new version, and a gen_server whose
-- callback module it is runs code_change (moonbeam.gen_loop) first. Each
-- one answers through an alias, so an answer after the caller gave up is
-- dropped, never left in its mailbox.
local mb = require "moonbeam"

local type, pcall, load, tostring, next, ipairs = type, pcall, load, tostring, next, ipairs
local self, receive, monitor, demonitor = mb.self, mb.receive, mb.monitor, mb.demonitor

local M = {}

M.DEFAULT_TIMEOUT = 5000
local CHECKED = "$reload_checked"

local function util() return require "moonbeam.util" end

-- The new version's module value, as require makes it: the chunk's
-- result, else what the chunk put in package.loaded, else true.
local function run_chunk(chunk, name)
  local ok, new = pcall(chunk, name)
  if not ok then return nil, tostring(new) end
  if new == nil then new = package.loaded[name] end
  if new == nil then new = true end
  return new
end

local function answer(req, took, why)
  mb.send_alias(req[2], req[1], { req[1], self(), took, why })
end

--- settle(req, old, new): this process takes new in place of old (a
-- gen_server whose callback module old is runs code_change first), and
-- tells the caller. gen_server calls it again for a request it put off
-- while in a callback.
function M.settle(req, old, new)
  -- A server's code change is its loop's: moonbeam.gen_loop's, which a
  -- server on moonbeam.gen_step's short path is handed over to.
  local gs, step = package.loaded["moonbeam.gen_loop"], package.loaded["moonbeam.gen_step"]
  if not gs and step and step.current then gs = require "moonbeam.gen_loop" end
  if type(gs) == "table" then
    local r, why = gs._code_change(req, old, new, req[5])
    if r == "later" then
      if req[2] == self() then answer(req, true) end   -- the caller itself: it cannot wait on itself
      return
    end
    if r == false then return answer(req, false, why) end
  end
  package.loaded[req[3]] = new
  return answer(req, true)
end

--- take(req): a code change request {ref, caller, module, bytecode,
-- extra}, as this process's receive met it.
function M.take(req)
  local name = req[3]
  local old = package.loaded[name]
  if old == nil then return answer(req, false, "not loaded") end
  local chunk, err = load(req[4], "=" .. name)
  if not chunk then return answer(req, false, err) end
  local new, why = run_chunk(chunk, name)
  if new == nil then return answer(req, false, why) end
  return M.settle(req, old, new)
end

--- check(name, bytecode): the body of the process that runs a new version
-- once before anyone takes it; it tells the caller what went wrong.
function M.check(caller, ref, name, code)
  local chunk, err = load(code, "=" .. name)
  local new = chunk
  if chunk then new, err = run_chunk(chunk, name) end
  mb.send(caller, { CHECKED, ref, new ~= nil, err })
end

-- Whether the new version (bytecode) loads, in a process of its own: its
-- side effects stay there. true, or nil, err.
local function loads(name, code)
  local ref = mb.make_ref()
  local pid, mref = mb.spawn_monitor("moonbeam.reload:check", self(), ref, name, code)
  local m = receive(function(m)
    return type(m) == "table" and (m[1] == CHECKED and m[2] == ref or m[1] == "DOWN" and m[2] == mref)
  end)
  demonitor(mref, true)
  if m[1] == CHECKED then
    if m[3] then return true end
    return nil, m[4]
  end
  return nil, "the new version's check ended: " .. tostring(m[5])
end

local RELOAD_OPTS = { extra = true, timeout = true }

--- reload(module, [opts]) -> the number of processes that took the new
-- code, or nil, err. opts: extra (code_change's third argument), timeout
-- (ms to wait for the processes' answers, default 5000, or "infinity").
function M.reload(name, opts)
  if not util().is_name(name) then
    error("reload: module must be a module name (a non-empty string without NUL bytes), got " .. util().name_fault(name), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then error("reload: opts must be a table", 2) end
  opts = opts or {}
  util().check_known(opts, RELOAD_OPTS, "reload")
  local timeout = util().check_timeout(opts.timeout, "reload", M.DEFAULT_TIMEOUT, "opts.timeout", 3)
  local file, chunk = mb.code_compile(name)
  if not file then return nil, chunk end
  local code = string.dump(chunk)
  local ok, err = loads(name, code)
  if not ok then return nil, err end

  local me, ref = self(), mb.make_ref()
  local req = { ref, me, name, code, opts.extra }
  local waiting, n = {}, 0   -- monitor ref -> pid, for each process not yet answered
  local targets = mb.code_loaders(name, file)
  if package.loaded[name] ~= nil then targets[#targets + 1] = me end   -- a host's own state is not noted
  mb.alias(ref)
  local seen = {}
  for _, pid in ipairs(targets) do
    if not seen[pid] then
      seen[pid] = true
      local mref = monitor(pid)
      waiting[mref], n = pid, n + 1
      if mb.send_code(pid, req) then mb.yield() end
    end
  end
  local count = 0
  local deadline = timeout and mb.now() + timeout
  local function ours(m)
    return type(m) == "table" and (m[1] == ref or m[1] == "DOWN" and waiting[m[2]] ~= nil)
  end
  while n > 0 do
    local left = deadline and deadline - mb.now()
    if left and left < 0 then left = 0 end
    local m = receive(ours, left)
    if m == nil then break end
    if m[1] == ref then
      if m[3] then count = count + 1 end
      for mref, pid in next, waiting do
        if pid == m[2] then waiting[mref] = nil; demonitor(mref, true); break end
      end
    else
      waiting[m[2]] = nil
    end
    n = n - 1
  end
  for mref in next, waiting do demonitor(mref, true) end
  mb.unalias(ref)   -- late answers are dropped
  return count
end

M.WATCH_INTERVAL = 200

--- watch([interval]): the body of `moonbeam run --watch`'s watcher. Every
-- interval ms it asks the module cache which modules' files changed since
-- they were compiled (one stat per module: simpler than file system
-- events, and it survives editors that replace a file by renaming another
-- over it), reloads each and says so on stderr. A version that fails to
-- load is not tried again until its file changes again.
function M.watch(interval)
  interval = interval or M.WATCH_INTERVAL
  local failed = {}   -- module -> the fingerprint of the file that failed
  while true do
    mb.sleep(interval)
    local changed, found_on = mb.code_changed()
    for name, fingerprint in next, changed do
      if failed[name] ~= fingerprint then
        -- Looked for where the processes found it: a script may have set
        -- its package.path (and its processes') after this one started.
        local own = package.path
        package.path = found_on[name] or own
        local ok, n, err = pcall(M.reload, name)
        package.path = own
        if not ok then n, err = nil, n end
        failed[name] = not n and fingerprint or nil
        if n then
          io.stderr:write(("moonbeam: reloaded %s (%d process%s took it)\n"):format(name, n, n == 1 and "" or "es"))
        else
          io.stderr:write(("moonbeam: %s changed but was not reloaded: %s\n"):format(name, tostring(err)))
        end
      end
    end
  end
end

return M
