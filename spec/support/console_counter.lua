-- A gen_server callback module for the console specs: a counter.
local Counter = {}

function Counter.init(start) return "ok", start or 0 end

function Counter.handle_call(req, _, n)
  if req == "get" then return "reply", n, n end
  if req == "increment" then return "reply", n + 1, n + 1 end
  return "reply", { "unknown", req }, n
end

function Counter.handle_cast(msg, n)
  if msg == "increment" then return "noreply", n + 1 end
  if msg == "reset" then return "noreply", 0 end
  return "noreply", n
end

return Counter
