/* lua_state.c: a process's Lua state, made and prepared (see lua_state.h). */
#include "lua_state.h"

#include <lualib.h>
#include <stdio.h>
#include <string.h>
#include "module_cache.h"

/* The string library's table: empty, and registered as the library
 * (string, package.loaded.string, strings' metatable's __index) until a
 * look-up in it opens the library, which fills that same table (LuaJIT's
 * luaopen_string takes the one package.loaded holds) and gives strings a
 * metatable of its own with it. A process that never calls a string
 * function does not make the library's ~1.7 KB and its tenth of a state's
 * instructions; getmetatable("").__index == string holds throughout, and
 * what a program adds to it stays. (Until then pairs(string) sees none.) */
static int open_string_lib(lua_State *L) {
    lua_pushnil(L);
    lua_setmetatable(L, 1);   /* once: a miss after it is a nil */
    lua_pushcfunction(L, luaopen_string);
    lua_pushliteral(L, LUA_STRLIBNAME);
    lua_call(L, 1, 0);
    lua_pushvalue(L, 2);
    lua_rawget(L, 1);
    return 1;
}

/* Libraries few processes use are opened on first touch of their global
 * (ffi, which is no global, only by require: see mbb_stdlib_opener). The
 * string library's table shares this metatable (register_lazy_string). */
static int lazy_global(lua_State *L) {
    if (!lua_rawequal(L, 1, LUA_GLOBALSINDEX)) {
        lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
        lua_getfield(L, -1, LUA_STRLIBNAME);
        bool strings = lua_rawequal(L, 1, -1);
        lua_settop(L, 2);
        if (strings) return open_string_lib(L);
    }
    const char *k = lua_tostring(L, 2);
    if (k && strcmp(k, "collectgarbage") == 0) {
        lua_pushcfunction(L, mbb_collectgarbage);
    } else {
        lua_CFunction open = k && strcmp(k, "ffi") != 0 ? mbb_stdlib_opener(k) : NULL;
        if (!open) return 0;
        lua_pushcfunction(L, open);
        lua_pushstring(L, k);
        lua_call(L, 1, 1);
    }
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

/* package.path and package.cpath, where given (NULL: LuaJIT's default). */
static void set_paths(lua_State *L, const char *path, const char *cpath) {
    lua_getglobal(L, "package");
    if (path) {
        lua_pushstring(L, path);
        lua_setfield(L, -2, "path");
    }
    if (cpath) {
        lua_pushstring(L, cpath);
        lua_setfield(L, -2, "cpath");
    }
    lua_pop(L, 1);
}

void mbb_set_search_path(lua_State *L, const char *search_path) {
    set_paths(L, search_path, search_path + strlen(search_path) + 1);
}

/* Its metatable is the globals' (lazy_global): one table fewer in every
 * state. */
static void register_lazy_string(lua_State *L) {
    lua_createtable(L, 0, 0);
    lua_getmetatable(L, LUA_GLOBALSINDEX);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_GLOBALSINDEX, LUA_STRLIBNAME);
    lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, LUA_STRLIBNAME);
    lua_pop(L, 1);
    lua_pushliteral(L, "");
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 2);
}

/* package.loaders[1]: package.preload, as LuaJIT's own searcher, without
 * its look for a luaJIT_BC_<name> symbol in the host program, a dlsym
 * through every loaded library (~5,000 instructions) at each require of a
 * module not loaded yet: three of them in making a gen_server's state,
 * one more in its start. No message for a built-in module's miss: the
 * next searcher finds it, and require would drop the message (its making
 * and joining were ~3,000 instructions of a gen_server's state, and
 * garbage). The package table is its upvalue. */
static int search_preload(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    lua_getfield(L, lua_upvalueindex(1), "preload");
    if (!lua_istable(L, -1)) return luaL_error(L, "'package.preload' must be a table");
    lua_getfield(L, -1, name);
    if (lua_isnil(L, -1) && !mbb_builtin_loader(name)) lua_pushfstring(L, "\n\tno field package.preload['%s']", name);
    return 1;
}

static void install_preload_searcher(lua_State *L) {
    lua_getglobal(L, LUA_LOADLIBNAME);
    lua_getfield(L, -1, "loaders");
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, search_preload, 1);
    lua_rawseti(L, -2, 1);
    lua_pop(L, 2);
}

static void open_libs(lua_State *L, const mbb_lua_host *host) {
    /* The rest come on first use (lazy_global), string too (above, its
     * table registered), and jit: see jit_when_busy. */
    static const luaL_Reg eager[] = {{"", luaopen_base}, {LUA_LOADLIBNAME, luaopen_package}, {NULL, NULL}};
    /* Paths of the host's own replace the package library's: it then
     * skips reading LUA_PATH and LUA_CPATH and rewriting their ";;" (~10%
     * of opening it), work set_paths would throw away. */
    bool own_paths = host && host->path && host->cpath;
    if (own_paths) {
        lua_pushboolean(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
    }
    for (const luaL_Reg *l = eager; l->func; l++) {
        lua_pushcfunction(L, l->func);
        lua_pushstring(L, l->name);
        lua_call(L, 1, 0);
    }
    if (own_paths) {
        lua_pushnil(L);
        lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
    }
    if (host) set_paths(L, host->path, host->cpath);
    /* moonbeam's collectgarbage comes on first use (lazy_global). */
    lua_pushnil(L);
    lua_setglobal(L, "collectgarbage");
    install_preload_searcher(L);
    mbb_install_searcher(L);
    /* After preload and the built-in modules, before LuaJIT's Lua searcher. */
    if (host && host->modules) mbb_module_cache_install(L, host->modules, host->loaders, 3);
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, lazy_global);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
    register_lazy_string(L);
    mbb_pid_type_init(L);
}

/* Runs protected on a new state: its libraries, the coroutine its body
 * will run in, holding the boot function, and moonbeam loaded. Nothing of a
 * process yet: the state may be made ahead (state_pool.h). */
typedef struct state_prep {
    mbb_lua *lp;
    const mbb_lua_host *host;
    bool gen;     /* for a gen_server: moonbeam.gen_step loaded too, and no boot function */
} state_prep;

static int prepare_state(lua_State *L) {
    const state_prep *sp = lua_touserdata(L, 1);
    mbb_lua *lp = sp->lp;
    const mbb_lua_host *host = sp->host;
    lua_settop(L, 0);
    /* Everything made here stays alive: a collection cycle (which a new
     * state's first dozen KB start) would only mark it and sweep the
     * string table, a third of making the state. */
    lua_gc(L, LUA_GCSTOP, 0);
    open_libs(L, host);   /* a spawner's own paths come with the process (vm.c, start_body) */
    lua_getglobal(L, "pcall");
    lua_getglobal(L, "xpcall");
    lp->yield_through[0] = lua_topointer(L, -2);
    lp->yield_through[1] = lua_topointer(L, -1);
    lua_pop(L, 2);
    mbb_raise_prepare(L);
    lua_State *co = lua_newthread(L);
    lp->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lp->co = co;
    /* A gen_server's body is gen_step's enter (vm.c, start_body): its state
     * carries no boot function. */
    if (!sp->gen) {
        const mbb_embedded *boot = mbb_find_embedded("moonbeam.boot");
        if (luaL_loadbuffer(co, (const char *)boot->code, boot->size, "=boot")) lua_error(co);
        lua_call(co, 0, 1);   /* the chunk returns the boot function */
    }
    /* What (nearly) every process requires first, made ahead with the rest. */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonbeam");
    lua_call(L, 1, 0);
    if (sp->gen) {   /* the embedded module: no search path can name another */
        lua_getglobal(L, "require");
        lua_pushliteral(L, "moonbeam.gen_step");
        lua_call(L, 1, 0);
    }
    lua_gc(L, LUA_GCRESTART, -1);   /* LuaJIT: the next cycle when the heap has doubled */
    return 0;
}

/* An error outside any protected call in a process's state: LuaJIT then
 * exits the host. Never expected (the runtime calls into a state under
 * lua_pcall or lua_resume); if it happens, it is said before the exit,
 * which a state made with lua_newstate would otherwise make silently. */
static int on_panic(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "moonbeam: unprotected error in a process's state, the host exits: %s\n",
            msg ? msg : "(not a string)");
    return 0;
}

static int collect(lua_State *L) {
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}

bool mbb_state_collect(lua_State *L) {
    if (!lua_cpcall(L, collect, NULL)) return true;
    lua_pop(L, 1);
    return false;
}

int mbb_state_new(mb_proc *owner, mbb_lua *lp, bool gen) {
    lp->opening = true;   /* every block granted until LuaJIT's own setup is done (mbb_refusable) */
    lua_State *L = lua_newstate(mb_proc_alloc, owner);
    lp->opening = false;
    lp->L = L;
    if (!L) return -1;
    lua_atpanic(L, on_panic);
    state_prep sp = {lp, owner->rt->kind_data, gen};
    return lua_cpcall(L, prepare_state, &sp) ? -1 : 0;   /* allocates only under protection */
}
