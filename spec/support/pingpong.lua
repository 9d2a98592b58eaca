-- A ping-pong between two processes that notes when each pong came back,
-- to tell afterwards how many came back in a window of time: a stalled
-- scheduler shows as a window with none.
--
--   local pinger = mb.spawn("spec.support.pingpong")
--   ... later:  mb.send(pinger, { "count", from_ms, to_ms, mb.self() })
--               --> { "pongs", n } (n: pongs within [from_ms, to_ms] of mb.now(),
--               to 10 ms),
--               and the pair ends; { "peek", from_ms, to_ms, pid } answers
--               the same and the pair goes on.
local M = {}

function M.main()
  local mb = require "moonbeam"
  local ponger = mb.spawn_link(function()
    local mb = require "moonbeam"
    while true do
      local m = mb.receive()
      mb.send(m, "pong")
    end
  end)
  local floor = math.floor
  local per_tick = {}   -- pongs per 10 ms of mb.now()
  while true do
    mb.send(ponger, mb.self())
    local m = mb.receive()
    if m == "pong" then
      local tick = floor(mb.now() / 10)
      per_tick[tick] = (per_tick[tick] or 0) + 1
    elseif type(m) == "table" and (m[1] == "count" or m[1] == "peek") then
      local c = 0
      for tick = floor(m[2] / 10), floor(m[3] / 10) do c = c + (per_tick[tick] or 0) end
      mb.send(m[4], { "pongs", c })
      if m[1] == "count" then
        mb.exit(ponger, "kill")
        return
      end
      -- the pong of the ping sent before this request is still to come
      m = mb.receive(function(x) return x == "pong" end)
      local tick = floor(mb.now() / 10)
      per_tick[tick] = (per_tick[tick] or 0) + 1
    end
  end
end

return M
