--- cli.lua: what the `moonbeam` executable does once its host is up.
local core = require "moonbeam.core"
local mb = require "moonbeam"

local M = {}

--- Run the first process and wait for it; return the exit status for the
-- shell. opts.script: a script path (its arguments follow opts);
-- opts.prelude: {"l", module, "e", code, ...} to run in it first.
function M.run(opts, ...)
  local path, prelude = opts.script, opts.prelude or {}
  if path then
    local f, err = io.open(path, "r")
    if not f then
      io.stderr:write("moonbeam: cannot open ", tostring(err), "\n")
      return 1
    end
    f:close()
  end
  local ref
  if #prelude == 0 then
    ref = select(2, core.run_file(path, ...))
  else
    ref = select(2, mb.spawn_monitor("moonbeam.cli:script", prelude, path, ...))
  end
  local down = mb.receive(function(m)
    return type(m) == "table" and m[1] == "DOWN" and m[2] == ref
  end)
  local reason = down[5]
  local what = path or "-e"
  if reason == "normal" then return 0 end
  if type(reason) == "table" and reason[1] == "error" then
    if os.getenv("MOONBEAM_CRASH_LOG") == "0" then
      io.stderr:write("moonbeam: ", what, ": ", tostring(reason[2]), "\n", tostring(reason[3]), "\n")
    end
  else
    io.stderr:write("moonbeam: ", what, " exited: ", tostring(type(reason) == "table" and reason[1] or reason), "\n")
  end
  return 1
end

--- The body of the first process when -l or -e came first: require each
-- -l module (as the global named like its last part), run each -e chunk,
-- then the script, if any, with its arguments in arg.
function M.script(prelude, path, ...)
  if path then arg = { [0] = path, ... } end
  for i = 1, #prelude - 1, 2 do
    local what, x = prelude[i], prelude[i + 1]
    if what == "l" then
      local mod = require(x)
      local short = x:match("([%a_][%w_]*)$")
      if short and rawget(_G, short) == nil then _G[short] = mod end
    else
      local chunk, err = loadstring(x, "=(command line)")
      if not chunk then error(err, 0) end
      chunk()
    end
  end
  if not path then return end
  local chunk, err = loadfile(path)
  if not chunk then error(err, 0) end
  return chunk(...)
end

return M
