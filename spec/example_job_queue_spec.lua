-- examples/job_queue.lua: jobs as supervised tasks, retried with backoff.

local mb = require "moonbeam"
local sup = require "moonbeam.supervisor"
local gen = require "moonbeam.gen_server"
local h = require "spec.support.helpers"
local jobs = require "examples.job_queue"

local J = "examples.job_queue:"

-- The {"job", event, id, ...} notices for id, until it ends.
local function events_of(id, timeout)
  local got = {}
  while true do
    local m = h.expect(function(m) return type(m) == "table" and m[1] == "job" and m[3] == id end,
      "news of job " .. id, timeout or 5000)
    got[#got + 1] = m[2]
    if m[2] == "done" or m[2] == "failed" then return got, m end
  end
end

describe("examples.job_queue", function()
  before_each(h.before)
  after_each(h.after)

  it("runs a job in a process of its own and await returns its result", function()
    local q = assert(jobs.start_link({ notify = mb.self() }))
    local id = jobs.enqueue(q, J .. "resize", "cat.jpg", 10)
    assert.equal("cat.thumb.jpg", jobs.await(q, id, 5000))
    local st = jobs.status(q, id)
    assert.equal("done", st.state)
    assert.equal(1, st.attempts)
    local started = h.expect(h.tuple("job", "started", id), "the start notice")
    assert.are_not.equal(q, started[5])
    assert.are_not.equal(mb.self(), started[5])
  end)

  it("retries a failing job after the backoff until it works", function()
    local q = assert(jobs.start_link({ max_attempts = 5, backoff = { initial = 100, factor = 2, max = 1000 },
                                       notify = mb.self() }))
    local t0 = h.now_ms()
    local id = jobs.enqueue(q, J .. "flaky", "f", 2)   -- fails twice
    local seen = events_of(id)
    local took = h.now_ms() - t0
    assert.same({ "started", "retrying", "started", "retrying", "started", "done" }, seen)
    assert.is_true(took >= 280, "retried after " .. took .. " ms, not 100 + 200")
    assert.equal("f uploaded on attempt 3", jobs.await(q, id))
    assert.equal(3, jobs.status(q, id).attempts)
  end)

  it("gives up after max_attempts; await returns nil, {\"failed\", error, attempts}", function()
    local q = assert(jobs.start_link({ max_attempts = 2, backoff = { initial = 20 }, notify = mb.self() }))
    local id = jobs.enqueue(q, J .. "broken", "backup")
    local seen = events_of(id)
    assert.same({ "started", "retrying", "started", "failed" }, seen)
    local r, err = jobs.await(q, id)
    assert.is_nil(r)
    assert.same({ "failed", "backup: the disk is full", 2 }, err)
    local st = jobs.status(q, id)
    assert.equal("failed", st.state)
    assert.equal("backup: the disk is full", st.error)
  end)

  it("runs its jobs as transient children of a simple_one_for_one supervisor", function()
    local q = assert(jobs.start_link({ max_concurrency = 2 }))
    jobs.enqueue(q, J .. "resize", "a.jpg", 500)
    local task_sup = gen.get_state(q).sup
    assert.is_true(h.wait_until(function() return sup.count_children(task_sup).active == 1 end))
    local kids = sup.which_children(task_sup)
    assert.equal("transient", kids[1].restart)
    assert.is_true(mb.alive(kids[1].pid))
  end)

  it("runs at most max_concurrency jobs at once; the others wait in order", function()
    local q = assert(jobs.start_link({ max_concurrency = 2, notify = mb.self() }))
    local ids = {}
    for i = 1, 5 do ids[i] = jobs.enqueue(q, J .. "resize", i .. ".jpg", 100) end
    local st = jobs.stats(q)
    assert.equal(2, st.running)
    -- On a loaded machine a 100 ms job may be done before the last enqueue.
    assert.equal(3, st.queued + st.done)
    local order = {}
    for _ = 1, 5 do
      order[#order + 1] = h.expect(h.tuple("job", "started"), "a start")[3]
    end
    -- the first two started first (in either order: they race to say so)
    local first = { order[1], order[2] }
    table.sort(first)
    assert.same({ ids[1], ids[2] }, first)
    table.sort(order)
    assert.same(ids, order)
    for _, id in ipairs(ids) do assert.equal(id .. ".thumb.jpg", jobs.await(q, id, h.TIMEOUT)) end
    st = jobs.stats(q)
    assert.equal(5, st.done)
    assert.equal(0, st.running + st.queued + st.retrying)
  end)

  it("answers every await of a job once it ends, from several processes", function()
    local q = assert(jobs.start_link())
    local id = jobs.enqueue(q, J .. "resize", "x.png", 150)
    local me = mb.self()
    for _ = 1, 3 do
      mb.spawn(function(parent, q, id)
        local r = require("examples.job_queue").await(q, id, 5000)
        require("moonbeam").send(parent, { "awaited", r })
      end, me, q, id)
    end
    for _ = 1, 3 do assert.equal("x.thumb.png", h.expect(h.tuple("awaited"), "an await")[2]) end
  end)

  it("refuses a job that is not \"module:fn\", and knows no unknown id", function()
    local q = assert(jobs.start_link())
    assert.matches("module:fn", h.error_of(jobs.enqueue, q, function() end))
    local r, err = jobs.await(q, 999)
    assert.is_nil(r)
    assert.same({ "unknown" }, err)
    assert.is_nil(jobs.status(q, 999))
  end)

  it("stops its supervisor, and the jobs, when it stops", function()
    local q = assert(jobs.start_link())
    jobs.enqueue(q, J .. "resize", "slow.jpg", 5000)
    local task_sup = gen.get_state(q).sup
    assert.is_true(h.wait_until(function() return sup.count_children(task_sup).active == 1 end))
    local job = sup.which_children(task_sup)[1].pid
    assert.is_true(jobs.stop(q))
    assert.is_false(mb.alive(task_sup))
    assert.is_false(mb.alive(job))
  end)
end)
