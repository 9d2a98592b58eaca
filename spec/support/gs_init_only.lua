-- A gen_server callback module with init and nothing else: a cast stops it
-- with {"undef", "handle_cast"}, a message is logged and dropped.
local M = {}

function M.init(n) return "ok", n end

return M
