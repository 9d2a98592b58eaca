--- cli.lua: what the `moonbeam` executable does once its host is up.
local core = require "moonbeam.core"
local mb = require "moonbeam"

local M = {}

--- Run a script as the first process; return the exit status for the shell.
function M.run(path, ...)
  local f, err = io.open(path, "r")
  if not f then
    io.stderr:write("moonbeam: cannot open ", tostring(err), "\n")
    return 1
  end
  f:close()
  local _, ref = core.run_file(path, ...)
  local down = mb.receive(function(m)
    return type(m) == "table" and m[1] == "DOWN" and m[2] == ref
  end)
  local reason = down[5]
  if reason == "normal" then return 0 end
  if type(reason) == "table" and reason[1] == "error" then
    if os.getenv("MOONBEAM_CRASH_LOG") == "0" then
      io.stderr:write("moonbeam: ", path, ": ", tostring(reason[2]), "\n", tostring(reason[3]), "\n")
    end
  else
    io.stderr:write("moonbeam: ", path, " exited: ", tostring(type(reason) == "table" and reason[1] or reason), "\n")
  end
  return 1
end

return M
