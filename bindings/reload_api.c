/* reload_api.c: what mb.reload (lua/moonbeam/reload.lua) asks of the host:
 * a module compiled afresh, the processes that loaded it, and which cached
 * modules' files changed (moonbeam run --watch). */
#include <stdlib.h>
#include "bindings.h"
#include "code_loaders.h"
#include "module_cache.h"

static mbb_lua_host *host_of(lua_State *L) {
    mbb_lua_host *lh = mbb_self(L)->rt->kind_data;
    if (!lh || !lh->modules || !lh->loaders) mbb_raisef(L, "reload: this host keeps no modules");
    return lh;
}

/* core.code_compile(name) -> file, chunk (now the cached version), or nil,
 * err; found on this state's package.path. */
static int l_code_compile(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    mbb_lua_host *lh = host_of(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    const char *path = lua_tostring(L, -1);
    if (!path) return lua_pushnil(L), lua_pushliteral(L, "package.path is not a string"), 2;
    if (mbb_module_cache_compile(L, lh->modules, name, path)) return 2;
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

/* core.code_loaders(name, file) -> array of the live pids that loaded name
 * from file (code_compile's). */
static int l_code_loaders(lua_State *L) {
    const char *name = luaL_checkstring(L, 1), *file = luaL_checkstring(L, 2);
    mb_proc *self = mbb_self(L);
    mbb_lua_host *lh = host_of(L);
    mb_pid *pids;
    size_t n;
    if (mbb_code_loaders_of(lh->loaders, &self->rt->procs, name, file, &pids, &n))
        return mbb_raisef(L, "reload: out of memory");
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        mbb_push_pid(L, pids[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    free(pids);
    return 1;
}

/* core.code_changed() -> {module = fingerprint} of cached modules whose
 * file changed since it was compiled, {module = package.path it was found on}. */
static int l_code_changed(lua_State *L) {
    mbb_module_cache_changed(L, host_of(L)->modules);
    return 2;
}

const luaL_Reg mbb_reload_fns[] = {
        {"code_compile", l_code_compile}, {"code_loaders", l_code_loaders}, {"code_changed", l_code_changed},
        {NULL, NULL}};
