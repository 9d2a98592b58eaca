-- examples/app/session_store.lua: login sessions that expire, as a gen_server
-- registered as "sessions". Every cleanup_ms it sweeps out the sessions not
-- used for ttl_ms, with a timer it arms again each time (mb.send_after).
-- Part of the example tree (examples/app/tree.lua).
--
--   local sessions = require "examples.app.session_store"
--   local token = sessions.create("alice")
--   sessions.lookup(token)   --> "alice" (and the session is fresh again)
--   sessions.count()         --> 1
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"

local Store = {}

Store.NAME = "sessions"

-- ---- the server ---------------------------------------------------------

-- opts: {ttl_ms = (default 30000), cleanup_ms = (default 1000), log = bool}
function Store.init(opts)
  opts = opts or {}
  mb.trap_exit(true)   -- so that terminate runs when our supervisor stops us
  local st = { ttl = opts.ttl_ms or 30000, every = opts.cleanup_ms or 1000, log = opts.log,
               sessions = {}, count = 0, next_id = 0 }
  st.timer = mb.send_after(st.every, mb.self(), "cleanup")
  if st.log then
    print(("[sessions] up, sessions live %d ms, swept every %d ms"):format(st.ttl, st.every))
  end
  return "ok", st
end

function Store.handle_call(req, _, st)
  local op = req[1]
  if op == "create" then
    st.next_id = st.next_id + 1
    local token = ("%s-%d-%d"):format(req[2], st.next_id, math.random(1e6))
    st.sessions[token] = { user = req[2], seen = mb.now() }
    st.count = st.count + 1
    return "reply", token, st
  elseif op == "lookup" then
    local s = st.sessions[req[2]]
    if not s then return "reply", nil, st end
    s.seen = mb.now()
    return "reply", s.user, st
  elseif op == "count" then
    return "reply", st.count, st
  end
  return "reply", nil, st
end

function Store.handle_info(msg, st)
  if msg == "cleanup" then
    local now, removed = mb.now(), 0
    for token, s in pairs(st.sessions) do
      if now - s.seen > st.ttl then
        st.sessions[token] = nil
        removed = removed + 1
      end
    end
    st.count = st.count - removed
    if st.log and removed > 0 then
      print(("[sessions] cleanup: %d expired, %d left"):format(removed, st.count))
    end
    st.timer = mb.send_after(st.every, mb.self(), "cleanup")
  end
  return "noreply", st
end

function Store.terminate(reason, st)
  if st.log then print(("[sessions] stopping (%s) with %d sessions"):format(tostring(reason), st.count)) end
end

-- ---- the client -----------------------------------------------------------

function Store.create(user) return gen.call(Store.NAME, { "create", user }) end
function Store.lookup(token) return gen.call(Store.NAME, { "lookup", token }) end
function Store.count() return gen.call(Store.NAME, { "count" }) end

return Store
