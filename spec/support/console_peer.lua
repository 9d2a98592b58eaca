-- A raw console connection for the specs, speaking host/console/console_wire.h
-- from the spec's own process: what `moonbeam attach` would never do (read
-- nothing, send garbage, open hundreds of connections), and a console
-- socket of the spec's own to see what a client sends it. Every wait is
-- bounded; a wait that runs out returns nil and says why.
--
--   local c = peer.attach(path)        -- connected, at the first prompt
--   c:send_line("1 + 1")
--   local out = c:read_prompt(1000)     -- "2\n" once the next prompt came
--   c:unread()                          -- bytes the host sent and c never read
--   c:wait_hangup(5000)                 -- true once the host hung up on c
--   local bytes, closed = c:read_all(1000)
--   c:close()

local ffi = require "ffi"
local bit = require "bit"

local M = {}

pcall(ffi.cdef, [[
int socket(int domain, int type, int protocol);
int connect(int fd, const void *addr, unsigned int len);
int bind(int fd, const void *addr, unsigned int len);
int listen(int fd, int backlog);
int accept4(int fd, void *addr, void *len, int flags);
int setsockopt(int fd, int level, int name, const void *value, unsigned int len);
long send(int fd, const void *buf, size_t n, int flags);
long recv(int fd, void *buf, size_t n, int flags);
int ioctl(int fd, unsigned long request, ...);
int close(int fd);
int chmod(const char *path, unsigned int mode);
char *strerror(int errnum);
]])
pcall(ffi.cdef, "int poll(void *fds, unsigned long nfds, int timeout);")   -- as tty.lua declares it
pcall(ffi.cdef, "int clock_gettime(int, void *);")                          -- as helpers.lua does
pcall(ffi.cdef, [[
struct mb_peer_sockaddr_un { unsigned short family; char path[108]; };
struct mb_peer_pollfd { int fd; short events; short revents; };
struct mb_peer_timeval { long sec; long usec; };
]])

-- Linux's numbers.
local AF_UNIX, SOCK_STREAM, SOCK_CLOEXEC, SOCK_NONBLOCK = 1, 1, 0x80000, 0x800
local SOL_SOCKET, SO_SNDTIMEO = 1, 21
local MSG_DONTWAIT, MSG_NOSIGNAL = 0x40, 0x4000
local FIONREAD = 0x541B
local POLLIN, POLLHUP, POLLRDHUP = 0x1, 0x10, 0x2000
local EINTR, EAGAIN = 4, 11

local function errstr() return ffi.string(ffi.C.strerror(ffi.errno())) end

local ts = ffi.new("int64_t[2]")
function M.now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts[0]) * 1000 + tonumber(ts[1]) / 1e6
end

local function address(path)
  local sa = ffi.new("struct mb_peer_sockaddr_un")
  sa.family = AF_UNIX
  assert(#path < 108, "socket path too long")
  ffi.copy(sa.path, path)
  return sa
end

-- Wait until fd reports one of events; its revents, or 0 at the deadline.
local function wait(fd, events, deadline)
  local p = ffi.new("struct mb_peer_pollfd[1]")
  while true do
    p[0].fd, p[0].events, p[0].revents = fd, events, 0
    local left = math.max(0, math.floor(deadline - M.now_ms()))
    local rc = ffi.C.poll(p, 1, left)
    if rc > 0 then return p[0].revents end
    if rc == 0 then return 0 end
    if ffi.errno() ~= EINTR then error("poll: " .. errstr()) end
  end
end

local Conn = {}
Conn.__index = Conn

local function frame(kind, payload)
  local n = #payload
  return kind .. string.char(bit.band(bit.rshift(n, 24), 255), bit.band(bit.rshift(n, 16), 255),
    bit.band(bit.rshift(n, 8), 255), bit.band(n, 255)) .. payload
end
M.frame = frame

--- connect(path, [timeout_ms]) -> a connection, or nil and why. A host
-- that does not accept within the timeout (its backlog full) fails it.
function M.connect(path, timeout_ms)
  local fd = ffi.C.socket(AF_UNIX, bit.bor(SOCK_STREAM, SOCK_CLOEXEC), 0)
  if fd < 0 then return nil, "socket: " .. errstr() end
  local ms = timeout_ms or 5000
  local tv = ffi.new("struct mb_peer_timeval", math.floor(ms / 1000), (ms % 1000) * 1000)
  ffi.C.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv, ffi.sizeof(tv))   -- bounds connect() too
  local sa = address(path)
  if ffi.C.connect(fd, sa, ffi.sizeof(sa)) ~= 0 then
    local why = errstr()
    ffi.C.close(fd)
    return nil, "connect: " .. why
  end
  return setmetatable({ fd = fd, buf = "" }, Conn)
end

--- attach(path) -> a connection at its console's first prompt (fails the
-- test otherwise).
function M.attach(path, timeout_ms)
  local c = assert(M.connect(path, timeout_ms))
  local out, why = c:read_prompt(timeout_ms or 10000)
  assert(out, "no first prompt: " .. tostring(why))
  return c
end

--- Send bytes as they are (all of them, waiting as needed). False and why
-- when the host hung up.
function Conn:send_raw(bytes)
  local at = 0
  while at < #bytes do
    local w = ffi.C.send(self.fd, ffi.cast("const char *", bytes) + at, #bytes - at, MSG_NOSIGNAL)
    if w < 0 then
      if ffi.errno() ~= EINTR then return false, errstr() end
    else
      at = at + tonumber(w)
    end
  end
  return true
end

function Conn:send_frame(kind, payload) return self:send_raw(frame(kind, payload or "")) end
function Conn:send_line(line) return self:send_frame("L", line) end

-- Read what is there now into self.buf; false at the end of the stream.
function Conn:fill(deadline)
  if wait(self.fd, POLLIN, deadline) == 0 then return true end
  local tmp = ffi.new("char[65536]")
  local r = ffi.C.recv(self.fd, tmp, 65536, MSG_DONTWAIT)
  if r > 0 then
    self.buf = self.buf .. ffi.string(tmp, r)
    return true
  end
  if r < 0 and (ffi.errno() == EAGAIN or ffi.errno() == EINTR) then return true end
  return false
end

-- The next whole frame in self.buf: kind, payload; nil when not there yet.
function Conn:next_frame()
  local b = self.buf
  if #b < 5 then return nil end
  local n = b:byte(2) * 2^24 + b:byte(3) * 2^16 + b:byte(4) * 2^8 + b:byte(5)
  if #b < 5 + n then return nil end
  self.buf = b:sub(6 + n)
  return b:sub(1, 1), b:sub(6, 5 + n)
end

--- read_all(timeout_ms) -> every byte the other side sent, and whether it
-- hung up within the timeout.
function Conn:read_all(timeout_ms)
  local deadline = M.now_ms() + timeout_ms
  local open = true
  while open and M.now_ms() < deadline do open = self:fill(deadline) end
  local bytes = self.buf
  self.buf = ""
  return bytes, not open
end

--- read_prompt(timeout_ms) -> the output ('O' frames) shown before the
-- next prompt; or nil, why ("timeout" or "closed") and the output so far.
function Conn:read_prompt(timeout_ms)
  local deadline, out = M.now_ms() + timeout_ms, {}
  while true do
    local kind, payload = self:next_frame()
    if kind == "P" then return table.concat(out) end
    if kind == "O" then out[#out + 1] = payload end
    if not kind then
      if M.now_ms() >= deadline then return nil, "timeout", table.concat(out) end
      if not self:fill(deadline) then return nil, "closed", table.concat(out) end
    end
  end
end

--- Bytes the host sent that this side has not read.
function Conn:unread()
  local n = ffi.new("int[1]")
  assert(ffi.C.ioctl(self.fd, FIONREAD, n) == 0, "ioctl: " .. errstr())
  return n[0]
end

--- Wait (at most timeout_ms) until the host has sent at least n bytes this
-- side has not read; true then.
function Conn:wait_unread(n, timeout_ms)
  local deadline = M.now_ms() + timeout_ms
  while self:unread() < n do
    if M.now_ms() >= deadline then return false end
    wait(self.fd, POLLRDHUP, math.min(deadline, M.now_ms() + 20))   -- nothing to wake on: look again soon
  end
  return true
end

--- Wait (at most timeout_ms) for the host to hang up, without reading
-- what it sent; true when it did.
function Conn:wait_hangup(timeout_ms)
  local revents = wait(self.fd, POLLRDHUP, M.now_ms() + timeout_ms)
  return bit.band(revents, bit.bor(POLLRDHUP, POLLHUP)) ~= 0
end

function Conn:close()
  if self.fd >= 0 then ffi.C.close(self.fd) end
  self.fd = -1
end

--- listen(path, [mode]) -> a console socket of the spec's own (nothing
-- answers on it). mode: its permissions, e.g. tonumber("666", 8).
function M.listen(path, mode)
  local fd = ffi.C.socket(AF_UNIX, bit.bor(SOCK_STREAM, SOCK_CLOEXEC, SOCK_NONBLOCK), 0)
  assert(fd >= 0, "socket: " .. errstr())
  local sa = address(path)
  assert(ffi.C.bind(fd, sa, ffi.sizeof(sa)) == 0, "bind: " .. errstr())
  assert(ffi.C.listen(fd, 16) == 0, "listen: " .. errstr())
  if mode then assert(ffi.C.chmod(path, mode) == 0, "chmod: " .. errstr()) end
  return setmetatable({ fd = fd, buf = "" }, Conn)
end

--- For a socket from listen(): the connection a client made, or nil if
-- none is waiting.
function Conn:accept()
  local fd = ffi.C.accept4(self.fd, nil, nil, SOCK_CLOEXEC)
  if fd < 0 then return nil end
  return setmetatable({ fd = fd, buf = "" }, Conn)
end

return M
