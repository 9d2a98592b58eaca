-- examples/rate_limiter.lua: a rate limiter as a gen_server: at most
-- `limit` requests per `per_ms` for each key (a user, an IP, an API token),
-- with a token bucket per key. A bucket holds up to `limit` tokens and
-- refills continuously at limit / per_ms tokens a millisecond; a request
-- takes one, or is refused with the time until one is there. Every process
-- that asks the same server shares the same limits.
--
--   moonbeam run examples/rate_limiter.lua         the demo (from the repository root)
--
--   local limiter = require "examples.rate_limiter"
--   limiter.start_link({limit = 100, per_ms = 60000, name = "api"})
--   limiter.allow("api", "alice")        --> true, 99 (requests left right now)
--   ...                                  --> false, 412 (ms until one more is allowed)
--
-- Buckets that have filled up again are forgotten by a sweep every per_ms
-- (a timer the server sends itself): a full bucket is the same as none, so
-- memory holds only the keys seen lately.
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"

local Limiter = {}

-- ---- the server -------------------------------------------------------------

function Limiter.init(opts)
  local st = { limit = opts.limit, per = opts.per_ms, rate = opts.limit / opts.per_ms,
               buckets = {}, allowed = 0, refused = 0 }
  mb.send_after(st.per, mb.self(), "sweep")
  return "ok", st
end

-- The bucket of key, refilled up to now.
local function refill(st, key, now)
  local b = st.buckets[key]
  if not b then
    b = { tokens = st.limit, at = now }
    st.buckets[key] = b
  else
    b.tokens = math.min(st.limit, b.tokens + (now - b.at) * st.rate)
    b.at = now
  end
  return b
end

function Limiter.handle_call(req, _from, st)
  local op = req[1]
  if op == "allow" then
    local cost = req[3]
    local b = refill(st, req[2], mb.now())
    if b.tokens >= cost then
      b.tokens = b.tokens - cost
      st.allowed = st.allowed + 1
      return "reply", { true, math.floor(b.tokens) }, st
    end
    st.refused = st.refused + 1
    return "reply", { false, math.ceil((cost - b.tokens) / st.rate) }, st
  elseif op == "reset" then
    st.buckets[req[2]] = nil
    return "reply", true, st
  elseif op == "stats" then
    local keys = 0
    for _ in pairs(st.buckets) do keys = keys + 1 end
    return "reply", { allowed = st.allowed, refused = st.refused, keys = keys }, st
  end
  return "reply", nil, st
end

function Limiter.handle_info(msg, st)
  if msg == "sweep" then
    local now = mb.now()
    for key in pairs(st.buckets) do
      if refill(st, key, now).tokens >= st.limit then st.buckets[key] = nil end
    end
    mb.send_after(st.per, mb.self(), "sweep")
  end
  return "noreply", st
end

-- ---- the client -------------------------------------------------------------

--- start_link(opts) -> pid, or nil and why. opts: limit (requests, >= 1),
-- per_ms (the window they are spread over), and gen.start_link's (name, ...).
function Limiter.start_link(opts)
  opts = opts or {}
  if type(opts.limit) ~= "number" or opts.limit < 1 then error("rate_limiter.start_link: limit must be a number >= 1", 2) end
  if type(opts.per_ms) ~= "number" or not (opts.per_ms > 0) then error("rate_limiter.start_link: per_ms must be a number > 0", 2) end
  return gen.start_link("examples.rate_limiter", { limit = opts.limit, per_ms = opts.per_ms }, opts)
end

--- allow(server, key, [cost]) -> true, requests left; or false, ms to wait.
-- cost (default 1) is how many requests this one counts for.
function Limiter.allow(server, key, cost)
  if key == nil then error("rate_limiter.allow: key must not be nil", 2) end
  local r = gen.call(server, { "allow", key, cost or 1 })
  return r[1], r[2]
end

--- reset(server, key) -> true: key's bucket is full again.
function Limiter.reset(server, key) return gen.call(server, { "reset", key }) end
--- stats(server) -> {allowed =, refused =, keys = buckets in memory}.
function Limiter.stats(server) return gen.call(server, { "stats" }) end
function Limiter.stop(server) return gen.stop(server) end

-- ---- the demo: moonbeam run examples/rate_limiter.lua ------------------------

function Limiter.demo()
  assert(Limiter.start_link({ limit = 5, per_ms = 1000, name = "api" }))
  local t0 = mb.now()
  local function say(fmt, ...) print(("[%4d ms] " .. fmt):format(mb.now() - t0, ...)) end
  say("a limiter registered as \"api\": 5 requests a second per key")
  local line = {}
  local retry
  for _ = 1, 8 do
    local ok, n = Limiter.allow("api", "alice")
    line[#line + 1] = ok and ("ok(" .. n .. " left)") or ("no(wait " .. n .. " ms)")
    if not ok then retry = n end
  end
  say("alice, 8 requests at once: %s", table.concat(line, " "))
  local ok, n = Limiter.allow("api", "bob")
  say("bob has his own bucket: %s, %d left", tostring(ok), n)

  -- Three processes share alice's limit through the server's name.
  local me = mb.self()
  for i = 1, 3 do
    mb.spawn(function(parent, i)
      local limiter = require "examples.rate_limiter"
      local got = limiter.allow("api", "alice")
      require("moonbeam").send(parent, { i, got })
    end, me, i)
  end
  for _ = 1, 3 do
    local m = mb.receive(2000)
    say("process %d asks for alice: %s", m[1], m[2] and "allowed" or "refused")
  end

  mb.sleep(retry)
  ok, n = Limiter.allow("api", "alice")
  say("after the %d ms it was told to wait: %s, %d left", retry, tostring(ok), n)
  mb.sleep(1000)
  ok, n = Limiter.allow("api", "alice")
  say("a second later the bucket is full again: %s, %d left", tostring(ok), n)
  local s = Limiter.stats("api")
  say("stats: %d allowed, %d refused, %d keys in memory", s.allowed, s.refused, s.keys)
  Limiter.stop("api")
end

if arg and arg[0] and arg[0]:match("rate_limiter%.lua$") and (...) ~= "examples.rate_limiter" then
  Limiter.demo()
end

return Limiter
