-- bench/lib/dist_counter.lua — the counter bench/dist_server.lua serves to
-- other nodes (bench_dist.erl's callbacks): every call but get and every
-- cast adds one; get replies the count. Requests come from Erlang, so get
-- is an atom.
local mb = require "moonbeam"

local GET = mb.atom("get")
local M = {}

function M.init() return "ok", 0 end

function M.handle_call(req, _, n)
  if req == GET then return "reply", n, n end
  return "reply", n + 1, n + 1
end

function M.handle_cast(_, n) return "noreply", n + 1 end

return M
