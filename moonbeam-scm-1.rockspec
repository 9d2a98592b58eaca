-- moonbeam's LuaRocks package: the project's own Makefile builds it and
-- installs the C module (moonbeam.core), the Lua modules (moonbeam,
-- moonbeam.gen_server, ...) and the `moonbeam` executable.
--
-- Offline, from a checkout, with the project's configuration (.luarocks/):
--   luarocks --lua-version=5.1 --tree ./lua_modules make moonbeam-scm-1.rockspec
--   eval "$(luarocks --lua-version=5.1 --tree ./lua_modules path)"
rockspec_format = "3.0"
package = "moonbeam"
version = "scm-1"

source = {
   -- `luarocks make` builds the checkout it is run in and fetches nothing.
   url = "git+file://.",
}

description = {
   summary = "Erlang/OTP-style processes for LuaJIT",
   detailed = [[
A C core schedules lightweight processes over a few OS threads, each with its
own LuaJIT state, mailbox, links, monitors and timers; gen_server,
supervisors, Task and Agent are written in Lua on top of it. Use it with
`require "moonbeam"` from any LuaJIT program, or run scripts with the
`moonbeam` executable (which also has a console).
]],
   labels = { "concurrency", "actors", "otp", "luajit" },
}

dependencies = {
   "lua == 5.1",
   "luajit >= 2.1.0-beta3",
}

external_dependencies = {
   LIBUV = { header = "uv.h" },
}

build = {
   type = "make",
   build_target = "all",
   -- The Makefile sets its own warnings and -fPIC; LuaRocks' CFLAGS become
   -- its optimisation flags. Warnings are not errors here (WERROR empty):
   -- -Werror is for the project's own builds, and a user's compiler may
   -- warn about something new.
   build_variables = {
      OPT = "$(CFLAGS)",
      LUA_INCDIR = "$(LUA_INCDIR)",
      LUAJIT = "$(LUA)",
      WERROR = "",
   },
   install_target = "install",
   install_variables = {
      WERROR = "",
      PREFIX = "$(PREFIX)",
      LUADIR = "$(LUADIR)",
      LIBDIR = "$(LIBDIR)",
      BINDIR = "$(BINDIR)",
   },
}
