-- examples/http_server.lua: a small HTTP/1.1 server with keep-alive.
--
--   moonbeam run examples/http_server.lua 8080 [IDLE_S] (from the repository root)
--   curl http://127.0.0.1:8080/ http://127.0.0.1:8080/json
--
-- GET / answers "hello\n"; GET /json a JSON object (lua-cjson,
-- Content-Type: application/json); HEAD the same heads without a body;
-- anything else 404. Each connection has
-- its own process under a supervisor (examples/tcp_acceptor.lua); it
-- answers requests in order, as many as the client sends on the
-- connection (HTTP/1.1 keeps it open unless "Connection: close"; HTTP/1.0
-- closes it unless "Connection: keep-alive"). A request it cannot read
-- (lines not ended by CRLF, two Content-Lengths that differ, a head over
-- 16 KB...) gets 400 and the connection is closed. A connection on which
-- nothing comes for IDLE_S seconds (default 60), between requests or in
-- the middle of one, is closed.
local mb = require "moonbeam"

local H = {}

local MAX_HEAD = 16 * 1024
local MAX_BODY = 1024 * 1024

-- Locals: a method call on a string (buf:find) looks up string's metatable
-- each time it is interpreted; each request makes several.
local byte, find, lower, sub, tonumber = string.byte, string.find, string.lower, string.sub, tonumber

local REASONS = { [200] = "OK", [400] = "Bad Request", [404] = "Not Found" }

-- keep: false (the connection closes after it), true, or "announce": kept
-- for an HTTP/1.0 client that asked, which needs to be told (RFC 9112
-- appendix C.2.2) or it takes the connection as closing.
local CONNECTION = { [false] = "Connection: close\r\n", [true] = "", announce = "Connection: keep-alive\r\n" }

local function response(status, ctype, body, keep)
  return ("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n%s"):format(
    status, REASONS[status], ctype, #body, CONNECTION[keep], body)
end

local BAD = response(400, "text/plain", "bad request\n", false)
-- The answers that never change, made once: [keep].
local HELLO, NOT_FOUND = {}, {}
for keep in pairs(CONNECTION) do
  HELLO[keep] = response(200, "text/plain", "hello\n", keep)
  NOT_FOUND[keep] = response(404, "text/plain", "not found\n", keep)
end

-- The target's path: the query (or fragment) does not choose the route.
local function path_of(target)
  local stop, hash = find(target, "?", 1, true), find(target, "#", 1, true)
  if hash and (not stop or hash < stop) then stop = hash end
  return stop and sub(target, 1, stop - 1) or target
end

-- The answer to a request for target, with the connection kept or not.
local function route(method, target, keep)
  if method == "HEAD" then   -- GET's head, without its body (RFC 9110 9.3.2)
    local answer = route("GET", target, keep)
    return sub(answer, 1, find(answer, "\r\n\r\n", 1, true) + 3)
  end
  if method ~= "GET" then return NOT_FOUND[keep] end
  local path = path_of(target)
  if path == "/" then
    return HELLO[keep]
  elseif path == "/json" then
    local cjson = require "cjson"   -- here: a connection that never asks does not load it
    local body = cjson.encode({ message = "hello", server = "moonbeam", pid = tostring(mb.self()) })
    return response(200, "application/json", body, keep)
  end
  return NOT_FOUND[keep]
end

-- The bytes a header's name may have (a token's, RFC 9110): looked up one
-- by one, cheaper than a pattern's long character class.
local TOKEN = {}
for c in ("!#$%&'*+-.^_`|~0123456789"):gmatch(".") do TOKEN[c:byte()] = true end
for c = 65, 90 do TOKEN[c], TOKEN[c + 32] = true, true end

-- Whether buf has bytes from i to j, each from lo to hi. A loop the
-- compiler turns into machine code; a pattern would be interpreted.
local function all_in(buf, i, j, lo, hi)
  for k = i, j do
    local c = byte(buf, k)
    if c < lo or c > hi then return false end
  end
  return i <= j
end

-- buf from i to j without the spaces and tabs around it.
local function trim(buf, i, j)
  while i <= j and (byte(buf, i) == 32 or byte(buf, i) == 9) do i = i + 1 end
  while j >= i and (byte(buf, j) == 32 or byte(buf, j) == 9) do j = j - 1 end
  return sub(buf, i, j)
end

-- The request whose head ends at head_end in buf (starting at pos): method,
-- target, whether to keep the connection, and the body's length; or nil
-- when the head is not HTTP/1.x. Plain finds, no captures: the head is read
-- once per request.
local function read_head(buf, pos, head_end)
  local line_end = find(buf, "\r\n", pos, true)
  local sp1 = find(buf, " ", pos, true)
  local sp2 = sp1 and find(buf, " ", sp1 + 1, true)
  if not sp2 or sp2 > line_end then return nil end
  -- a method of capitals, a target with no space or control character
  if not all_in(buf, pos, sp1 - 1, 65, 90) or not all_in(buf, sp1 + 1, sp2 - 1, 33, 255) then return nil end
  local method, target = sub(buf, pos, sp1 - 1), sub(buf, sp1 + 1, sp2 - 1)
  local version = sub(buf, sp2 + 1, line_end - 1)
  local keep, old = nil, version == "HTTP/1.0"
  if version == "HTTP/1.1" then keep = true
  elseif old then keep = false
  elseif find(version, "^HTTP/1%.%d$") then keep = true
  else return nil end
  local length
  local at = line_end + 2
  while at < head_end + 2 do
    local stop = find(buf, "\r\n", at, true)
    local colon = find(buf, ":", at, true)
    if not colon or colon > stop or colon == at then return nil end
    for i = at, colon - 1 do
      if not TOKEN[byte(buf, i)] then return nil end
    end
    -- Only three names matter here; their lengths tell them apart.
    local n = colon - at
    if n == 10 or n == 14 or n == 17 then
      local name = lower(sub(buf, at, colon - 1))
      if name == "connection" then
        local value = lower(trim(buf, colon + 1, stop - 1))
        if value == "close" then keep = false elseif value == "keep-alive" then keep = old and "announce" or true end
      elseif name == "content-length" then
        local value = trim(buf, colon + 1, stop - 1)
        local n = not find(value, "%D") and tonumber(value)
        -- two that differ say two lengths: which the body has is unknown (RFC 9112 6.3)
        if not n or n > MAX_BODY or (length and length ~= n) then return nil end
        length = n
      elseif name == "transfer-encoding" then
        return nil   -- chunked bodies are not read here
      end
    end
    at = stop + 2
  end
  return method, target, keep, length or 0
end

--- serve(s, idle_ms): a connection's process (examples/tcp_acceptor.lua).
-- Answers every whole request that arrived, in one send, then waits for
-- more, idle_ms at most.
function H.serve(s, idle_ms)
  require("examples.tcp_acceptor").answer_all(s, function(buf, pos, out)
    local n = 0
    while true do
      local head_end = find(buf, "\r\n\r\n", pos, true)
      -- A head whose lines end in LF alone would never end: refused below.
      if not head_end and #buf - pos < MAX_HEAD and not find(buf, "\n\n", pos, true) then return n, pos end
      -- A head over MAX_HEAD is refused whether or not its end came with it.
      local method, target, keep, length
      if head_end and head_end + 4 - pos <= MAX_HEAD then
        method, target, keep, length = read_head(buf, pos, head_end)
      end
      if not method then
        n = n + 1
        out[n] = BAD
        return n, pos, true
      end
      if head_end + 3 + length > #buf then return n, pos end   -- its body is not all here
      n = n + 1
      out[n] = route(method, target, keep)
      pos = head_end + 4 + length
      if not keep then return n, pos, true end
    end
  end, idle_ms)
end

--- main(port, [idle_s]): connections until the host is stopped.
function H.main(port, idle_s)
  local idle = tonumber(idle_s or 60)
  if not idle or idle <= 0 then error("usage: moonbeam run examples/http_server.lua PORT [IDLE_S > 0]", 0) end
  require("examples.tcp_acceptor").run(port, "examples.http_server:serve", { idle * 1000 })
end

if arg and arg[0] and arg[0]:match("http_server%.lua$") and (...) ~= "examples.http_server" then
  H.main(...)
end

return H
