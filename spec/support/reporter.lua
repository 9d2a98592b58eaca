-- Reports how it was started: "spec.support.reporter" sends
-- {"main", {n = count, args...}} to its first argument,
-- "spec.support.reporter:other" sends {"other", {n = count, args...}}.
-- The count and the arguments are those after the first (the parent).

local mb = require "moonbeam"

local M = {}

function M.main(parent, ...)
  mb.send(parent, { "main", { n = select("#", ...), ... } })
end

function M.other(parent, ...)
  mb.send(parent, { "other", { n = select("#", ...), ... } })
end

return M
