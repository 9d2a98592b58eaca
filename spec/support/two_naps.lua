-- A script for the blocking pool's size specs (require_spec, cli_spec):
-- two processes each in a 1 s mb.blocking call; it prints whether the calls
-- overlapped (times taken on the pool threads), not how long they took.
return [[
    local mb = require "moonbeam"
    for _ = 1, 2 do
      mb.spawn(function(parent)
        local mb = require "moonbeam"
        local from, to = mb.blocking(function()
          local t = mb.now()
          os.execute("sleep 1")
          return t, mb.now()
        end)
        mb.send(parent, { from, to })
      end, mb.self())
    end
    local a, b = assert(mb.receive(10000)), assert(mb.receive(10000))
    print((a[1] < b[2] and b[1] < a[2]) and "overlapped" or "one after the other")
  ]]
