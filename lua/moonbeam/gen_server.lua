--- moonbeam.gen_server: OTP's gen_server for moonbeam processes.
--
-- What a callback module requires: reply here, the rest on the first
-- look-up of its name: the client half (start, call, cast, stop, the sys
-- tools: moonbeam.gen_client). A server process (whose body the runtime
-- starts in moonbeam.gen_step, not here) runs gen_step's short path or
-- moonbeam.gen_loop's whole loop. A call is {"$gen_call", {pid, ref},
-- request}. Semantics: docs/semantics.md
-- ("Calls", "gen_server").
local mb = require "moonbeam"

local type, error, require, rawget, next = type, error, require, rawget, next
local is_pid, c_reply = mb.is_pid, mb.reply

local M = { DEFAULT_TIMEOUT = 5000 }

-- A name missing puts the client half in this table (what a program set
-- itself stays).
local client_put = false
setmetatable(M, { __index = function(t, k)
  if not client_put then
    for name, f in next, require "moonbeam.gen_client" do   -- if it fails, the next look-up tries again
      if rawget(t, name) == nil then t[name] = f end
    end
    client_put = true
  end
  return rawget(t, k)
end })

--- reply(from, reply) -> true; from any process, once per call.
function M.reply(from, value)
  -- from is {pid, ref}: a ref is the light userdata that is not a pid
  if type(from) ~= "table" or not is_pid(from[1]) or type(from[2]) ~= "userdata" or is_pid(from[2]) then
    error("gen_server.reply: from must be the 'from' a handle_call received", 2)
  end
  return c_reply(from[1], from[2], value, "gen_server.reply")
end

--- enter(...): the body of a server process (not API): moonbeam.gen_step's.
function M.enter(...) return require("moonbeam.gen_step").enter(...) end

return M
