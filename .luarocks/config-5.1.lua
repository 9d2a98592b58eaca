-- LuaRocks configuration for moonbeam, used by `make check-install` (through
-- LUAROCKS_CONFIG) and found by luarocks itself in this directory once
-- ./lua_modules exists. Lua 5.1 is Debian's LuaJIT (apt-get install luajit
-- libluajit-5.1-dev), and everything installs offline: no rocks server is
-- asked, and the Lua modules Debian already ships count as installed.
--
--   luarocks --lua-version=5.1 --tree ./lua_modules make
--   eval "$(luarocks --lua-version=5.1 --tree ./lua_modules path)"
lua_interpreter = "luajit"
variables = {
   LUA_DIR = "/usr",
   LUA_BINDIR = "/usr/bin",
   LUA_INCDIR = "/usr/include/luajit-2.1",
}
rocks_servers = {}
rocks_provided = {
   ["lua-cjson"] = "2.1.0-1",   -- Debian's lua-cjson (/usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so)
}
-- `luarocks path` prints a LUA_PATH that replaces LuaJIT's built-in one,
-- and luarocks runs on another Lua (lua-any), so it adds that Lua's
-- default path, not LuaJIT's: LuaJIT's own modules (jit.*, what
-- `luajit -jv` and `luajit -b` load) were lost. Naming their folder as a
-- tree puts it on the path. First, so that no install ever defaults to it;
-- Debian's folder is luajit-2.1.0-beta3 (bookworm) or luajit-2.1 (later).
rocks_trees = {
   { name = "luajit", root = "/usr", lua_dir = "/usr/share/luajit-2.1.0-beta3" },
   { name = "luajit-2.1", root = "/usr", lua_dir = "/usr/share/luajit-2.1" },
   { name = "user", root = home .. "/.luarocks" },
   { name = "system", root = "/usr/local" },
}
