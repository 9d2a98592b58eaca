--- cli.lua: what the `moonbeam` executable does once its host is up.
local core = require "moonbeam.core"
local mb = require "moonbeam"

local M = {}

-- The first process's DOWN, or the shutdown's word that it is over (only
-- once there is one: any process may send that message).
local function is_end(ref)
  return function(m)
    return type(m) == "table" and ((m[1] == "DOWN" and m[2] == ref) or
                                   (m[1] == "$shutdown_done" and core.shutdown_status() ~= nil))
  end
end

--- Run the first process and wait for it; return the exit status for the
-- shell. opts.script: a script path (its arguments follow opts);
-- opts.prelude: {"l", module, "e", code, ...} to run in it first;
-- opts.watch: reload modules whose files change (moonbeam.reload's watch). A
-- shutdown (os.exit in any process, SIGTERM, SIGINT: host/core/shutdown.h)
-- gives its own status once it is over; otherwise a first process that
-- ends by an exit reason other than "normal" has it printed: the host
-- never fails silently.
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
  -- This process is the host's own (mb.processes() lists it): an exit
  -- signal from any other ("shutdown", a crash through a link) is a
  -- message here, not the host's end; only "kill" ends it, as killing
  -- Erlang's init ends its node.
  mb.trap_exit(true)
  if opts.watch then mb.spawn("moonbeam.reload:watch") end
  local ref
  if #prelude == 0 then
    ref = select(2, core.run_first(path, ...))
  else
    ref = select(2, core.run_first(nil, "moonbeam.cli:script", prelude, path, ...))
  end
  local m = mb.receive(is_end(ref))
  local shutdown = core.shutdown_status() ~= nil
  local reason = m[1] == "DOWN" and m[5] or "shutdown"
  -- In a shutdown the first process ends "shutdown" (or "normal" if it
  -- trapped the signal and returned); any other end is still news.
  local quiet = reason == "normal" or
    (shutdown and (reason == "shutdown" or
                 type(reason) == "table" and reason[1] == "shutdown" and reason[2] ~= nil and reason[3] == nil))
  if not quiet then
    local what = path or "-e"
    local report = require "moonbeam.report"
    if type(reason) == "table" and reason[1] == "error" then
      -- An error object (gen_server's {"noproc"}...) by its words, which
      -- the reason, sent as data, lacks.
      local words = type(reason[2]) ~= "string" and core.first_crash()
      local tb = type(reason[3]) == "string" and report.traceback(reason[3]) or ""
      core.last_words(("moonbeam: %s: %s%s\n"):format(what, words or report.reason({ "error", reason[2] }),
                                                       tb ~= "" and "\n" .. tb or ""))
    else
      core.last_words(("moonbeam: %s exited: %s\n"):format(what, report.reason(reason)))
    end
  end
  if shutdown then return core.shutdown_wait() end
  return reason == "normal" and 0 or 1
end

--- The body of the first process when -l or -e came first: require each
-- -l module (as the global named like its last part), run each -e chunk,
-- then the script, if any, with its arguments in arg.
function M.script(prelude, path, ...)
  if path then arg = { [0] = path, ... } end
  for i = 1, #prelude - 1, 2 do
    local what, x = prelude[i], prelude[i + 1]
    if what == "l" then
      -- its failure as require says it, not from inside this module
      local ok, mod = pcall(require, x)
      if not ok then error(mod, 0) end
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
