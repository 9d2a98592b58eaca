-- examples/app.lua: a small application under a supervision tree.
--
--   moonbeam run examples/app.lua           the demo: a few seconds, then exits
--   moonbeam run examples/app.lua forever   keeps serving (Ctrl-C to stop)
--
-- Run it from the repository root (its modules are in examples/app/:
-- cache, session_store, worker, pool and tree).
-- It boots the tree of examples/app/tree.lua, uses the cache, the session store
-- and the worker pool, crashes a worker and then the cache on purpose to
-- show their supervisors start them again, and stops the tree cleanly.
local mb = require "moonbeam"
local sup = require "moonbeam.supervisor"
local tree = require "examples.app.tree"
local cache = require "examples.app.cache"
local sessions = require "examples.app.session_store"
local pool = require "examples.app.pool"

local forever = (...) == "forever"
io.stdout:setvbuf("line")   -- every process prints to the same stdout: line by line

local function say(fmt, ...) print(("[app]      " .. fmt):format(...)) end

mb.trap_exit(true)   -- the tree is linked to us: see its EXIT, do not die of it

say("booting the tree")
local top = assert(tree.start({ log = true, workers = 3, session_ttl_ms = 400, cleanup_ms = 250 }))
mb.sleep(50)   -- the pool fills itself just after it starts
say("the tree:")
tree.print(top, "           ")

-- The cache.
say("cache: put three entries")
cache.put("lua", "a language")
cache.put("otp", "a library")
cache.put("beam", "a VM")
say("cache: get lua -> %s, get erlang -> %s", cache.get("lua"), tostring(cache.get("erlang")))
local s = cache.stats()
say("cache: %d entries, %d hits, %d misses", s.size, s.hits, s.misses)

-- Sessions: one is kept fresh, the other expires and is swept out.
local alice = sessions.create("alice")
local bob = sessions.create("bob")
say("sessions: alice has %s, bob has %s (%d live)", alice, bob, sessions.count())
for _ = 1, 3 do
  mb.sleep(200)
  sessions.lookup(alice)   -- alice keeps using hers
end
say("sessions: after 600 ms alice -> %s, bob -> %s", tostring(sessions.lookup(alice)), tostring(sessions.lookup(bob)))

-- The pool.
local jobs = { { "words", "the quick brown fox jumps" }, { "sum", 1, 100 }, { "words", "hello moonbeam" } }
for _, job in ipairs(jobs) do
  local r = assert(pool.run(job))
  say("pool: %s -> %s (by worker %d)", job[1], tostring(r.result), r.worker)
end

-- A worker crashes; its supervisor starts it again.
local before = pool.workers()
say("pool: asking a worker to crash (a crash report follows on stderr)")
local r, err = pool.run("crash")
local why = err and err[2]
say("pool: the job failed: %s %s", tostring(err and err[1]), type(why) == "table" and tostring(why[2]) or tostring(why))
local after
for _ = 1, 100 do
  after = pool.workers()
  local changed = 0
  for i = 1, #before do if after[i] ~= before[i] and type(after[i]) ~= "string" then changed = changed + 1 end end
  if changed == 1 then break end
  mb.sleep(10)
end
for i = 1, #before do
  say("pool: worker pid %s -> %s%s", tostring(before[i]), tostring(after[i]),
    before[i] ~= after[i] and "   (restarted)" or "")
end
for i = 1, #before do
  local r = assert(pool.run({ "sum", 1, 10 }))
  say("pool: sum 1..10 -> %d (by worker %d)", r.result, r.worker)
end

-- The cache is killed; it comes back (empty: its state died with it).
local old = mb.whereis("cache")
say("killing the cache %s", tostring(old))
mb.exit(old, "kill")
for _ = 1, 100 do
  local now = mb.whereis("cache")
  if now and now ~= old then break end
  mb.sleep(10)
end
say("the cache is back as %s; get lua -> %s", tostring(mb.whereis("cache")), tostring(cache.get("lua")))
say("the tree now:")
tree.print(top, "           ")

-- Guests come and go: their sessions expire and the periodic sweep removes them.
for i = 1, 3 do sessions.create("guest" .. i) end
say("sessions: 3 guests logged in (%d live); a second with nobody using them", sessions.count())
mb.sleep(1000)
say("sessions: %d live", sessions.count())

if forever then
  say("serving forever (Ctrl-C to stop)")
  local n = 0
  while true do
    -- A second's wait that an EXIT ends: the host's shutdown (Ctrl-C,
    -- SIGTERM) reaches this trapping process as one, and the tree is then
    -- stopped in order below.
    local m = mb.receive(function(x) return type(x) == "table" and x[1] == "EXIT" end, 1000)
    if m then
      say("EXIT from %s (%s): shutting down", tostring(m[2]), tostring(m[3]))
      break
    end
    n = n + 1
    local r = pool.run({ "sum", 1, n })
    local token = sessions.create("user" .. n)
    cache.put("job" .. n, r and r.result)
    say("tick %d: sum 1..%d = %s, %d sessions, %d cached", n, n, tostring(r and r.result),
      sessions.count(), cache.stats().size)
    assert(sessions.lookup(token))
  end
end

say("stopping the tree")
sup.stop(top)
say("stopped; bye")
