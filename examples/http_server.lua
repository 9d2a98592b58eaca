-- examples/http_server.lua: a small HTTP/1.1 server with keep-alive.
--
--   moonbeam run examples/http_server.lua 8080      (from the repository root)
--   curl http://127.0.0.1:8080/ http://127.0.0.1:8080/json
--
-- GET / answers "hello\n"; GET /json a JSON object (lua-cjson,
-- Content-Type: application/json); anything else 404. Each connection has
-- its own process under a supervisor (examples/tcp_acceptor.lua); it
-- answers requests in order, as many as the client sends on the
-- connection (HTTP/1.1 keeps it open unless "Connection: close"; HTTP/1.0
-- closes it unless "Connection: keep-alive"). A request it cannot read
-- gets 400 and the connection is closed.
local mb = require "moonbeam"
local cjson = require "cjson"

local H = {}

local MAX_HEAD = 16 * 1024
local MAX_BODY = 1024 * 1024

local REASONS = { [200] = "OK", [400] = "Bad Request", [404] = "Not Found" }

local function response(status, ctype, body, keep)
  return ("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n%s"):format(
    status, REASONS[status], ctype, #body, keep and "" or "Connection: close\r\n", body)
end

local BAD = response(400, "text/plain", "bad request\n", false)

-- The answer to a request for target, with the connection kept or not.
local function route(method, target, keep)
  target = target:match("^[^?#]*")   -- the query does not choose the route
  if method == "GET" and target == "/" then
    return response(200, "text/plain", "hello\n", keep)
  elseif method == "GET" and target == "/json" then
    local body = cjson.encode({ message = "hello", server = "moonbeam", pid = tostring(mb.self()) })
    return response(200, "application/json", body, keep)
  end
  return response(404, "text/plain", "not found\n", keep)
end

-- The request whose head ends at head_end in buf (starting at pos): method,
-- target, whether to keep the connection, and the body's length; or nil
-- when the head is not HTTP/1.x.
local function read_head(buf, pos, head_end)
  local line_end = buf:find("\r\n", pos, true)
  local method, target, major, minor = buf:sub(pos, line_end - 1):match("^(%u+) (%S+) HTTP/(%d)%.(%d)$")
  if not method or major ~= "1" then return nil end
  local keep, length = minor ~= "0", 0
  local at = line_end + 2
  while at < head_end + 2 do
    local stop = buf:find("\r\n", at, true)
    local name, value = buf:sub(at, stop - 1):match("^([%w!#$%%&'*+.^_`|~-]+):[ \t]*(.-)[ \t]*$")
    if not name then return nil end
    name = name:lower()
    if name == "connection" then
      value = value:lower()
      if value == "close" then keep = false elseif value == "keep-alive" then keep = true end
    elseif name == "content-length" then
      length = value:match("^%d+$") and tonumber(value)
      if not length or length > MAX_BODY then return nil end
    elseif name == "transfer-encoding" then
      return nil   -- chunked bodies are not read here
    end
    at = stop + 2
  end
  return method, target, keep, length
end

--- serve(s): a connection's process (examples/tcp_acceptor.lua). Answers
-- every whole request that arrived, in one send, then waits for more.
function H.serve(s)
  require("examples.tcp_acceptor").answer_all(s, function(buf, pos)
    local out = {}
    while true do
      local head_end = buf:find("\r\n\r\n", pos, true)
      if not head_end then
        if #buf - pos >= MAX_HEAD then out[#out + 1] = BAD return out, pos, true end
        return out, pos
      end
      local method, target, keep, length = read_head(buf, pos, head_end)
      if not method then
        out[#out + 1] = BAD
        return out, pos, true
      end
      if head_end + 3 + length > #buf then return out, pos end   -- its body is not all here
      out[#out + 1] = route(method, target, keep)
      pos = head_end + 4 + length
      if not keep then return out, pos, true end
    end
  end)
end

--- main(port): connections until the host is stopped.
function H.main(port)
  require("examples.tcp_acceptor").run(port, "examples.http_server:serve")
end

if arg and arg[0] and arg[0]:match("http_server%.lua$") and (...) ~= "examples.http_server" then
  H.main(...)
end

return H
