-- examples/app/worker.lua: one worker of the example pool, a gen_server the
-- pool's simple_one_for_one supervisor starts with {n = number, log = bool}.
-- A job is {"words", text} (counts them), {"sum", from, to}, or "crash" (the
-- worker raises, on purpose, to show its supervisor restart it).
local mb = require "moonbeam"

local Worker = {}

function Worker.init(arg)
  arg = arg or {}
  local st = { n = arg.n or 0, log = arg.log, done = 0 }
  if st.log then print(("[worker %d] up as %s"):format(st.n, tostring(mb.self()))) end
  return "ok", st
end

function Worker.handle_call(req, _, st)
  if type(req) == "table" and req[1] == "job" then
    local job = req[2]
    if job == "crash" then error(("worker %d was asked to crash"):format(st.n)) end
    st.done = st.done + 1
    if type(job) == "table" and job[1] == "words" then
      local n = 0
      for _ in tostring(job[2]):gmatch("%S+") do n = n + 1 end
      return "reply", { worker = st.n, result = n }, st
    elseif type(job) == "table" and job[1] == "sum" then
      local total = 0
      for i = job[2], job[3] do total = total + i end
      return "reply", { worker = st.n, result = total }, st
    end
    return "reply", { worker = st.n, result = nil }, st
  elseif req == "info" then
    return "reply", { n = st.n, done = st.done }, st
  end
  return "reply", nil, st
end

return Worker
