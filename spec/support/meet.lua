-- Code in mb.blocking runs on a pool thread and cannot receive messages;
-- calls there meet through files instead: a place (files beside a temporary
-- name) where each marks what it has reached and looks for the others' marks.

local nap = require "spec.support.nap"

local M = {}

local function path(place, mark) return place .. "." .. mark end

--- place() -> a new meeting place.
function M.place() return os.tmpname() end

--- mark(place, mark): says mark was reached.
function M.mark(place, mark) assert(io.open(path(place, mark), "w")):close() end

--- seen(place, mark) -> whether mark was reached.
function M.seen(place, mark)
  local f = io.open(path(place, mark))
  if f then f:close() end
  return f ~= nil
end

--- wait(place, mark, ms) -> whether mark was reached within ms (polled).
function M.wait(place, mark, ms)
  for _ = 1, math.ceil(ms / 5) do
    if M.seen(place, mark) then return true end
    nap(5)
  end
  return M.seen(place, mark)
end

--- at(place, i, other, ms) -> whether party i, once there, saw party other
-- there too: it waits up to ms for other to come, and not when other has
-- already come and gone. Of two calls that overlap, one sees the other.
function M.at(place, i, other, ms)
  M.mark(place, i .. ".in")
  local saw = false
  for _ = 1, math.ceil(ms / 5) do
    if M.seen(place, other .. ".done") then break end
    saw = M.seen(place, other .. ".in")
    if saw then break end
    nap(5)
  end
  M.mark(place, i .. ".done")
  return saw
end

--- clear(place, marks...): removes the place and the files of these marks.
function M.clear(place, ...)
  os.remove(place)
  for _, mark in ipairs({ ... }) do os.remove(path(place, mark)) end
end

return M
