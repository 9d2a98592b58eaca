-- examples/job_queue.lua: a job queue whose jobs run as supervised tasks
-- and are retried with backoff when they fail.
--
--   moonbeam run examples/job_queue.lua            the demo (from the repository root)
--
--   local jobs = require "examples.job_queue"
--   local q = jobs.start_link({max_concurrency = 4, max_attempts = 5,
--                              backoff = {initial = 100, factor = 2, max = 5000}})
--   local id = jobs.enqueue(q, "mymod:send_invoice", 42)   -- runs mymod.send_invoice(42)
--   jobs.await(q, id)           --> its result, or nil, {"failed", error, attempts}
--   jobs.status(q, id)          --> {state =, attempts =, result =, error =}
--
-- The queue is a gen_server; beside it (linked to it) runs a
-- simple_one_for_one supervisor whose children are the jobs: each a
-- process ("process" children: a function of a module, as a Task) that is
-- restarted only when it fails ("transient"), after the supervisor's
-- backoff (initial, then times factor, up to max). A job tells the queue
-- when it starts, so the queue counts attempts and tells it whether this
-- one is its last; on the last failure it ends normally, and the
-- supervisor lets it go. At most max_concurrency jobs run (or wait to be
-- retried) at once; the rest wait in order. A job's function runs in its
-- own process: it is "module:fn" (its arguments are copied there), and
-- require("examples.job_queue").attempt() tells it which attempt it is.
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local sup = require "moonbeam.supervisor"

local Jobs = {}

local unpack = unpack

-- ---- a job's process (a child of the queue's supervisor) ---------------------

local current_attempt

--- attempt() -> inside a job: which attempt this is (1 for the first).
function Jobs.attempt() return current_attempt end

local function resolve(target)
  local name, fn = target:match("^([^:]+):(.+)$")
  local f = name and require(name)[fn]
  if type(f) ~= "function" then error(("job_queue: no function '%s'"):format(target), 0) end
  return f
end

--- The body of every job's process: start = {"examples.job_queue:run", queue}
-- and start_child appends id, target, args.
function Jobs.run(queue, id, target, args)
  local go = gen.call(queue, { "started", id, mb.self() }, "infinity")
  current_attempt = go.attempt
  local ok, result = pcall(function() return resolve(target)(unpack(args, 1, args.n)) end)
  if ok then
    -- A result that cannot be sent (a function with upvalues, say) fails the attempt.
    ok, result = pcall(gen.cast, queue, { "succeeded", id, result })
    if ok then return end
  end
  gen.cast(queue, { "attempt_failed", id, go.attempt, tostring(result), go.last })
  if go.last then return end                 -- normal: the supervisor lets it go
  mb.exit({ "job_failed", id })              -- abnormal: restarted after the backoff
end

-- ---- the queue --------------------------------------------------------------

local function notify(st, ...)
  if st.notify then mb.send(st.notify, { "job", ... }) end
end

local function backoff_ms(st, failures)
  local b = st.backoff
  return math.min(b.max, b.initial * b.factor ^ (failures - 1))
end

function Jobs.init(opts)
  local backoff = opts.backoff
  local task_sup, why = sup.start_link({
    { id = "job", type = "process", start = { "examples.job_queue:run", mb.self() },
      restart = "transient", shutdown = "brutal_kill", backoff = backoff },
  }, { strategy = "simple_one_for_one", intensity = opts.intensity, period = opts.period })
  if not task_sup then return "stop", why end
  return "ok", {
    sup = task_sup, max = opts.max_concurrency, max_attempts = opts.max_attempts,
    backoff = backoff, notify = opts.notify,
    jobs = {}, pending = {}, head = 1, tail = 0, next_id = 0, active = 0,
    counts = { queued = 0, running = 0, retrying = 0, done = 0, failed = 0 },
  }
end

local function set_state(st, job, state)
  if job.state then st.counts[job.state] = st.counts[job.state] - 1 end
  job.state = state
  st.counts[state] = st.counts[state] + 1
end

local function outcome(job)
  if job.state == "done" then return { "done", job.result } end
  return { "failed", job.error, job.attempts }
end

-- Start waiting jobs while there is room.
local function pump(st)
  while st.active < st.max and st.head <= st.tail do
    local id = st.pending[st.head]
    st.pending[st.head], st.head = nil, st.head + 1
    local job = st.jobs[id]
    local pid, why = sup.start_child(st.sup, { id, job.target, job.args })
    if pid then
      st.active = st.active + 1
      set_state(st, job, "running")
    else
      job.error = "could not start: " .. tostring(why)
      set_state(st, job, "failed")
      notify(st, "failed", id, job.error, 0)
    end
  end
end

local function finish(st, job, state)
  set_state(st, job, state)
  st.active = st.active - 1
  for _, from in ipairs(job.waiters) do gen.reply(from, outcome(job)) end
  job.waiters = {}
  pump(st)
end

function Jobs.handle_call(req, from, st)
  local op = req[1]
  if op == "enqueue" then
    st.next_id = st.next_id + 1
    local id = st.next_id
    local job = { id = id, target = req[2], args = req[3], attempts = 0, waiters = {} }
    st.jobs[id] = job
    set_state(st, job, "queued")
    st.tail = st.tail + 1
    st.pending[st.tail] = id
    pump(st)
    return "reply", id, st
  elseif op == "started" then                  -- from the job's process, at each attempt
    local job = st.jobs[req[2]]
    job.attempts = job.attempts + 1
    if job.state ~= "running" then set_state(st, job, "running") end
    notify(st, "started", job.id, job.attempts, req[3])
    return "reply", { attempt = job.attempts, last = job.attempts >= st.max_attempts }, st
  elseif op == "await" then
    local job = st.jobs[req[2]]
    if not job then return "reply", { "unknown" }, st end
    if job.state == "done" or job.state == "failed" then return "reply", outcome(job), st end
    job.waiters[#job.waiters + 1] = from       -- answered by finish, with gen.reply
    return "noreply", st
  elseif op == "status" then
    local job = st.jobs[req[2]]
    if not job then return "reply", nil, st end
    return "reply", { state = job.state, attempts = job.attempts, result = job.result, error = job.error }, st
  elseif op == "stats" then
    local c = st.counts
    return "reply", { queued = c.queued, running = c.running, retrying = c.retrying, done = c.done,
                      failed = c.failed }, st
  end
  return "reply", nil, st
end

function Jobs.handle_cast(msg, st)
  local op, job = msg[1], st.jobs[msg[2]]
  if op == "succeeded" then
    job.result, job.error = msg[3], nil
    notify(st, "done", job.id, msg[3], job.attempts)
    finish(st, job, "done")
  elseif op == "attempt_failed" then
    local attempt, err, last = msg[3], msg[4], msg[5]
    job.error = err
    if last then
      notify(st, "failed", job.id, err, attempt)
      finish(st, job, "failed")
    else
      set_state(st, job, "retrying")
      notify(st, "retrying", job.id, err, backoff_ms(st, attempt))
    end
  end
  return "noreply", st
end

function Jobs.terminate(_reason, st)
  if mb.alive(st.sup) then sup.stop(st.sup) end
end

-- ---- the client -------------------------------------------------------------

--- start_link([opts]) -> pid, or nil and why. opts: max_concurrency
-- (default 4), max_attempts (default 3), backoff ({initial =, factor =,
-- max =} ms, default {initial = 100, factor = 2, max = 5000}), intensity and
-- period (of the jobs' supervisor: the restarts it allows, default 100 in
-- 1000 ms), notify (a pid sent {"job", event, id, ...} as jobs start,
-- fail, are retried and end), and gen.start_link's (name, ...).
function Jobs.start_link(opts)
  opts = opts or {}
  local b = opts.backoff or {}
  return gen.start_link("examples.job_queue", {
    max_concurrency = opts.max_concurrency or 4,
    max_attempts = opts.max_attempts or 3,
    backoff = { initial = b.initial or 100, factor = b.factor or 2, max = b.max or 5000 },
    intensity = opts.intensity or 100, period = opts.period or 1000,
    notify = opts.notify,
  }, opts)
end

--- enqueue(queue, "module:fn", ...) -> the job's id (a number).
function Jobs.enqueue(queue, target, ...)
  if type(target) ~= "string" or not target:find(":", 1, true) then
    error("job_queue.enqueue: the job must be \"module:fn\"", 2)
  end
  return gen.call(queue, { "enqueue", target, { n = select("#", ...), ... } })
end

--- await(queue, id, [timeout]) -> the job's result; or nil and
-- {"failed", last error, attempts} / {"unknown"}. Raises {"timeout"} as
-- gen.call does (default: wait as long as it takes).
function Jobs.await(queue, id, timeout)
  local r = gen.call(queue, { "await", id }, timeout or "infinity")
  if r[1] == "done" then return r[2] end
  return nil, r
end

--- status(queue, id) -> {state =, attempts =, result =, error =}, or nil;
-- state is "queued", "running", "retrying", "done" or "failed".
function Jobs.status(queue, id) return gen.call(queue, { "status", id }) end
--- stats(queue) -> how many jobs are in each state.
function Jobs.stats(queue) return gen.call(queue, { "stats" }) end
function Jobs.stop(queue) return gen.stop(queue) end

-- ---- jobs for the demo and the specs -------------------------------------------

--- A job that works: "resizes" an image (sleeps ms) and names the result.
function Jobs.resize(name, ms)
  mb.sleep(ms or 50)
  return name:gsub("%.(%w+)$", ".thumb.%1")
end

--- A job that fails its first `failures` attempts, then works.
function Jobs.flaky(name, failures)
  if Jobs.attempt() <= failures then error(("upload of %s timed out"):format(name), 0) end
  return name .. " uploaded on attempt " .. Jobs.attempt()
end

--- A job that always fails.
function Jobs.broken(what) error(what .. ": the disk is full", 0) end

-- ---- the demo: moonbeam run examples/job_queue.lua ---------------------------

function Jobs.demo()
  io.stdout:setvbuf("line")
  local t0 = mb.now()
  local function say(fmt, ...) print(("[%4d ms] " .. fmt):format(mb.now() - t0, ...)) end
  local q = assert(Jobs.start_link({ max_concurrency = 2, max_attempts = 3,
                                     backoff = { initial = 100, factor = 2, max = 1000 }, notify = mb.self() }))
  say("a queue: 2 jobs at a time, 3 attempts each, retried after 100 ms, then 200 ms")
  local ids = {
    Jobs.enqueue(q, "examples.job_queue:resize", "cat.jpg", 80),
    Jobs.enqueue(q, "examples.job_queue:flaky", "report.pdf", 2),
    Jobs.enqueue(q, "examples.job_queue:broken", "backup"),
    Jobs.enqueue(q, "examples.job_queue:resize", "dog.png", 30),
  }
  say("enqueued jobs %s: resize cat.jpg, upload report.pdf (fails twice), backup (always fails), resize dog.png",
    table.concat(ids, ", "))
  local s = Jobs.stats(q)
  say("stats: %d running, %d retrying, %d queued", s.running, s.retrying, s.queued)
  local ended = 0
  while ended < #ids do
    local m = assert(mb.receive(function(m) return type(m) == "table" and m[1] == "job" end, 5000), "no news from the queue")
    local what, id = m[2], m[3]
    if what == "started" then
      say("job %d: attempt %d starts in %s", id, m[4], tostring(m[5]))
    elseif what == "retrying" then
      say("job %d: failed (%s); the supervisor restarts it in %d ms", id, m[4], m[5])
    elseif what == "done" then
      say("job %d: done after %d attempt(s): %s", id, m[5], tostring(m[4]))
      ended = ended + 1
    elseif what == "failed" then
      say("job %d: gave up after %d attempts: %s", id, m[5], m[4])
      ended = ended + 1
    end
  end
  local r, err = Jobs.await(q, ids[3])
  say("await(backup) -> %s, {%s, %q, %d}", tostring(r), err[1], err[2], err[3])
  say("await(report.pdf) -> %q", Jobs.await(q, ids[2]))
  s = Jobs.stats(q)
  say("stats: %d done, %d failed", s.done, s.failed)
  Jobs.stop(q)
end

if arg and arg[0] and arg[0]:match("job_queue%.lua$") and (...) ~= "examples.job_queue" then
  Jobs.demo()
end

return Jobs
