-- Running commands for the specs that test entry points: each command's exit
-- status, stdout and stderr, with a hard time limit so a hang fails the test.

local S = {}

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

function S.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs a shell command line (stdin from /dev/null); returns status, stdout, stderr.
-- A command killed by the time limit returns status 124.
function S.run(cmdline, limit_s)
  local out, err, rc = os.tmpname(), os.tmpname(), os.tmpname()
  os.execute(string.format("timeout -k 5 %d sh -c %s </dev/null >%s 2>%s; echo $? >%s",
    limit_s or 60, S.quote(cmdline), out, err, rc))
  local status = tonumber((read_all(rc):match("%d+")))
  local stdout, stderr = read_all(out), read_all(err)
  os.remove(out); os.remove(err); os.remove(rc)
  return status, stdout, stderr
end

-- Writes source to a new temporary file ending in ".lua"; returns its path.
local made = {}
function S.script(source)
  local base = os.tmpname()
  local path = base .. ".lua"
  local f = assert(io.open(path, "wb"))
  f:write(source)
  f:close()
  made[#made + 1] = base
  made[#made + 1] = path
  return path
end

-- Removes the temporary files S.script made.
function S.cleanup()
  for _, p in ipairs(made) do os.remove(p) end
  made = {}
end

return S
