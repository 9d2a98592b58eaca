-- A module that logs, for spec/logger_spec.lua: required as "log_alias"
-- with ./spec/support/?.lua on package.path after ./?.lua, which names
-- this file too ("spec.support.log_alias"); its events carry the name
-- require used.
local log = require "moonbeam.logger"

local M = {}

function M.debug(text) log.debug("%s", text) end   -- not a tail call: the logger finds this frame

return M
