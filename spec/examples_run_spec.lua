-- `moonbeam run examples/<name>.lua`: every example's demo runs from the
-- repository root, prints what happens and exits 0 by itself.

local sh = require "spec.support.shell"

local BIN = "./build/bin/moonbeam"

-- Runs the example's demo; returns its stdout (fails on a non-zero status).
local function demo(name)
  local status, out, err = sh.run(BIN .. " run examples/" .. name .. ".lua", 60)
  assert.equal(0, status, ("examples/%s.lua exited %s\nstdout:\n%s\nstderr:\n%s"):format(name, tostring(status), out, err))
  return out, err
end

describe("moonbeam run examples/", function()
  it("counter_server.lua", function()
    local out = demo("counter_server")
    assert.matches("increment%s+%->%s+11", out)
    assert.matches("10 processes x 100 increments %-> 1016 %(16 %+ 1000: none lost%)", out)
    assert.matches("stopped; alive%?%s+false", out)
  end)

  it("chat_room.lua", function()
    local out = demo("chat_room")
    assert.matches("members of lua%s+%->%s+ann, bob, cy", out)
    assert.matches("post reached 4 members", out)
    assert.matches("bob died; members%s+%->%s+ann, cy, host", out)
    assert.matches("post reached 2 members", out)
    assert.matches("a post to an empty room reaches 0", out)
  end)

  it("stack.lua", function()
    local out = demo("stack")
    assert.matches("pop%s+%->%s+three", out)
    assert.matches("pop%s+%->%s+nil%s+empty", out)
  end)

  it("kv_store.lua", function()
    local out = demo("kv_store")
    assert.matches("get answer%s+%->%s+42", out)
    assert.matches("keys%s+%->%s+answer, config, lang, runtime", out)
    assert.matches("another process wrote%s+%->%s+from = <0%.", out)
  end)

  it("sessions.lua", function()
    local out = demo("sessions")
    assert.matches("get alice %-> alice", out)
    assert.matches("get bob %-> nil", out)
    assert.matches("0 live, 2 expired", out)
  end)

  it("ttl_lru_cache.lua", function()
    local out = demo("ttl_lru_cache")
    assert.matches("evicts the least recently used %(b%): get b %-> nil", out)
    assert.matches("get session %-> s3cr3t", out)
    assert.matches("evictions 3, expirations 2", out)
  end)

  it("rate_limiter.lua", function()
    local out = demo("rate_limiter")
    assert.matches("ok%(0 left%) no%(wait %d+ ms%)", out)
    assert.matches("process %d asks for alice: refused", out)
    assert.matches("full again: true, 4 left", out)
  end)

  it("job_queue.lua", function()
    local out = demo("job_queue")
    assert.matches("job 2: failed %(upload of report%.pdf timed out%); the supervisor restarts it in 100 ms", out)
    assert.matches("job 2: done after 3 attempt%(s%): report%.pdf uploaded on attempt 3", out)
    assert.matches("job 3: gave up after 3 attempts", out)
    assert.matches("stats: 3 done, 1 failed", out)
  end)

  it("mailer.lua", function()
    local out = demo("mailer")
    assert.matches("a bad address: nil, invalid address: nobody", out)
    assert.matches("the pitfall%): 5 emails at once took %d+ ms", out)
    assert.matches("stats: 6 sent, 1 failed, 0 in flight", out)
  end)

  it("worker_pool.lua", function()
    local out = demo("worker_pool")
    assert.matches("pool%.call%(\"fib_pool\", 25%) %->%s+75025", out)
    assert.matches("8 clients x 20 calls of fib%(24%): one server %d+ ms, the pool %d+ ms", out)
    assert.matches("killed worker <0%.%d+%.%d+>: 1 restart", out)
  end)
end)
