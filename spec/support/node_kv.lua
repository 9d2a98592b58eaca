-- A key-value gen_server that Erlang nodes call (spec/node_gen_server_spec):
-- requests are Erlang tuples whose first element is an atom.
local mb = require "moonbeam"

local A = mb.atom
local KV = {}

function KV.init() return "ok", {} end

function KV.handle_call(req, _, s)
  if mb.kind(req) == "tuple" and req[1] == A"put" then
    s[req[2]] = req[3]
    return "reply", A"ok", s
  elseif mb.kind(req) == "tuple" and req[1] == A"get" then
    return "reply", mb.tuple(A"ok", s[req[2]] or A"undefined"), s
  elseif req == A"whoami" then
    return "reply", mb.self(), s
  elseif req == A"nothing" then   -- nil: Erlang's caller gets the atom nil (Elixir's nil)
    return "reply", nil, s
  elseif mb.kind(req) == "tuple" and req[1] == A"slow" then   -- {slow, Ms}: replies Ms ms late
    mb.sleep(req[2])
    return "reply", A"late", s
  end
  return "reply", mb.tuple(A"error", "bad request"), s
end

function KV.handle_cast(msg, s)
  if mb.kind(msg) == "tuple" and msg[1] == A"put" then s[msg[2]] = msg[3] end
  return "noreply", s
end

return KV
