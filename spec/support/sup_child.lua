-- A gen_server child for the supervisor specs (spec/sup_*_spec.lua). Its
-- init argument is a table (all fields optional):
--   id         a label carried in every event (default "?")
--   watcher    a pid told {"sup_ev", id, what, pid, detail, at} of: "init"
--              (detail: the arg), "init_failed", "terminate" (detail: the
--              reason); at is mb.now() when it happened
--   trap       trap exits (so terminate runs when the supervisor shuts it down)
--   fail_when  a registered name: while it is registered, init returns
--              "stop", fail_reason (default "told_to_fail")
--   fail_once  with fail_when: the failing init unregisters the name, so
--              only that one start fails
--   init_stop  init returns "stop", init_stop
--   init_error init raises init_error
--   ignore     init returns "ignore"
--   crash_after  ms: the server crashes (raises) that long after init
--   exit_after   ms: the server stops with exit_reason (default "normal") then
--   exit_now   the server stops with exit_reason just after init (a timeout 0)
--   terminate_sleep  ms terminate sleeps before returning
--   ballast    bytes of state to hold (for memory checks)
--   ask_parent init returns {continue = "ask_parent"}; handle_continue calls
--              which_children on the supervisor (the one process it is
--              linked to) and tells the watcher {"sup_ev", id, "asked",
--              pid, {ok, result}}
-- Calls: "ping" -> "pong"; "arg" -> the init arg; "self" -> the pid;
-- {"stop", reason} stops with reason (replying "ok"); "crash" raises.
-- Casts: {"exit", reason} stops with reason; "crash" raises.
local mb = require "moonbeam"

local M = {}

local function note(st, what, detail)
  if st.watcher then
    mb.send(st.watcher, { "sup_ev", st.id, what, mb.self(), detail, mb.now(), n = 6 })
  end
end

function M.init(arg)
  arg = arg or {}
  local st = { id = arg.id or "?", watcher = arg.watcher, arg = arg }
  if arg.trap then mb.trap_exit(true) end
  if arg.fail_when and mb.whereis(arg.fail_when) then
    if arg.fail_once then mb.unregister(arg.fail_when) end
    note(st, "init_failed")
    return "stop", arg.fail_reason or "told_to_fail"
  end
  if arg.init_stop ~= nil then
    note(st, "init_failed")
    return "stop", arg.init_stop
  end
  if arg.init_error ~= nil then
    note(st, "init_failed")
    error(arg.init_error)
  end
  if arg.ignore then return "ignore" end
  if arg.ballast then st.ballast = string.rep("b", arg.ballast) end
  note(st, "init", arg)
  if arg.crash_after then mb.send_after(arg.crash_after, mb.self(), "$crash") end
  if arg.exit_after then mb.send_after(arg.exit_after, mb.self(), "$exit") end
  if arg.exit_now then return "ok", st, 0 end
  if arg.ask_parent then return "ok", st, { continue = "ask_parent" } end
  return "ok", st
end

function M.handle_call(req, from, st)
  if req == "ping" then return "reply", "pong", st end
  if req == "arg" then return "reply", st.arg, st end
  if req == "self" then return "reply", mb.self(), st end
  if req == "crash" then error("asked to crash") end
  if type(req) == "table" and req[1] == "stop" then return "stop", req[2], "ok", st end
  return "reply", nil, st
end

function M.handle_cast(msg, st)
  if msg == "crash" then error("asked to crash") end
  if type(msg) == "table" and msg[1] == "exit" then return "stop", msg[2], st end
  return "noreply", st
end

function M.handle_info(msg, st)
  if msg == "$crash" then error("crash_after") end
  if msg == "$exit" or (msg == "timeout" and st.arg.exit_now) then return "stop", st.arg.exit_reason or "normal", st end
  return "noreply", st
end

function M.handle_continue(what, st)
  if what == "ask_parent" then
    local parent = mb.info(mb.self()).links[1]
    local ok, r = pcall(require("moonbeam.supervisor").which_children, parent)
    note(st, "asked", { ok, r })
  end
  return "noreply", st
end

function M.terminate(reason, st)
  note(st, "terminate", reason)
  if st.arg.terminate_sleep then mb.sleep(st.arg.terminate_sleep) end
end

return M
