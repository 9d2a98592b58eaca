-- A script for the blocking pool's size specs (require_spec, cli_spec): two
-- processes each in an mb.blocking call that waits (1 s at most) to see the
-- other in its call (spec/support/meet.lua). It prints whether the calls
-- overlapped: with two pool threads at once, with one never.
return [[
    local mb = require "moonbeam"
    local meet = require "spec.support.meet"
    local place = meet.place()
    for i = 1, 2 do
      mb.spawn(function(parent, place, i)
        local mb = require "moonbeam"
        mb.send(parent, { mb.blocking(require("spec.support.meet").at, place, i, 3 - i, 1000) })
      end, mb.self(), place, i)
    end
    local a, b = assert(mb.receive(10000)), assert(mb.receive(10000))
    meet.clear(place, "1.in", "1.done", "2.in", "2.done")
    print((a[1] or b[1]) and "overlapped" or "one after the other")
  ]]
