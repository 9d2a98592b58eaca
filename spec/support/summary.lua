-- A busted output handler: busted's usual failure details, then one
-- machine-readable last line, "N passed, N failed" (", N skipped" is
-- added when tests are pending). Errors, and errors outside a test (a spec
-- file that does not load, a failing before_each), count as failed.
--
-- Load it by path from the repository root (busted 2.1.1: an -o value
-- ending in ".lua" is dofile'd relative to the working directory, see
-- busted/modules/output_handler_loader.lua):
--
--   LUA_PATH="./lua/?.lua;./lua/?/init.lua;./?.lua;;" \
--   LUA_CPATH="./build/lib/?.so;;" \
--   luajit /usr/bin/busted -o spec/support/summary.lua spec/
--
-- (-o spec.support.summary also works: a name busted does not know as
-- busted.outputHandlers.<name> is require'd.) busted's own exit status is
-- unchanged: 0 when everything passed, non-zero otherwise.

local s = require 'say'
local pretty = require 'pl.pretty'

return function(options)
  local busted = require 'busted'
  local handler = require 'busted.outputHandlers.base'()

  local function write(str)
    io.write(str)
    io.flush()
  end

  local function message_of(failure)
    local str = failure.randomseed and ('Random seed: ' .. failure.randomseed .. '\n') or ''
    if type(failure.message) == 'string' then
      return str .. failure.message
    elseif failure.message == nil then
      return str .. 'Nil error'
    end
    return str .. pretty.write(failure.message)
  end

  local function describe_failure(failure, is_error)
    local str = (is_error and s('output.error') or s('output.failure')) .. ' -> '
    local trace = failure.element.trace
    if not trace or not trace.short_src then
      str = str .. message_of(failure) .. '\n' .. failure.name
    else
      str = str .. trace.short_src .. ' @ ' .. trace.currentline .. '\n'
        .. failure.name .. '\n' .. message_of(failure)
    end
    if options.verbose and failure.trace and failure.trace.traceback then
      str = str .. '\n' .. failure.trace.traceback
    end
    return str
  end

  local function describe_pending(pending)
    local str = s('output.pending') .. ' -> '
    if pending.trace and pending.trace.short_src then
      str = str .. pending.trace.short_src .. ' @ ' .. pending.trace.currentline .. '\n'
    end
    str = str .. pending.name
    if type(pending.message) == 'string' then
      str = str .. '\n' .. pending.message
    elseif pending.message ~= nil then
      str = str .. '\n' .. pretty.write(pending.message)
    end
    return str
  end

  local dots = { success = '+', failure = '-', error = '*', pending = '.' }

  handler.testEnd = function(element, parent, status)
    if not options.deferPrint then write(dots[status] or '?') end
    return nil, true
  end

  handler.error = function()
    write(dots.error)
    return nil, true
  end

  handler.suiteEnd = function()
    write('\n')
    for _, pending in ipairs(handler.pendings) do
      write('\n' .. describe_pending(pending) .. '\n')
    end
    for _, failure in ipairs(handler.failures) do
      write('\n' .. describe_failure(failure, false) .. '\n')
    end
    for _, err in ipairs(handler.errors) do
      write('\n' .. describe_failure(err, true) .. '\n')
    end

    local failed = handler.failuresCount + handler.errorsCount
    local line = string.format('%d passed, %d failed', handler.successesCount, failed)
    if handler.pendingsCount > 0 then
      line = line .. string.format(', %d skipped', handler.pendingsCount)
    end
    write('\n' .. line .. '\n')
    return nil, true
  end

  -- The test now running, for spec/support/run_specs.sh to name if the file
  -- hangs: one line per test started, flushed at once.
  local progress_path = os.getenv('MOONBEAM_SPEC_PROGRESS')
  local progress = progress_path and io.open(progress_path, 'a')
  if progress then
    busted.subscribe({ 'test', 'start' }, function(element)
      progress:write(handler.getFullName(element), '\n')
      progress:flush()
      return nil, true
    end)
  end

  busted.subscribe({ 'test', 'end' }, handler.testEnd, { predicate = handler.cancelOnPending })
  busted.subscribe({ 'suite', 'end' }, handler.suiteEnd)
  busted.subscribe({ 'error', 'file' }, handler.error)
  busted.subscribe({ 'failure', 'file' }, handler.error)
  busted.subscribe({ 'error', 'describe' }, handler.error)
  busted.subscribe({ 'failure', 'describe' }, handler.error)

  return handler
end
