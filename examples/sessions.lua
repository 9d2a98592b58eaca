-- examples/sessions.lua: the seeds' SessionStore, a gen_server holding
-- sessions that expire, swept out by a timer the server sends itself
-- (mb.send_after), as Process.send_after(self(), :cleanup, interval) does in
-- Elixir. (examples/app/session_store.lua is the supervision-tree demo's own,
-- registered as "sessions"; this one stands alone, with its own demo.)
--
--   moonbeam run examples/sessions.lua             the demo (from the repository root)
--
--   local sessions = require "examples.sessions"
--   local pid = sessions.start_link({ttl_ms = 30000, cleanup_ms = 1000})
--   local id = sessions.create(pid, {user = "alice"})
--   sessions.get(pid, id)                          --> {user = "alice"}; the session lives ttl_ms more
--   sessions.delete(pid, id)                       -- a cast
--   sessions.stats(pid)                            --> {live =, created =, expired =, sweeps =}
--
-- A session not used for ttl_ms is expired: get no longer returns it at
-- once, and the next sweep (every cleanup_ms) removes it from memory.
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"

local Sessions = {}

Sessions.DEFAULT_TTL_MS = 30000
Sessions.DEFAULT_CLEANUP_MS = 1000

-- ---- the server -------------------------------------------------------------

function Sessions.init(opts)
  local st = {
    ttl = opts.ttl_ms or Sessions.DEFAULT_TTL_MS,
    every = opts.cleanup_ms or Sessions.DEFAULT_CLEANUP_MS,
    sessions = {},      -- id -> {data =, expires =}
    live = 0, created = 0, expired = 0, sweeps = 0,
  }
  mb.send_after(st.every, mb.self(), "cleanup")
  return "ok", st
end

local function expired(s, now) return s.expires <= now end

function Sessions.handle_call(req, _from, st)
  local op, now = req[1], mb.now()
  if op == "create" then
    st.created = st.created + 1
    -- Unique, not secret: a real store wants ids nobody can guess (bytes
    -- from /dev/urandom, say).
    local id = ("%x-%06x"):format(st.created, math.random(0, 0xffffff))
    st.sessions[id] = { data = req[2], expires = now + st.ttl }
    st.live = st.live + 1
    return "reply", id, st
  elseif op == "get" then
    local s = st.sessions[req[2]]
    if not s or expired(s, now) then return "reply", nil, st end
    s.expires = now + st.ttl          -- used: it lives ttl_ms more
    return "reply", s.data, st
  elseif op == "stats" then
    return "reply", { live = st.live, created = st.created, expired = st.expired, sweeps = st.sweeps }, st
  end
  return "reply", nil, st
end

function Sessions.handle_cast(msg, st)
  if msg[1] == "delete" and st.sessions[msg[2]] then
    st.sessions[msg[2]] = nil
    st.live = st.live - 1
  end
  return "noreply", st
end

function Sessions.handle_info(msg, st)
  if msg == "cleanup" then
    local now, n = mb.now(), 0
    for id, s in pairs(st.sessions) do
      if expired(s, now) then
        st.sessions[id] = nil      -- removing the current key while iterating is allowed
        n = n + 1
      end
    end
    st.live, st.expired, st.sweeps = st.live - n, st.expired + n, st.sweeps + 1
    -- Armed again after each sweep (not an interval timer): a slow sweep
    -- never piles up cleanup messages.
    mb.send_after(st.every, mb.self(), "cleanup")
  end
  return "noreply", st
end

-- ---- the client -------------------------------------------------------------

--- start_link([opts]) -> pid, or nil and why. opts: ttl_ms (default 30000),
-- cleanup_ms (default 1000), and gen.start_link's (name, ...).
function Sessions.start_link(opts)
  opts = opts or {}
  return gen.start_link("examples.sessions", { ttl_ms = opts.ttl_ms, cleanup_ms = opts.cleanup_ms }, opts)
end

--- create(server, data) -> a new session's id (a string).
function Sessions.create(server, data)
  if data == nil then error("sessions.create: data must not be nil", 2) end
  return gen.call(server, { "create", data })
end

--- get(server, id) -> the session's data, or nil if unknown or expired.
function Sessions.get(server, id) return gen.call(server, { "get", id }) end
--- delete(server, id) -> true (a cast).
function Sessions.delete(server, id) return gen.cast(server, { "delete", id }) end
--- stats(server) -> {live =, created =, expired =, sweeps =}; live counts
-- the sessions in memory (expired ones until the next sweep).
function Sessions.stats(server) return gen.call(server, { "stats" }) end
function Sessions.stop(server) return gen.stop(server) end

-- ---- the demo: moonbeam run examples/sessions.lua ----------------------------

function Sessions.demo()
  local t0 = mb.now()
  local function say(fmt, ...) print(("[%4d ms] " .. fmt):format(mb.now() - t0, ...)) end
  local pid = assert(Sessions.start_link({ ttl_ms = 300, cleanup_ms = 100 }))
  say("a store: sessions live 300 ms after their last use, swept every 100 ms")
  local alice = Sessions.create(pid, { user = "alice" })
  local bob = Sessions.create(pid, { user = "bob" })
  local carol = Sessions.create(pid, { user = "carol" })
  say("created alice (%s), bob (%s), carol (%s)", alice, bob, carol)
  Sessions.delete(pid, carol)
  say("deleted carol; get carol -> %s", tostring(Sessions.get(pid, carol)))
  for _ = 1, 5 do
    mb.sleep(100)
    local a = Sessions.get(pid, alice)
    say("alice keeps using hers: get alice -> %s", a and a.user or "nil")
  end
  local b = Sessions.get(pid, bob)
  say("bob has been idle for 500 ms: get bob -> %s", b and b.user or "nil")
  local s = Sessions.stats(pid)
  say("stats: %d live, %d created, %d expired by %d sweeps", s.live, s.created, s.expired, s.sweeps)
  mb.sleep(600)
  s = Sessions.stats(pid)
  say("alice idle for 600 ms: %d live, %d expired by %d sweeps", s.live, s.expired, s.sweeps)
  Sessions.stop(pid)
end

if arg and arg[0] and arg[0]:match("sessions%.lua$") and (...) ~= "examples.sessions" then
  Sessions.demo()
end

return Sessions
