-- A key-value gen_server that Erlang nodes call (spec/node_gen_server_spec):
-- requests are Erlang tuples whose first element is an atom.
local mb = require "moonbeam"

local gen = require "moonbeam.gen_server"
local A = mb.atom
local KV = {}
local HELD = {}   -- the state's key for the caller of a held call

function KV.init() return "ok", {} end

function KV.handle_call(req, from, s)
  if mb.kind(req) == "tuple" and req[1] == A"put" then
    s[req[2]] = req[3]
    return "reply", A"ok", s
  elseif mb.kind(req) == "tuple" and req[1] == A"get" then
    return "reply", mb.tuple(A"ok", s[req[2]] or A"undefined"), s
  elseif req == A"whoami" then
    return "reply", mb.self(), s
  elseif req == A"nothing" then   -- nil: Erlang's caller gets the atom nil (Elixir's nil)
    return "reply", nil, s
  elseif req == A"unsendable" then   -- a function cannot go to another node
    return "reply", { f = function() return 1 end }, s
  elseif req == A"hold" then   -- answered only once a cast release comes: late for any timeout
    s[HELD] = from
    return "noreply", s
  end
  return "reply", mb.tuple(A"error", "bad request"), s
end

function KV.handle_cast(msg, s)
  if mb.kind(msg) == "tuple" and msg[1] == A"put" then s[msg[2]] = msg[3] end
  if msg == A"release" and s[HELD] then
    gen.reply(s[HELD], A"late")
    s[HELD] = nil
  end
  return "noreply", s
end

return KV
