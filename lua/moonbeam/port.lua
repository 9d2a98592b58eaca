--- moonbeam.port: external programs owned by processes (docs/reference.md,
-- "Sockets and external programs"). As moonbeam.net, every call is a
-- request to the I/O thread (host/core/port.c) whose answer the caller
-- waits for; output and the exit come as messages to the owner.
local core = require "moonbeam.core"
local net = require "moonbeam.net"

local await = net._await

local M = {}

--- open(argv, [opts]) -> port, or nil, err (opts: cwd, env, stderr)
function M.open(argv, opts) return await(core.port_open(argv, opts)) end

--- write(p, data) -> true once the program's stdin pipe took it, or nil, "closed"
function M.write(p, data) return await(core.port_write(p, data)) end

--- close_stdin(p) -> true, or nil, "closed" | "not_owner"
function M.close_stdin(p) return await(core.port_close_stdin(p)) end

--- kill(p, [signal]) -> true, or nil, "closed" | "not_owner"
function M.kill(p, signal) return await(core.port_kill(p, signal)) end

local TAGS = { port_data = true, port_stderr = true, port_exit = true }

--- controlling_process(p, pid) -> true, or nil, "not_owner" | "closed";
-- the messages about p in the caller's mailbox go on to pid first, in order.
function M.controlling_process(p, pid)
  local ok, err = net._hand_over(p, pid, TAGS, "port.controlling_process")   -- no tail call (net._hand_over)
  if ok then return ok end   -- true alone, no trailing nil
  return ok, err
end

return M
