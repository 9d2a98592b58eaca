-- examples/chat_room.lua: chat rooms over a duplicate-key Registry, through
-- its client functions.

local mb = require "moonbeam"
local h = require "spec.support.helpers"
local chat = require "examples.chat_room"

-- A member of room: joins as nick, forwards what it hears to parent.
local function member(name, room, nick)
  local pid = mb.spawn(function(parent, name, room, nick)
    local mb = require "moonbeam"
    require("examples.chat_room").join(name, room, nick)
    mb.send(parent, { "joined", nick })
    while true do mb.send(parent, { "heard", nick, mb.receive() }) end
  end, mb.self(), name, room, nick)
  h.expect(h.tuple("joined", nick), nick .. " joining")
  return pid
end

describe("examples.chat_room", function()
  before_each(h.before)
  after_each(h.after)

  it("fans a post out to every member of the room, and only that room", function()
    local name = h.name("chat")
    assert(chat.start_link(name))
    member(name, "lua", "ann")
    member(name, "lua", "bob")
    member(name, "c", "cy")
    assert.same({ "ann", "bob" }, chat.members(name, "lua"))
    assert.equal(2, chat.post(name, "lua", "hi"))
    for _, nick in ipairs { "ann", "bob" } do
      local m = h.expect(h.tuple("heard", nick), nick .. " hearing")
      assert.same({ "chat", "lua", tostring(mb.self()), "hi" }, m[3])
    end
    assert.is_nil(mb.receive(h.tuple("heard", "cy"), 20))
  end)

  it("names the poster by its nick, and forgets a member that died", function()
    local name = h.name("chat")
    assert(chat.start_link(name))
    local ann = member(name, "lua", "ann")
    chat.join(name, "lua", "me")
    local ref = mb.monitor(ann)
    mb.exit(ann, "kill")
    h.down(ref)
    assert.same({ "me" }, chat.members(name, "lua"))
    assert.equal(1, chat.post(name, "lua", "alone"))
    assert.same({ "chat", "lua", "me", "alone" }, h.expect(h.tuple("chat"), "my own post"))
    chat.leave(name, "lua")
    assert.equal(0, chat.post(name, "lua", "nobody"))
  end)
end)
