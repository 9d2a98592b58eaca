-- examples/mailer.lua: the seeds' "don't block the GenServer" pitfall and its
-- answer. Sending an email takes a while (an SMTP round trip, here a
-- sleep). A server that sends it inside handle_call makes every other
-- caller wait behind it: five senders take five round trips, and even a
-- "stats" call waits. This mailer instead hands each email to a Task and
-- returns "noreply": the Task sends it and answers the caller itself with
-- gen.reply(from, ...), so the server is free at once, the sends overlap,
-- and the caller still just makes one gen.call.
--
--   moonbeam run examples/mailer.lua               the demo (from the repository root)
--
--   local mailer = require "examples.mailer"
--   local pid = mailer.start_link({latency_ms = 200})          -- {blocking = true}: the pitfall
--   mailer.send(pid, {to = "ann@example.com", subject = "hi"}) --> "<1.ann@example.com>" (a message id)
--   mailer.send(pid, {to = "nobody"})                          --> nil, "invalid address: nobody"
--   mailer.stats(pid)                                          --> {sent =, failed =, in_flight =}
--
-- The server monitors each Task: if one dies before it answered (killed,
-- say), the server answers its caller with an error instead, so no caller
-- waits for its timeout.
local mb = require "moonbeam"
local gen = require "moonbeam.gen_server"
local task = require "moonbeam.task"

local Mailer = {}

-- ---- the slow part ------------------------------------------------------------

--- smtp_send(email, latency_ms) -> a message id; raises on a bad address.
function Mailer.smtp_send(email, latency_ms)
  local to = type(email) == "table" and email.to
  if type(to) ~= "string" or not to:match("^[^@%s]+@[^@%s]+$") then
    error("invalid address: " .. tostring(to), 0)
  end
  mb.sleep(latency_ms)
  return ("<%d.%s>"):format(email.seq or 0, to)
end

--- The Task: send, answer the caller, tell the server.
function Mailer.deliver(server, from, email, latency_ms)
  local ok, r = pcall(Mailer.smtp_send, email, latency_ms)
  gen.reply(from, ok and { "sent", r } or { "error", r })
  gen.cast(server, { "delivered", mb.self(), ok })
end

-- ---- the server -------------------------------------------------------------

function Mailer.init(opts)
  return "ok", { latency = opts.latency_ms, blocking = opts.blocking, seq = 0,
                 tasks = {}, sent = 0, failed = 0, in_flight = 0 }
end

function Mailer.handle_call(req, from, st)
  if req[1] == "send" then
    st.seq = st.seq + 1
    local email = req[2]
    if type(email) == "table" then email.seq = st.seq end
    if st.blocking then                        -- the pitfall: everyone waits for this
      local ok, r = pcall(Mailer.smtp_send, email, st.latency)
      if ok then st.sent = st.sent + 1 else st.failed = st.failed + 1 end
      return "reply", ok and { "sent", r } or { "error", r }, st
    end
    local pid = task.start("examples.mailer:deliver", mb.self(), from, email, st.latency)
    st.tasks[pid] = { from = from, ref = mb.monitor(pid) }
    st.in_flight = st.in_flight + 1
    return "noreply", st                       -- the Task answers
  elseif req[1] == "stats" then
    return "reply", { sent = st.sent, failed = st.failed, in_flight = st.in_flight }, st
  end
  return "reply", nil, st
end

function Mailer.handle_cast(msg, st)
  if msg[1] == "delivered" then
    local t = st.tasks[msg[2]]
    if t then
      st.tasks[msg[2]] = nil
      mb.demonitor(t.ref, true)
      st.in_flight = st.in_flight - 1
      if msg[3] then st.sent = st.sent + 1 else st.failed = st.failed + 1 end
    end
  end
  return "noreply", st
end

function Mailer.handle_info(msg, st)
  -- A Task that died before it said "delivered" never answered: answer for it.
  if type(msg) == "table" and msg[1] == "DOWN" then
    local t = st.tasks[msg[4]]
    if t then
      st.tasks[msg[4]] = nil
      st.in_flight, st.failed = st.in_flight - 1, st.failed + 1
      local reason = msg[5]
      gen.reply(t.from, { "error", "the sending task died: " .. tostring(type(reason) == "table" and reason[2] or reason) })
    end
  end
  return "noreply", st
end

-- ---- the client -------------------------------------------------------------

--- start_link([opts]) -> pid, or nil and why. opts: latency_ms (how long a
-- send takes, default 200), blocking (send inside handle_call: the
-- pitfall, for comparison), and gen.start_link's (name, ...).
function Mailer.start_link(opts)
  opts = opts or {}
  return gen.start_link("examples.mailer", { latency_ms = opts.latency_ms or 200, blocking = opts.blocking }, opts)
end

--- send(server, email, [timeout]) -> the message id, or nil and why.
-- email: {to =, subject =, body =}.
function Mailer.send(server, email, timeout)
  local r = gen.call(server, { "send", email }, timeout)
  if r[1] == "sent" then return r[2] end
  return nil, r[2]
end

--- stats(server) -> {sent =, failed =, in_flight =}.
function Mailer.stats(server) return gen.call(server, { "stats" }) end
function Mailer.stop(server) return gen.stop(server) end

-- ---- the demo: moonbeam run examples/mailer.lua --------------------------------

-- n processes each send one email at once; returns how long until the last
-- was sent, and how long a stats call made meanwhile took.
local function rush(server, n)
  local me, t0 = mb.self(), mb.now()
  for i = 1, n do
    mb.spawn(function(parent, server, i)
      local mailer = require "examples.mailer"
      local id = mailer.send(server, { to = ("user%d@example.com"):format(i), subject = "hello" })
      require("moonbeam").send(parent, { "sent", id })
    end, me, server, i)
  end
  mb.sleep(20)                                 -- the sends are under way
  local s0 = mb.now()
  local stats = Mailer.stats(server)
  local stats_ms = mb.now() - s0
  for _ = 1, n do assert(mb.receive(function(m) return m[1] == "sent" end, 10000)) end
  return mb.now() - t0, stats_ms, stats.in_flight
end

function Mailer.demo()
  local fast = assert(Mailer.start_link({ latency_ms = 200 }))
  local slow = assert(Mailer.start_link({ latency_ms = 200, blocking = true }))
  print("two mailers; one send takes 200 ms")
  print(("a message id: %s"):format(Mailer.send(fast, { to = "ann@example.com", subject = "hi" })))
  print(("a bad address: %s, %s"):format(Mailer.send(fast, { to = "nobody" })))

  local total, stats_ms = rush(slow, 5)
  print(("\nsending inside handle_call (the pitfall): 5 emails at once took %d ms;"):format(total))
  print(("  a stats call made meanwhile waited %d ms behind them"):format(stats_ms))

  local in_flight
  total, stats_ms, in_flight = rush(fast, 5)
  print(("\nsending from a Task that answers with gen.reply: 5 emails at once took %d ms;"):format(total))
  print(("  a stats call made meanwhile took %d ms (and saw %d sends in flight)"):format(stats_ms, in_flight))
  -- Each Task tells the server "delivered" just after it answered its caller.
  local s = Mailer.stats(fast)
  for _ = 1, 100 do
    if s.in_flight == 0 then break end
    mb.sleep(10)
    s = Mailer.stats(fast)
  end
  print(("  stats: %d sent, %d failed, %d in flight"):format(s.sent, s.failed, s.in_flight))
  Mailer.stop(fast)
  Mailer.stop(slow)
end

if arg and arg[0] and arg[0]:match("mailer%.lua$") and (...) ~= "examples.mailer" then
  Mailer.demo()
end

return Mailer
