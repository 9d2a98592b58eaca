-- bench/lib/gen_counter.lua — the gen_server the gen_* benchmarks talk to
-- (started by name, "bench.lib.gen_counter"): a counter. Every call but
-- "get" and every cast adds one; "get" replies the count. Erlang peer: the
-- callbacks of bench/peers/erlang/bench_gen.erl.
local M = {}

function M.init(start) return "ok", start or 0 end

function M.handle_call(req, _from, n)
  if req == "get" then return "reply", n, n end
  return "reply", n + 1, n + 1                 -- "inc"
end

function M.handle_cast(_msg, n) return "noreply", n + 1 end

-- bench/lib/util.lua's stop_all sends "stop".
function M.handle_info(msg, n)
  if msg == "stop" then return "stop", "normal", n end
  return "noreply", n
end

return M
