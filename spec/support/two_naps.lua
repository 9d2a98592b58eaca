-- A script for the blocking pool's size specs (require_spec, cli_spec): two
-- processes each in an mb.blocking call that naps until it sees the other
-- in its call (then they overlapped), sees that the other came and went, or
-- has napped 1 s. It prints whether the calls overlapped: with two pool
-- threads at once, with one never (after the first call's second).
return [[
    local mb = require "moonbeam"
    local base = os.tmpname()
    for i = 1, 2 do
      mb.spawn(function(parent, base, i)
        local mb = require "moonbeam"
        local nap = require "spec.support.nap"
        local function exists(path)
          local f = io.open(path)
          if f then f:close() end
          return f ~= nil
        end
        local saw = mb.blocking(function()
          local other = base .. "." .. (3 - i)
          assert(io.open(base .. "." .. i .. ".in", "w")):close()
          local saw, deadline = false, mb.now() + 1000
          while not saw and not exists(other .. ".done") and mb.now() < deadline do
            saw = exists(other .. ".in") and not exists(other .. ".done")
            if not saw then nap(5) end
          end
          assert(io.open(base .. "." .. i .. ".done", "w")):close()
          return saw
        end)
        mb.send(parent, { saw })
      end, mb.self(), base, i)
    end
    local a, b = assert(mb.receive(10000)), assert(mb.receive(10000))
    for _, suffix in ipairs({ "", ".1.in", ".1.done", ".2.in", ".2.done" }) do os.remove(base .. suffix) end
    print((a[1] or b[1]) and "overlapped" or "one after the other")
  ]]
