-- examples/app/tree.lua: the example application's supervision tree.
--
--   app (one_for_one)
--   ├── cache     examples.app.cache, registered "cache"
--   ├── sessions  examples.app.session_store, registered "sessions"
--   └── jobs (rest_for_one)
--       ├── workers (simple_one_for_one over examples.app.worker)
--       └── pool      examples.app.pool, registered "pool": fills "workers"
--
-- jobs is restarted after a short backoff: killed, it takes its children
-- down through their links, and its new pool cannot take the name "pool"
-- before the old one has gone; restarted at once, on a busy machine, its
-- start failed until app gave up (more than 20 failed starts in 5 s).
--
-- tree.start([opts]) -> the top supervisor's pid (linked to the caller),
-- or nil and why. opts: log (print what the servers do), workers (pool
-- size, default 4), name (of the top supervisor, default "app"),
-- session_ttl_ms and cleanup_ms (for the session store), intensity (of
-- every supervisor in the tree, default 20 restarts in 5 s).
local mb = require "moonbeam"
local sup = require "moonbeam.supervisor"

local T = {}

function T.children(opts)
  opts = opts or {}
  local log = opts.log or false
  local intensity = opts.intensity or 20
  return {
    { id = "cache", module = "examples.app.cache", name = "cache",
      arg = { max_size = opts.cache_size or 100, log = log } },
    { id = "sessions", module = "examples.app.session_store", name = "sessions",
      arg = { ttl_ms = opts.session_ttl_ms or 30000, cleanup_ms = opts.cleanup_ms or 1000, log = log } },
    { id = "jobs", type = "supervisor", strategy = "rest_for_one", intensity = intensity, period = 5000,
      backoff = { initial = 10, max = 1000, factor = 2 },
      children = {
        { id = "workers", type = "supervisor", strategy = "simple_one_for_one", intensity = intensity, period = 5000,
          children = { { id = "worker", module = "examples.app.worker" } } },
        { id = "pool", module = "examples.app.pool", name = "pool", arg = { size = opts.workers or 4, log = log } },
      } },
  }
end

function T.start(opts)
  opts = opts or {}
  return sup.start_link(T.children(opts), { strategy = "one_for_one", intensity = opts.intensity or 20, period = 5000,
                                             name = opts.name or "app" })
end

--- Prints the tree under sup (a pid or name), one line per child, in
-- start order.
function T.print(s, indent)
  indent = indent or ""
  local kids = sup.which_children(s)   -- newest first: print in start order
  for i = #kids, 1, -1 do
    local c = kids[i]
    print(("%s%s %s %s (%s)"):format(indent, "-", c.id, tostring(c.pid), c.type))
    if c.type == "supervisor" and type(c.pid) ~= "string" and c.pid ~= nil and mb.alive(c.pid) then
      T.print(c.pid, indent .. "    ")
    end
  end
end

return T
