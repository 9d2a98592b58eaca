-- counter.lua: the gen_server of the README, for the console to play with.
--   moonbeam
--   mb(1)> gen.start("examples.counter", 10, {name = "counter"})
--   mb(2)> call("counter", "increment")
--   11
local Counter = {}

function Counter.init(start) return "ok", start or 0 end

function Counter.handle_call(req, _, n)
  if req == "increment" then return "reply", n + 1, n + 1 end
  if req == "get" then return "reply", n, n end
  return "reply", { "unknown_request", req }, n
end

function Counter.handle_cast(msg, n)
  if msg == "reset" then return "noreply", 0 end
  return "noreply", n
end

return Counter
