-- examples/app/pool.lua: the front of the example worker pool, a gen_server
-- registered as "pool". It sits beside the pool's simple_one_for_one
-- supervisor ("workers") under a rest_for_one supervisor (see
-- examples/app/tree.lua), so whenever the workers' supervisor is restarted, so
-- is the pool, which then starts the workers again. Jobs go to the workers
-- in turn.
--
--   local pool = require "examples.app.pool"
--   pool.run({"words", "a b c"})   --> {worker = 2, result = 3}
--   pool.run("crash")               --> nil, {"exit", reason}
--   pool.workers()                  --> the workers' pids, newest first
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local sup = require "moonbeam.supervisor"

local Pool = {}

Pool.NAME = "pool"

-- ---- the server ---------------------------------------------------------

-- opts: {size = number of workers (default 4), log = bool}
function Pool.init(opts)
  opts = opts or {}
  -- Our supervisor is the one process we are linked to. We cannot call it
  -- from init (it waits for init to return), so the pool fills itself just
  -- after, when the "fill" message arrives (or at the first request).
  local parent = mb.info(mb.self()).links[1]
  mb.send_after(0, mb.self(), "fill")
  return "ok", { size = opts.size or 4, log = opts.log, parent = parent, next = 0 }
end

-- Finds the workers' supervisor (our sibling "workers") and tops it up to
-- size workers: after a restart of the pool alone, they are still there.
local function fill(st)
  if st.workers then return end
  for _, c in ipairs(sup.which_children(st.parent)) do
    if c.id == "workers" then st.workers = c.pid end
  end
  local have = sup.count_children(st.workers).specs
  for n = have + 1, st.size do
    assert(sup.start_child(st.workers, { n = n, log = st.log }))
  end
  if st.log then print(("[pool]     up with %d workers"):format(st.size)) end
end

function Pool.handle_info(msg, st)
  if msg == "fill" then fill(st) end
  return "noreply", st
end

function Pool.handle_call(req, _, st)
  fill(st)
  if req[1] == "run" then
    local kids = sup.which_children(st.workers)
    local live = {}
    for _, c in ipairs(kids) do
      if type(c.pid) ~= "string" and c.pid ~= nil then live[#live + 1] = c.pid end
    end
    if #live == 0 then return "reply", { "error", "no_workers" }, st end
    st.next = st.next % #live + 1
    local r, err = gen.try_call(live[st.next], { "job", req[2] })
    if err then return "reply", { "error", err }, st end
    return "reply", { "ok", r }, st
  elseif req[1] == "workers" then
    local pids = {}
    for _, c in ipairs(sup.which_children(st.workers)) do pids[#pids + 1] = c.pid end
    return "reply", pids, st
  end
  -- An unknown request is the caller's mistake: say so rather than answer nil.
  return "reply", { "error", { "unknown_request", req } }, st
end

-- ---- the client -----------------------------------------------------------

--- run(job) -> the worker's answer, or nil and why the job failed.
function Pool.run(job)
  local r = gen.call(Pool.NAME, { "run", job })
  if r[1] == "ok" then return r[2] end
  return nil, r[2]
end

function Pool.workers() return gen.call(Pool.NAME, { "workers" }) end

return Pool
