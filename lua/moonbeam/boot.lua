-- boot.lua: the first function every process runs, on its own coroutine.
-- kind is "module" (target "mod" or "mod:fn", split by the runtime: the
-- module's name, then the function's, "" for main, before the arguments),
-- "function" (target is the decoded function) or "file" (a script path,
-- for `moonbeam run`). spawn_opt with a via name puts {name, starter, ref}
-- first (bindings/vm.c): the process takes the name, then runs as asked.
local error, pcall, require, type, select = error, pcall, require, type, select

local function boot(kind, target, ...)
  if type(kind) == "table" then   -- spawn_opt's via name, taken before the target runs
    if not require("moonbeam.registry").take_for_spawn(kind) then return end
    return boot(target, ...)
  end
  if kind == "module" then
    local name, fn = target, ...
    if fn == "" then fn = "main" end
    local ok, mod = pcall(require, name)
    if not ok then
      -- One line: "module 'x' not found: no field ...; no file ...".
      error((tostring(mod):gsub(":%s*\n%s*", ": ", 1):gsub("\n%s*", "; ")), 0)
    end
    local f = type(mod) == "table" and mod[fn]
    if type(f) ~= "function" then
      error(("module '%s' has no function '%s'"):format(name, fn), 0)
    end
    -- Marked: a function that acts differently as a process's body
    -- (moonbeam.registry's start_link runs the registry there) asks
    -- whether package.loaded["moonbeam.entry"] is itself.
    package.loaded["moonbeam.entry"] = f
    return f(select(2, ...))
  elseif kind == "function" then
    return target(...)
  end
  local chunk, err = loadfile(target)
  if not chunk then error(err, 0) end
  arg = { [0] = target, ... }
  return chunk(...)
end

return boot
