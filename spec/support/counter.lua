-- The callback module of the gen_server example in docs/reference.md, as
-- users write it.
local Counter = {}
function Counter.init(start) return "ok", start or 0 end
function Counter.handle_call(req, from, n)
  if req == "increment" then return "reply", n + 1, n + 1 end
  if req == "get" then return "reply", n, n end
end
function Counter.handle_cast(msg, n)
  if msg == "reset" then return "noreply", 0 end
  if msg == "increment" then return "noreply", n + 1 end
end
return Counter
