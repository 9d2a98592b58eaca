-- examples/worker_pool.lua: workers behind one registered name.

local mb = require "moonbeam"
local h = require "spec.support.helpers"
local pool = require "examples.worker_pool"

local FIB, NAP, KEYED = "examples.worker_pool:fib", "examples.worker_pool:nap", "examples.worker_pool:keyed_fib"

-- n processes call name(req) once each, at once; returns the ms until all answered.
local function concurrently(name, n, req)
  local me, t0 = mb.self(), h.now_ms()
  for _ = 1, n do
    mb.spawn(function(parent, name, req)
      local r, err = require("examples.worker_pool").call(name, req, 10000)
      require("moonbeam").send(parent, { "answer", r, err })
    end, me, name, req)
  end
  for _ = 1, n do
    local m = h.expect(h.tuple("answer"), "an answer", 10000)
    assert.equal(req, m[2], tostring(m[3]))
  end
  return h.now_ms() - t0
end

describe("examples.worker_pool", function()
  before_each(h.before)
  after_each(h.after)

  it("answers calls to its name with the work's result, from one of its workers", function()
    local name = h.name("pool")
    local router = assert(pool.start_link(name, { size = 3, work = FIB }))
    assert.equal(router, mb.whereis(name))
    assert.equal(6765, pool.call(name, 20))
    local workers = pool.workers(name)
    assert.equal(3, #workers)
    for _, w in ipairs(workers) do
      assert.is_true(mb.alive(w))
      assert.is_true(h.contains(mb.info(router).links, w))
    end
  end)

  it("hands calls to its workers in turn", function()
    local name = h.name("pool")
    assert(pool.start_link(name, { size = 4, work = FIB }))
    for _ = 1, 10 do pool.call(name, 5) end
    assert.same({ 3, 3, 2, 2 }, pool.stats(name).calls)
  end)

  it("with dispatch = \"hash\" sends one key to one worker, always", function()
    local name = h.name("pool")
    assert(pool.start_link(name, { size = 4, work = KEYED, dispatch = "hash" }))
    local by = {}
    for round = 1, 3 do
      for _, key in ipairs({ "alice", "bob", "carol", "dave", "erin" }) do
        local r = pool.call(name, { key = key, n = 5 })
        assert.equal(5, r.fib)
        if round == 1 then by[key] = r.by else assert.equal(by[key], r.by, key) end
      end
    end
  end)

  it("overlaps its workers' work: 4 calls are at work at once", function()
    -- Each call waits for the others to be at work too (spec/support/pool_work.lua).
    local name = h.name("pool")
    assert(pool.start_link(name, { size = 4, work = "spec.support.pool_work:meet" }))
    for _ = 1, 4 do
      mb.spawn(function(parent, name, req)
        require("moonbeam").send(parent, { "answer", require("examples.worker_pool").call(name, req, 10000) })
      end, mb.self(), name, { coordinator = mb.self() })
    end
    local workers = {}
    for i = 1, 4 do
      workers[i] = h.expect(h.tuple("at_work"), "call " .. i .. " at work beside the others")[2]
    end
    for _, w in ipairs(workers) do mb.send(w, "go") end
    for _ = 1, 4 do assert.equal("together", h.expect(h.tuple("answer"), "an answer", 10000)[2]) end
  end)

  it("is the bottleneck it replaces when started single: the same calls queue up", function()
    local name = h.name("single")
    assert(pool.start_single(name, { work = NAP }))
    local took = concurrently(name, 4, 150)
    assert.is_true(took >= 550, "4 calls on one server took only " .. took .. " ms")
    assert.same({ size = 1, calls = { 4 }, restarts = 0 }, pool.stats(name))
  end)

  it("returns nil and the message when the work raises; the worker goes on", function()
    local name = h.name("pool")
    assert(pool.start_link(name, { size = 1, work = FIB }))
    local r, err = pool.call(name, "not a number")
    assert.is_nil(r)
    assert.matches("compare", err)
    assert.equal(55, pool.call(name, 10))
    assert.equal(0, pool.stats(name).restarts)
  end)

  it("starts a new worker in the place of one that dies", function()
    local name = h.name("pool")
    local router = assert(pool.start_link(name, { size = 2, work = FIB }))
    local old = pool.workers(name)
    mb.exit(old[1], "kill")
    assert.is_true(h.wait_until(function() return pool.stats(name).restarts == 1 end))
    local now = pool.workers(name)
    assert.are_not.equal(old[1], now[1])
    assert.equal(old[2], now[2])
    assert.is_true(mb.alive(router))
    for _ = 1, 4 do assert.equal(55, pool.call(name, 10)) end
  end)

  it("stops its workers when it stops", function()
    local name = h.name("pool")
    local router = assert(pool.start_link(name, { size = 2, work = FIB }))
    local workers = pool.workers(name)
    assert.is_true(pool.stop(name))
    assert.is_false(mb.alive(router))
    assert.is_true(h.wait_until(function() return not mb.alive(workers[1]) and not mb.alive(workers[2]) end))
  end)

  it("refuses a missing work function and an unknown dispatch", function()
    assert.matches("opts.work", h.error_of(pool.start_link, h.name("pool"), {}))
    assert.matches("dispatch", h.error_of(pool.start_link, h.name("pool"), { work = FIB, dispatch = "random" }))
    local r, why = pool.start_link(h.name("pool"), { work = "examples.worker_pool:nope" })
    assert.is_nil(r)
    assert.equal("worker_failed", why[1])
    assert.matches("no function 'examples.worker_pool:nope'", h.text(why[2]))
  end)
end)
