-- examples/chat_room.lua: chat rooms over a duplicate-key Registry. A client
-- joins a room by registering the room's name as a key (its nick as the
-- value); a post fans out with registry.dispatch, in the poster's process:
-- no room process sits between them. A client that dies leaves its rooms
-- at once (its entries are gone before its DOWN goes out).
--
--   moonbeam run examples/chat_room.lua             the demo (from the repository root)
--
--   local chat = require "examples.chat_room"
--   chat.start_link("chat")                         -- the registry
--   chat.join("chat", "lua", "ann")                 -- this process joins room "lua" as ann
--   chat.post("chat", "lua", "hello")               --> 1 (members reached)
--   mb.receive()                                    --> {"chat", "lua", "ann", "hello"}
--   chat.members("chat", "lua")                     --> {"ann"}
--   chat.leave("chat", "lua")
local mb = require "moonbeam"
local registry = require "moonbeam.registry"

local Chat = {}

--- start_link(name) -> the registry's pid: rooms and their members.
function Chat.start_link(name)
  return registry.start_link({ name = name, keys = "duplicate", partitions = 2 })
end

--- join(chat, room, nick): the calling process joins room as nick.
function Chat.join(chat, room, nick) return registry.register(chat, room, nick) end

--- leave(chat, room): the calling process leaves room.
function Chat.leave(chat, room) return registry.unregister(chat, room) end

--- members(chat, room) -> the nicks in room, in the order they joined.
function Chat.members(chat, room)
  local nicks = {}
  for i, e in ipairs(registry.lookup(chat, room)) do nicks[i] = e[2] end
  return nicks
end

--- post(chat, room, text) -> how many members it reached: each gets
-- {"chat", room, from, text}, from being the poster's nick in the room
-- (or its pid, if it is no member).
function Chat.post(chat, room, text)
  local me, from = mb.self(), nil
  local entries = registry.lookup(chat, room)
  for _, e in ipairs(entries) do
    if e[1] == me then from = e[2] end
  end
  local n = 0
  registry.dispatch(chat, room, function(e, msg)
    mb.send(e[1], msg)
    n = n + 1
  end, { "chat", room, from or tostring(me), text })
  return n
end

-- ---- the demo: moonbeam run examples/chat_room.lua --------------------------

-- A client: joins room as nick, tells parent it did, then prints what
-- it hears until told {"quit"}.
function Chat.client(parent, chat, room, nick)
  local mb = require "moonbeam"
  local chat_room = require "examples.chat_room"
  chat_room.join(chat, room, nick)
  mb.send(parent, { "joined", nick })
  while true do
    local m = mb.receive()
    if m[1] == "quit" then return end
    print(("  %s hears %s: %s"):format(nick, m[3], m[4]))
    mb.send(parent, { "heard", nick })
  end
end

function Chat.demo()
  assert(Chat.start_link("chat"))
  local me = mb.self()
  local clients = {}
  for _, nick in ipairs { "ann", "bob", "cy" } do
    clients[nick] = mb.spawn("examples.chat_room:client", me, "chat", "lua", nick)
    mb.receive(function(m) return m[1] == "joined" and m[2] == nick end, 2000)
  end
  print("members of lua         -> " .. table.concat(Chat.members("chat", "lua"), ", "))
  Chat.join("chat", "lua", "host")
  local n = Chat.post("chat", "lua", "hello, room")
  for _ = 1, n - 1 do mb.receive(function(m) return m[1] == "heard" end, 2000) end
  mb.receive(function(m) return m[1] == "chat" end, 2000)   -- the host's own copy
  print(("post reached %d members"):format(n))

  local ref = mb.monitor(clients.bob)
  mb.exit(clients.bob, "kill")
  mb.receive(function(m) return m[1] == "DOWN" and m[2] == ref end, 2000)
  print("bob died; members      -> " .. table.concat(Chat.members("chat", "lua"), ", "))
  Chat.leave("chat", "lua")
  n = Chat.post("chat", "lua", "bob left")
  for _ = 1, n do mb.receive(function(m) return m[1] == "heard" end, 2000) end
  print(("post reached %d members"):format(n))
  for _, nick in ipairs { "ann", "cy" } do mb.send(clients[nick], { "quit" }) end
  print("a post to an empty room reaches " .. Chat.post("chat", "empty", "anyone?"))
end

if arg and arg[0] and arg[0]:match("chat_room%.lua$") and (...) ~= "examples.chat_room" then
  Chat.demo()
end

return Chat
