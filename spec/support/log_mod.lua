-- A module that logs, for spec/logger_spec.lua's per-module levels: its
-- events carry the module name "spec.support.log_mod".
local log = require "moonbeam.logger"

local M = {}

-- Not tail calls (return log.debug(...)): a tail call leaves no frame of
-- this module for the logger to find.
function M.debug(text) log.debug("%s", text) end
function M.info(text) log.info("%s", text) end

return M
