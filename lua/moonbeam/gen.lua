--- moonbeam.gen: what gen_server and supervisor share, as OTP's gen.erl
-- and proc_lib serve gen_server.erl (not API). The call exchange: a
-- request {label, {pid, ref}, req} under a monitor, whose reply comes
-- through the core's reply slot (moonbeam.core call_begin/call_take), so it
-- is matched in O(1), a late one is dropped, and a call cycle fails at once
-- with {"deadlock", chain}. The start handshake: the new process acks
-- its init to the starter's ref, which it got with its arguments
-- (gen_server) or in a {"$gen_start", ref, starter} the starter sends
-- (supervisors, whose host/otp/supervisor.c answers it, and registries);
-- the starter waits for that ack (or its end). And stop, which waits for the DOWN.
local mb = require "moonbeam"

local type, error, pcall, tostring = type, error, pcall, tostring
local send, receive, self, monitor, demonitor = mb.send, mb.receive, mb.self, mb.monitor, mb.demonitor
local whereis, now, c_wait, c_wait_until = mb.whereis, mb.now, mb.wait, mb.wait_until
local call_begin, call_send, call_take, call_wait, call_end, c_reply =
  mb.call_begin, mb.call_send, mb.call_take, mb.call_wait, mb.call_end, mb.reply
local c_send_system, c_yield, c_cannot_wait = mb.send_system, mb.yield, mb._cannot_wait

local M = {}

local START, SYS, REPLY_FAILED = "$gen_start", "$gen_sys", "$gen_reply_failed"
-- The kinds of outcome core.call_take and core.call_wait give (bindings/call_api.c, KIND_*).
local REPLY, DOWN, DEADLOCK = 1, 2, 3

-- A message no full mailbox drops or counts (host/core/mailbox_bounds.h): a
-- start, or a stop, must reach even a server that is overloaded.
local function send_system(pid, msg)
  if c_send_system(pid, msg) then c_yield() end
end

-- Wait for the awaited outcome (a start's ack, a stop's DOWN) until
-- deadline (nil: forever). Returns REPLY, v | DOWN, reason | DEADLOCK,
-- chain | nil on timeout; the caller ends the call.
local function await(deadline)
  while true do
    local kind, v = call_take()
    if kind then return kind, v end
    local waited
    if deadline then waited = c_wait_until(deadline) else waited = c_wait() end
    if not waited then return call_take() end
  end
end

-- This process's pid, looked up once: a module is loaded in the state of
-- the process that requires it.
local me

-- One request/reply exchange with pid. Returns true, reply or false, err.
-- The monitor, the call slot and the request {label, {self, ref}, req} are
-- set up by one call into the core (call_send); nothing is left set up
-- when it fails.
local function exchange(pid, label, req, timeout)
  me = me or self()
  if pid == me then return false, { "calling_self" } end
  -- A sys request goes as a system message: a full mailbox refuses calls,
  -- never get_state or resume (a suspended server would stay so).
  -- Sent, it waits, and returns the outcome when the core took it for the
  -- wake (a reply of one number or boolean), else nothing; a server on
  -- another node: ref, over, true (no wait).
  local kind, v, remote = call_send(pid, label, req, label == SYS, timeout)
  local ref
  if remote then
    ref, kind = kind, true
    if v then c_yield() end   -- the slice is used up
  elseif kind == false then
    return false, { "deadlock", v }
  elseif kind == nil then
    if v == false then return false, { "overloaded" } end   -- its full mailbox refused it: at once
    if v ~= nil then return false, v end   -- req cannot be sent: its text, for the caller to name
    kind = true
  end
  -- The outcome, which ends the call; nil: the timeout (the call ended
  -- with it). A wait returns true or false (timed out): then a look again.
  while kind == true or kind == false do kind, v = call_wait(ref) end
  if remote and kind ~= DOWN then demonitor(ref) end   -- its monitor is the distribution layer's
  if kind == REPLY then
    if remote then return require("moonbeam.node").reply(v) end
    if type(v) == "table" and v[1] == REPLY_FAILED then
      return false, { "bad_reply", "the server's reply cannot be sent: " .. tostring(v[2]) }
    end
    return true, v
  elseif kind == DOWN then
    if v == "noproc" then return false, { "noproc" } end
    return false, { "exit", v }
  elseif kind == DEADLOCK then
    return false, { "deadlock", v }
  end
  return false, { "timeout" }
end

--- call(server, label, req, timeout) -> true, reply or false, err: a
-- request to a pid, registered name or via name, waited for timeout ms (nil:
-- forever). err is {"timeout"}, {"noproc"}, {"exit", reason},
-- {"calling_self"}, {"deadlock", chain}, {"overloaded"} or {"bad_reply",
-- why}; err is a string for a request that cannot be sent ("req.f:
-- cannot send ..."), which the caller raises under its own name.
function M.call(server, label, req, timeout)
  local pid = server
  if type(server) == "string" or type(server) == "table" then
    if require("moonbeam.util").is_node_name(server) then
      -- {name, node}: a registered process on another node (moonbeam.node), or on this one.
      if server[2] ~= mb.node() then
        return require("moonbeam.node").call(server[1], server[2], label, req, timeout)
      end
      server = server[1]
    end
    pid = whereis(server)
    if not pid then
      -- A req that cannot be sent is the caller's bug, here as to a dead
      -- pid; nil can (a live server's handle_call gets it).
      if req == nil then return false, { "noproc" } end
      local ok, why = mb._sendable(req, "req", true)
      return false, ok and { "noproc" } or why
    end
  end
  return exchange(pid, label, req, timeout)
end

--- reply(from, value): the server's answer to a call. A reply that cannot
-- be sent becomes an error for the caller; the server goes on (the value,
-- not the server, is at fault): core._gen_answer, as gen_server's loop answers.
local gen_answer = mb._gen_answer
function M.reply(from, value) gen_answer(from[1], from[2], value) end

--- stop(pid, label, req, timeout) -> true, reason or false, err: send req
-- (a system message) that makes pid stop, and wait timeout ms (nil:
-- forever) for its DOWN; reason is its exit reason, err {"noproc"} or
-- {"timeout"}; err is a string for a req that cannot be sent, as call's.
function M.stop(pid, label, req, timeout)
  local why = c_cannot_wait("stop")   -- refused before the server is told, not after it stopped
  if why then return false, why end
  local ref = monitor(pid)
  call_begin(pid, ref)
  local sent, err = pcall(send_system, pid, { label, { self(), ref }, req })
  if not sent then
    call_end()
    demonitor(ref, true)
    -- req is gen_server.stop's {"stop", reason}: the path from its reason
    return false, (tostring(err):gsub("^send: ", "", 1):gsub("^msg%[3%]%[2%]", "reason", 1))
  end
  -- The server replies nothing: its DOWN says how it ended.
  -- Only its DOWN (or the timeout) ends the wait: no reply comes, and a
  -- deadlock notice means the server's own call was failed to free it.
  local deadline, kind, v = timeout and now() + timeout, nil, nil
  repeat kind, v = await(deadline) until kind == DOWN or kind == nil
  call_end()
  if kind == nil then
    demonitor(ref, true)
    return false, { "timeout" }
  end
  if v == "noproc" then return false, { "noproc" } end
  return true, v
end

--- await_start(pid, ref, link, timeout, [keep_monitor]) -> pid, or nil and why: the
-- second half of every start, once pid is spawned with a monitor (ref),
-- its ack awaited (call_begin, or spawn_opt's _start_ref) and it knows
-- whom to ack (its arguments, or sync_start's go): wait for its ack or its
-- end. keep_monitor: on success the monitor stays (spawn_opt's, with a via name).
function M.await_start(pid, ref, link, timeout, keep_monitor)
  -- A deadlock notice means init called us and was told; we keep waiting.
  local deadline, kind, v = timeout and now() + timeout, nil, nil
  repeat kind, v = await(deadline) until kind ~= DEADLOCK
  if kind == nil then
    -- init ran too long: leave nothing behind (no process, name or EXIT).
    if link then mb.unlink(pid) end
    mb.exit(pid, "kill")
    repeat kind = await(nil) until kind == DOWN
    call_end()
    return nil, "timeout"
  end
  if kind == REPLY and v[1] == "ok" then
    call_end(nil, keep_monitor)   -- kept: spawn_opt's monitor, and a DOWN it already had
    if not keep_monitor then demonitor(ref, true) end
    return pid
  end
  -- A failure: wait until the process is gone, so its name is free.
  local reason = v
  if kind == REPLY then reason = v[1] == "ignore" and "ignore" or v[2] end
  while kind ~= DOWN do kind = await(nil) end
  call_end()
  -- Its EXIT (sent before its DOWN) must not stay in a trapping caller's mailbox.
  if link then
    receive(function(m) return type(m) == "table" and m[1] == "EXIT" and m[2] == pid end, 0)
  end
  return nil, reason
end

--- sync_start(pid, ref, link, timeout): await_start, for a process (a
-- supervisor, a registry) that waits to be told whom to ack: tell it first.
function M.sync_start(pid, ref, link, timeout)
  call_begin(pid, ref)
  send_system(pid, { START, ref, self() })
  return M.await_start(pid, ref, link, timeout)
end

local function is_start(m) return type(m) == "table" and m[1] == START end

--- wait_start() -> starter, ref: the started process's half, its first
-- receive: the go of sync_start.
function M.wait_start()
  local go = receive(is_start)
  return go[3], go[2]
end

--- init_ack(starter, ref, what, [reason]): how init went, to sync_start:
-- "ok", "ignore" (the starter then waits for the normal DOWN) or "stop".
function M.init_ack(starter, ref, what, reason)
  c_reply(starter, ref, { what, reason })
end

return M
