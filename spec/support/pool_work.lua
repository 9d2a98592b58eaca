-- Work for example_worker_pool_spec, as "spec.support.pool_work:meet": a call
-- tells the coordinator its request names {"at_work", worker}, then waits
-- (5 s at most) for "go", which the coordinator sends once every call is at
-- work. Returns "together", or "alone" when no "go" came.
local mb = require "moonbeam"

local M = {}

function M.meet(req)
  mb.send(req.coordinator, { "at_work", mb.self() })
  return mb.receive(function(m) return m == "go" end, 5000) and "together" or "alone"
end

return M
