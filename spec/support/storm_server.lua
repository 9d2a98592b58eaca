-- A gen_server for the kill storm (spec/reliability_spec.lua): it checks
-- that what each caller sends it arrives in the order sent. Callers number
-- everything they send (calls and casts alike) from one counter each, so
-- the numbers one server sees from one caller must only grow; a server that
-- sees one go back tells the watcher {"disorder", caller, last, n}.
-- Init argument: {watcher = pid}. Call {"seq", caller, n} -> n; cast
-- {"seq", caller, n}.
local mb = require "moonbeam"

local M = {}

function M.init(arg)
  return "ok", { watcher = arg.watcher, last = {} }
end

local function see(st, caller, n)
  local key = tostring(caller)
  local last = st.last[key]
  if last and n <= last then mb.send(st.watcher, { "disorder", caller, last, n }) end
  st.last[key] = n
end

function M.handle_call(req, _, st)
  see(st, req[2], req[3])
  return "reply", req[3], st
end

function M.handle_cast(msg, st)
  see(st, msg[2], msg[3])
  return "noreply", st
end

return M
