-- A gen_server callback module that forgot init.
local M = {}
function M.handle_call(req, from, state) return "reply", req, state end
return M
