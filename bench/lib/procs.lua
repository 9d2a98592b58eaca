-- bench/lib/procs.lua — process bodies spawned by module name
-- ("bench.lib.procs:idle"), to time spawn by module beside spawn by function.
local M = {}

-- Tells the parent it runs, then blocks until any message arrives.
function M.idle(parent)
  local mb = require "moonbeam"
  mb.send(parent, "ready")
  mb.receive()
end

return M
