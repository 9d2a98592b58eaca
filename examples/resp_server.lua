-- examples/resp_server.lua: a server that speaks Redis's protocol (RESP 2),
-- enough for redis-cli and redis-benchmark: PING, ECHO, SET, GET, DEL,
-- EXISTS, INCR, MGET, MSET, EXPIRE, TTL.
--
--   moonbeam run examples/resp_server.lua 6380      (from the repository root)
--   redis-cli -p 6380 set greeting hello
--
-- The data live in a shared table (moonbeam.table) that every connection's
-- process reads and writes directly; nothing is serialized through one
-- server process. Each connection has its own process, under a supervisor
-- (examples/tcp_acceptor.lua). Pipelined commands are answered in one
-- write. Input that is not RESP gets "-ERR Protocol error: ..." and the
-- connection is closed; an unknown command or a wrong argument count gets
-- an -ERR and the connection goes on.
--
-- Keys with a time to live: the entry is inserted with that ttl (the table
-- drops it then), and a second table keeps when it ends, for TTL.
local mb = require "moonbeam"
local tab = require "moonbeam.table"

local R = {}

local MAX_ARGS = 1024 * 1024
local MAX_BULK = 512 * 1024 * 1024
local MAX_INLINE = 64 * 1024

-- Locals: a method call on a string (buf:sub) looks up string's metatable
-- each time it is interpreted; each request makes several.
local byte, concat, find, floor, sub, tonumber, type, upper =
  string.byte, table.concat, string.find, math.floor, string.sub, tonumber, type, string.upper

-- ---- RESP replies ----------------------------------------------------------------

local OK, PONG, NIL = "+OK\r\n", "+PONG\r\n", "$-1\r\n"

local function err(text) return "-ERR " .. text .. "\r\n" end
local function int(n) return (":%d\r\n"):format(n) end

-- A stored value as RESP: numbers are integers kept as numbers for INCR.
local function bulk(v)
  if v == nil then return NIL end
  if type(v) == "number" then v = ("%d"):format(v) end
  return "$" .. #v .. "\r\n" .. v .. "\r\n"
end

-- ---- the data ------------------------------------------------------------------

-- What SET stores: a decimal integer (no sign of plus, no leading zero,
-- exact in a double) as a number, so INCR is one atomic update_counter;
-- anything else as it came, so GET gives back the same bytes.
local function stored(v)
  if #v <= 15 and (v == "0" or find(v, "^%-?[1-9]%d*$")) then return tonumber(v) end
  return v
end

local function wrong_count(a) return err("wrong number of arguments for '" .. a[1]:lower() .. "' command") end

-- fn, checked to get exactly n arguments (the command's name included).
local function arity(n, fn)
  return function(db, a) if #a ~= n then return wrong_count(a) end return fn(db, a) end
end

-- fn, checked to get at least n arguments.
local function at_least(n, fn)
  return function(db, a) if #a < n then return wrong_count(a) end return fn(db, a) end
end

local COMMANDS = {}

COMMANDS.PING = function(_, a)
  if #a == 1 then return PONG end
  if #a == 2 then return bulk(a[2]) end
  return wrong_count(a)
end

COMMANDS.ECHO = arity(2, function(_, a) return bulk(a[2]) end)

COMMANDS.GET = arity(2, function(db, a) return bulk(tab.lookup(db.data, a[2])) end)

COMMANDS.SET = arity(3, function(db, a)
  tab.insert(db.data, a[2], stored(a[3]))   -- a plain insert has no ttl: SET clears one
  tab.delete(db.ttl, a[2])
  return OK
end)

COMMANDS.DEL = at_least(2, function(db, a)
  local n = 0
  for i = 2, #a do
    if tab.take(db.data, a[i]) ~= nil then n = n + 1 end
    tab.delete(db.ttl, a[i])
  end
  return int(n)
end)

COMMANDS.EXISTS = at_least(2, function(db, a)
  local n = 0
  for i = 2, #a do if tab.member(db.data, a[i]) then n = n + 1 end end
  return int(n)
end)

COMMANDS.INCR = arity(2, function(db, a)
  local ok, n = pcall(tab.update_counter, db.data, a[2], 1, 0)   -- keeps the entry's ttl
  if not ok then return err("value is not an integer or out of range") end
  return int(n)
end)

COMMANDS.MGET = at_least(2, function(db, a)
  local out = { "*" .. (#a - 1) .. "\r\n" }
  for i = 2, #a do out[i] = bulk(tab.lookup(db.data, a[i])) end
  return concat(out)
end)

COMMANDS.MSET = at_least(3, function(db, a)
  if #a % 2 == 0 then return wrong_count(a) end
  for i = 2, #a, 2 do
    tab.insert(db.data, a[i], stored(a[i + 1]))
    tab.delete(db.ttl, a[i])
  end
  return OK
end)

COMMANDS.EXPIRE = arity(3, function(db, a)
  local secs = a[3]:match("^%-?%d+$") and tonumber(a[3])
  if not secs then return err("value is not an integer or out of range") end
  local v = tab.lookup(db.data, a[2])
  if v == nil then return int(0) end
  if secs <= 0 then
    tab.delete(db.data, a[2]); tab.delete(db.ttl, a[2])
    return int(1)
  end
  local ms = secs * 1000
  if ms > 2 ^ 53 then return err("invalid expire time in 'expire' command") end   -- beyond a table's ttl
  tab.insert(db.data, a[2], v, ms)
  tab.insert(db.ttl, a[2], mb.now() + ms, ms)
  return int(1)
end)

COMMANDS.TTL = arity(2, function(db, a)
  if not tab.member(db.data, a[2]) then return int(-2) end
  local ends = tab.lookup(db.ttl, a[2])
  if not ends then return int(-1) end
  return int(math.max(0, floor((ends - mb.now() + 500) / 1000)))
end)

local function execute(db, a)
  local fn = COMMANDS[a[1]] or COMMANDS[upper(a[1])]   -- clients send them in capitals
  if not fn then return err("unknown command '" .. a[1] .. "'") end
  return fn(db, a)
end

-- ---- RESP requests ---------------------------------------------------------------

-- The whole number in buf at pos up to its "\r\n" (at most 10 digits, a
-- minus sign first if signed): it and the position after the "\r\n"; nil
-- when buf does not hold all of it yet; false when it is not one. Read byte
-- by byte: no substring, no pattern.
local function number_line(buf, pos, signed)
  local sign = 1
  if signed and byte(buf, pos) == 45 then sign, pos = -1, pos + 1 end   -- '-'
  local start, n = pos, 0
  local c = byte(buf, pos)
  while c and c >= 48 and c <= 57 do
    n = n * 10 + (c - 48)
    pos = pos + 1
    c = byte(buf, pos)
  end
  if pos - start > 10 then return false end
  if not c then return nil end
  if c ~= 13 or pos == start then return false end
  c = byte(buf, pos + 1)
  if not c then return nil end
  if c ~= 10 then return false end
  return sign * n, pos + 2
end

-- One request from buf at pos: its arguments and the position after it;
-- nil when buf does not hold all of it yet; false and why when it is not RESP.
-- A request is an array of bulk strings, or an inline line of words.
local function parse(buf, pos)
  if pos > #buf then return nil end
  local c = byte(buf, pos)
  if c ~= 42 then   -- not '*': an inline command
    local eol = find(buf, "\r\n", pos, true)
    if not eol then
      if #buf - pos > MAX_INLINE then return false, "too big request" end
      return nil
    end
    local args = {}
    for w in sub(buf, pos, eol - 1):gmatch("%S+") do args[#args + 1] = w end
    return args, eol + 2
  end
  local n
  n, pos = number_line(buf, pos + 1, true)
  if n == nil then return nil end
  if not n or n > MAX_ARGS then return false, "invalid multibulk length" end
  local args = {}
  for i = 1, n do
    c = byte(buf, pos)
    if not c then return nil end
    if c ~= 36 then return false, ("expected '$', got '%s'"):format(string.char(c)) end
    local len, at = number_line(buf, pos + 1, false)
    if len == nil then return nil end
    if not len or len > MAX_BULK then return false, "invalid bulk length" end
    local stop = at + len   -- where its \r\n must be
    if stop + 1 > #buf then return nil end
    if byte(buf, stop) ~= 13 or byte(buf, stop + 1) ~= 10 then return false, "bulk string not followed by CRLF" end
    args[i] = sub(buf, at, stop - 1)
    pos = stop + 2
  end
  return args, pos
end

--- serve(s, data, ttl): a connection's process (examples/tcp_acceptor.lua).
-- Answers every whole request that arrived, in one send, then waits for more.
function R.serve(s, data, ttl)
  local db = { data = data, ttl = ttl }
  require("examples.tcp_acceptor").answer_all(s, function(buf, pos, out)
    local n = 0
    while true do
      local args, after = parse(buf, pos)
      if args == nil then return n, pos end
      if args == false then
        n = n + 1
        out[n] = err("Protocol error: " .. after)
        return n, pos, true
      end
      pos = after
      if #args > 0 then
        n = n + 1
        out[n] = execute(db, args)
      end
    end
  end)
end

--- main(port): the tables, then connections until the host is stopped.
function R.main(port)
  local data = tab.new({ access = "public" })
  local ttl = tab.new({ access = "public" })
  require("examples.tcp_acceptor").run(port, "examples.resp_server:serve", { data, ttl })
end

if arg and arg[0] and arg[0]:match("resp_server%.lua$") and (...) ~= "examples.resp_server" then
  R.main(...)
end

return R
