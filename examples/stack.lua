-- examples/stack.lua: the seeds' Stack, a gen_server holding a list.
--
--   moonbeam run examples/stack.lua                the demo (from the repository root)
--
--   local stack = require "examples.stack"
--   local pid = stack.start_link({"a"})            -- the initial elements, bottom first
--   stack.push(pid, "b")                           -- a cast: returns true at once
--   stack.pop(pid)                                 --> "b"
--   stack.pop(pid)                                 --> "a"
--   stack.pop(pid)                                 --> nil, "empty"
--
-- push is a cast (nothing to wait for); pop, peek and size are calls (the
-- caller needs the answer). The list lives in the server's own Lua state:
-- what is pushed is copied in, what is popped is copied out.
local gen = require "moonbeam.gen_server"

local Stack = {}

-- ---- the server -------------------------------------------------------------

function Stack.init(items)
  local list = {}
  for i, v in ipairs(items or {}) do list[i] = v end
  return "ok", list
end

function Stack.handle_call(req, _from, list)
  local n = #list
  if req == "pop" then
    if n == 0 then return "reply", { "empty" }, list end
    local top = list[n]
    list[n] = nil
    return "reply", { "ok", top }, list
  elseif req == "peek" then
    if n == 0 then return "reply", { "empty" }, list end
    return "reply", { "ok", list[n] }, list
  elseif req == "size" then
    return "reply", n, list
  end
  return "reply", { "unknown_request" }, list
end

function Stack.handle_cast(msg, list)
  if type(msg) == "table" and msg[1] == "push" then list[#list + 1] = msg[2] end
  return "noreply", list
end

-- ---- the client -------------------------------------------------------------

--- start_link([items], [opts]) -> pid, or nil and why; items bottom first.
function Stack.start_link(items, opts) return gen.start_link("examples.stack", items, opts) end

--- push(server, value) -> true (a cast; value must not be nil).
function Stack.push(server, value)
  if value == nil then error("stack.push: cannot push nil", 2) end
  return gen.cast(server, { "push", value })
end

local function unwrap(r)
  if r[1] == "ok" then return r[2] end
  return nil, r[1]
end

--- pop(server) -> the top value, or nil, "empty".
function Stack.pop(server) return unwrap(gen.call(server, "pop")) end
--- peek(server) -> the top value (left in place), or nil, "empty".
function Stack.peek(server) return unwrap(gen.call(server, "peek")) end
function Stack.size(server) return gen.call(server, "size") end
function Stack.stop(server) return gen.stop(server) end

-- ---- the demo: moonbeam run examples/stack.lua --------------------------------

function Stack.demo()
  local pid = assert(Stack.start_link({ "bottom" }))
  print("started a stack holding {\"bottom\"}:", pid)
  for _, v in ipairs({ "one", "two", "three" }) do
    Stack.push(pid, v)
    print(("push %-8s -> a cast, returns at once"):format(("%q"):format(v)))
  end
  Stack.push(pid, { kind = "table", n = 4 })
  print("push a table  -> copied into the server's state")
  print("size          ->", Stack.size(pid))
  local t = Stack.pop(pid)
  print("pop           ->", ("{kind = %q, n = %d} (a copy)"):format(t.kind, t.n))
  print("peek          ->", Stack.peek(pid))
  for _ = 1, 5 do print("pop           ->", Stack.pop(pid)) end
  print("size          ->", Stack.size(pid))
  Stack.stop(pid)
end

if arg and arg[0] and arg[0]:match("stack%.lua$") and (...) ~= "examples.stack" then
  Stack.demo()
end

return Stack
