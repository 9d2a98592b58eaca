-- A real terminal for the console specs: tmux (Debian's, `make deps`
-- installs it) on a private server socket, so a spec never touches anyone's
-- own tmux. A terminal runs one command in a 160x50 window; keys are typed
-- into it and its screen is read back, as a person would. Every wait is
-- bounded: a console that hangs fails its test with the screen it showed.
--
--   local t = tty.start("./build/bin/moonbeam", {HOME = dir})
--   t:wait_for("mb%(1%)>")
--   t:enter("1 + 1")            -- type a line, wait for the next prompt
--   t:key("C-d")                -- tmux key names: C-c, Tab, Up, Enter
--   t:stop()

local ffi = require "ffi"
local sh = require "spec.support.shell"

local M = {}

M.TIMEOUT = 10000   -- ms a wait may take before the test fails

pcall(ffi.cdef, "int poll(void *fds, unsigned long nfds, int timeout);")
pcall(ffi.cdef, "int getpid(void);")
local function sleep_ms(ms) ffi.C.poll(nil, 0, ms) end
M.sleep_ms = sleep_ms

function M.available()
  local ok, _, code = os.execute("command -v tmux >/dev/null 2>&1")
  return ok == true or ok == 0 or code == 0
end

local seq = 0
local Term = {}
Term.__index = Term

local function tmux(t, args)
  return "tmux -L " .. t.server .. " -f /dev/null " .. args
end

local function exec(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  return ok == true or ok == 0
end

--- start(command, [env], [cwd]) -> a terminal running command (a shell
-- line). env: variables to set for it. When the command ends, the window
-- stays and shows "[exit N]".
function M.start(command, env, cwd)
  assert(M.available(), "the console specs need tmux (make deps installs it)")
  seq = seq + 1
  -- Unique per busted process: two suites side by side must not share a
  -- tmux server (math.random is not seeded, os.time is the same second).
  local t = setmetatable({ server = ("mbspec%d_%d"):format(ffi.C.getpid(), seq) }, Term)
  local parts = {}
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. sh.quote(v) end
  local line = ("cd %s && env %s %s; echo \"[exit $?]\"; sleep 600"):format(
    sh.quote(cwd or "."), table.concat(parts, " "), command)
  assert(exec(tmux(t, "new-session -d -s main -x 160 -y 50 " .. sh.quote(line))),
    "tmux could not start a session")
  exec(tmux(t, "set-option -g history-limit 5000"))
  return t
end

--- The screen and its scrollback, as text.
function Term:screen()
  local p = io.popen(tmux(self, "capture-pane -p -t main -S -5000") .. " 2>/dev/null")
  local s = p:read("*a")
  p:close()
  return (s:gsub("\n+$", "\n"))   -- tmux trims trailing spaces: a prompt ends in ">"
end

--- Type text as it is (no key names), without Enter.
function Term:type(text)
  assert(exec(tmux(self, "send-keys -t main -l -- " .. sh.quote(text))), "tmux send-keys failed")
end

--- Press keys by tmux name: "Enter", "C-c", "C-d", "Tab", "Up".
function Term:key(...)
  for _, k in ipairs({ ... }) do
    assert(exec(tmux(self, "send-keys -t main " .. k)), "tmux send-keys failed")
  end
end

-- The index of the first of patterns the screen matches, and the screen,
-- within timeout ms; else an error at the caller's caller.
local function wait_screen(t, patterns, timeout, plain)
  local deadline = timeout or M.TIMEOUT
  local waited, s = 0, ""
  while true do
    s = t:screen()
    for i, pattern in ipairs(patterns) do
      if s:find(pattern, 1, plain) then return i, s end
    end
    if waited >= deadline then break end
    sleep_ms(50)
    waited = waited + 50
  end
  local wanted = {}
  for i, pattern in ipairs(patterns) do wanted[i] = ("%q"):format(pattern) end
  error(("timed out waiting for %s; the screen was:\n%s"):format(table.concat(wanted, " or "), s), 3)
end

--- Wait until the screen matches pattern (a Lua pattern; plain text if
-- plain); returns the screen. Fails the test after timeout ms.
function Term:wait_for(pattern, timeout, plain)
  return select(2, wait_screen(self, { pattern }, timeout, plain))
end

--- Wait until the screen matches one of patterns; returns the index of the
-- first that matches, and the screen. Fails the test after timeout ms.
function Term:wait_for_one_of(patterns, timeout, plain)
  local i, s = wait_screen(self, patterns, timeout, plain)   -- not a tail call: the error's level
  return i, s
end

--- How many prompts the screen shows ("mb(N)>" and "...(N)>").
function Term:prompts()
  local s, n = self:screen(), 0
  for _ in s:gmatch("mb%(%d+%)>") do n = n + 1 end
  for _ in s:gmatch("%.%.%.%(%d+%)>") do n = n + 1 end
  return n
end

--- Type a line and press Enter, then wait for the next prompt; returns
-- the screen.
function Term:enter(line, timeout)
  local before = self:prompts()
  self:type(line)
  self:key("Enter")
  local waited, limit = 0, timeout or M.TIMEOUT
  while self:prompts() <= before do
    if waited >= limit then
      error(("no prompt came back after %q; the screen was:\n%s"):format(line, self:screen()), 2)
    end
    sleep_ms(50)
    waited = waited + 50
  end
  return self:screen()
end

--- The text the screen shows after the last occurrence of marker.
function Term:after(marker)
  local s = self:screen()
  local at, last = 1, nil
  while true do
    local i, j = s:find(marker, at, true)
    if not i then break end
    last, at = j, j + 1
  end
  return last and s:sub(last + 1) or ""
end

--- End the terminal and everything in it.
function Term:stop()
  exec(tmux(self, "kill-server"))
end

--- A new empty directory (for HOME and sockets); removed by rmdir_all.
function M.tempdir()
  local base = os.tmpname()
  os.remove(base)
  assert(exec("mkdir -p " .. sh.quote(base)))
  return base
end

function M.rmdir_all(dir)
  if dir and dir:match("^/tmp/") then exec("rm -rf " .. sh.quote(dir)) end
end

function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

return M
