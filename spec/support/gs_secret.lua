-- A gen_server holding a secret, with a format_status callback that redacts
-- the state and the last message in crash reports and get_status.
-- init(arg): the state is {user = arg.user, password = arg.password, blob = arg.blob}.
-- Calls: "crash" raises; {"login", password} raises; "get" replies the state.
local M = {}

function M.init(arg)
  return "ok", { user = arg.user, password = arg.password, blob = arg.blob }
end

function M.handle_call(req, from, state)
  if req == "get" then return "reply", state, state end
  if req == "crash" then error("crashed on purpose") end
  if type(req) == "table" and req[1] == "login" then error("login refused") end
  return "reply", nil, state
end

function M.handle_cast(msg, state)
  if msg == "crash" then error("crashed on purpose") end
  return "noreply", state
end

function M.format_status(status)
  local out = {}
  for k, v in pairs(status) do out[k] = v end
  if type(status.state) == "table" then
    out.state = { user = status.state.user, password = "<redacted>" }
  end
  if status.message ~= nil then out.message = "<redacted message>" end
  return out
end

return M
