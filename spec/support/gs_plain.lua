-- A gen_server callback module with no terminate, as many are written: the
-- state is a number. A call "get" replies it; {"stop", reason, reply}
-- stops with that reply; {"load"} replies whether this state carries
-- moonbeam's whole gen_server loop (moonbeam.gen_loop). A cast "inc" adds
-- one; {"stop", reason} stops; {"timeout", ms} waits for a timeout; {"exit",
-- reason} calls mb.exit(reason). Info "timeout" sets the state to -1.
local M = {}

function M.init(n) return "ok", n or 0 end

function M.handle_call(req, _from, n)
  if req == "get" then return "reply", n, n end
  if req == "load" then return "reply", package.loaded["moonbeam.gen_loop"] ~= nil, n end
  if type(req) == "table" and req[1] == "stop" then return "stop", req[2], req[3], n end
  return "reply", nil, n
end

function M.handle_cast(msg, n)
  if msg == "inc" then return "noreply", n + 1 end
  if type(msg) == "table" and msg[1] == "stop" then return "stop", msg[2], n end
  if type(msg) == "table" and msg[1] == "timeout" then return "noreply", n, msg[2] end
  if type(msg) == "table" and msg[1] == "exit" then require("moonbeam").exit(msg[2]) end
  return "noreply", n
end

function M.handle_info(msg, n)
  if msg == "timeout" then return "noreply", -1 end
  return "noreply", n
end

return M
