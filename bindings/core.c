/* core.c: the moonbeam.core module, registered in one place.
 *
 * In a process's own state (its allocator is mb_proc_alloc) the module just
 * binds the API to that process. In any other state, a plain LuaJIT script
 * that required moonbeam, it first starts a runtime in this OS process and
 * makes the calling state an "external" process: it has a pid, can spawn,
 * send and receive (blocking its own thread), and the runtime stops when
 * the state is closed. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <lualib.h>
#include "bindings.h"
#include "code_loaders.h"
#include "module_cache.h"
#include "core/external.h"
#include "core/sched.h"
#include "core/timer.h"
#include "core/version.h"

#define HOST_KEY "moonbeam.host"
#define HOST_MT  "moonbeam.host_handle"

typedef struct host_handle {
    mb_runtime *rt;
    mb_proc *self;
} host_handle;

mb_proc *mbb_self(lua_State *L) {
    /* In a slice, the process this thread runs: the only state whose code
     * runs here then. (Its allocator's ud says so too, at the price of a
     * look into the state's global line, a cache miss where many
     * processes take turns.) */
    mb_proc *running = mbb_running;
    if (running) return running;
    void *ud;
    if (lua_getallocf(L, &ud) == mb_proc_alloc) return ud;
    lua_getfield(L, LUA_REGISTRYINDEX, HOST_KEY);
    host_handle *h = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!h || !h->rt) mbb_raisef(L, "moonbeam: the runtime is not running in this state");
    return h->self;
}

static int embedded_name_is(const void *key, const void *elem) {
    return strcmp(key, ((const mbb_embedded *)elem)->name);
}

/* The list is in strcmp's order (the Makefile sorts it): a look-up takes
 * ~5 comparisons, not ~27; a require of a user's module misses twice. */
const mbb_embedded *mbb_find_embedded(const char *name) {
    return bsearch(name, mbb_embedded_modules, mbb_n_embedded, sizeof *mbb_embedded_modules, embedded_name_is);
}

void mbb_install_exit(lua_State *L, int idx) {
    /* A Lua function, so that the process can wait in it (yield). */
    static const char shim[] =
        "local real, require = ...\n"
        "return function(...) return require('moonbeam.shutdown').exit(real, ...) end";
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    if (luaL_loadbuffer(L, shim, sizeof shim - 1, "=os.exit")) lua_error(L);
    lua_getfield(L, idx, "exit");
    lua_getglobal(L, "require");
    lua_call(L, 2, 1);
    lua_setfield(L, idx, "exit");
}

/* os, whose exit ends the whole host in order rather than the OS process
 * at once (docs/semantics.md, "Host shutdown and os.exit"), and whose
 * execute leaves the host's SIGINT alone (os_execute.c). */
static int open_os(lua_State *L) {
    lua_pushcfunction(L, luaopen_os);
    lua_pushliteral(L, LUA_OSLIBNAME);
    lua_call(L, 1, 1);
    mbb_install_exit(L, -1);
    lua_pushcfunction(L, mbb_os_execute);
    lua_setfield(L, -2, "execute");
    return 1;
}

/* The FFI lets C code call back into Lua while it holds something of its
 * own (a lock, an open directory): a process that opened it is never left
 * in the middle of its code (preempt.c, abandon), only preempted or handed off. */
static int open_ffi(lua_State *L) {
    void *ud;
    if (lua_getallocf(L, &ud) == mb_proc_alloc) ((mb_proc *)ud)->foreign_code = true;
    lua_pushcfunction(L, luaopen_ffi);
    lua_pushliteral(L, LUA_FFILIBNAME);
    lua_call(L, 1, 1);
    return 1;
}

/* jit: luaopen_jit's own result is not the library's table. */
static int open_jit(lua_State *L) {
    lua_pushcfunction(L, luaopen_jit);
    lua_pushliteral(L, LUA_JITLIBNAME);
    lua_call(L, 1, 0);
    lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
    lua_getfield(L, -1, LUA_JITLIBNAME);
    return 1;
}

/* jit.opt, jit.util, jit.profile: opening jit registers them (jit.opt
 * loaded, the others preloaded); a process that requires one before jit
 * is open (vm.c opens it late) gets it so. */
static int open_jit_part(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, LUA_JITLIBNAME);
    lua_call(L, 1, 0);
    lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
    lua_getfield(L, -1, name);
    if (lua_istable(L, -1)) return 1;
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_getfield(L, -1, name);
    if (!lua_isfunction(L, -1)) return mbb_raisef(L, "no module '%s' in the jit library", name);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    return 1;
}

/* The standard libraries a process state opens only when first used. */
static const struct { const char *name; lua_CFunction open; } stdlibs[] = {
    {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math}, {LUA_BITLIBNAME, luaopen_bit},
    {LUA_IOLIBNAME, luaopen_io}, {LUA_OSLIBNAME, open_os}, {LUA_DBLIBNAME, luaopen_debug},
    {LUA_FFILIBNAME, open_ffi}, {LUA_JITLIBNAME, open_jit}};

lua_CFunction mbb_stdlib_opener(const char *name) {
    for (size_t i = 0; i < sizeof stdlibs / sizeof *stdlibs; i++)
        if (strcmp(name, stdlibs[i].name) == 0) return stdlibs[i].open;
    if (strncmp(name, LUA_JITLIBNAME ".", 4) == 0) return open_jit_part;
    return NULL;
}

static int load_embedded(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    const mbb_embedded *e = mbb_find_embedded(name);
    if (!e) return mbb_raisef(L, "no embedded module '%s'", name);
    if (luaL_loadbuffer(L, (const char *)e->code, e->size, name)) return lua_error(L);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    return 1;
}

void mbb_push_core_field(lua_State *L, const char *name) {
    lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
    lua_getfield(L, -1, "moonbeam.core");
    if (lua_istable(L, -1)) {
        lua_pushstring(L, name);
        lua_rawget(L, -2);   /* raw: a miss binds nothing */
    } else {
        lua_pushnil(L);
    }
    lua_replace(L, -3);
    lua_pop(L, 1);
}

lua_CFunction mbb_builtin_loader(const char *name) {
    return strcmp(name, "moonbeam.core") == 0 ? luaopen_moonbeam_core
         : mbb_find_embedded(name)          ? load_embedded
                                            : mbb_stdlib_opener(name);
}

/* package.loaders searcher: the loader of a built-in module, or a message. */
static int search_builtin(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    lua_CFunction open = mbb_builtin_loader(name);
    if (open) lua_pushcfunction(L, open);
    else lua_pushfstring(L, "\n\tno built-in module '%s'", name);
    return 1;
}

void mbb_install_searcher(lua_State *L) {
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaders");
    for (int i = (int)lua_objlen(L, -1); i >= 2; i--) {
        lua_rawgeti(L, -1, i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushcfunction(L, search_builtin);
    lua_rawseti(L, -2, 2);
    lua_pop(L, 2);
}

static void lua_host_free(mbb_lua_host *lh) {
    if (!lh) return;
    /* modules is made right after the pools (lua_host_new): with it, they are there.
     * Their states were closed with the runtime (drop_ahead). */
    if (lh->modules) {
        mbb_state_pool_destroy(&lh->pool);
        mbb_state_pool_destroy(&lh->gen_pool);
    }
    mbb_module_cache_free(lh->modules);
    mbb_code_loaders_free(lh->loaders);
    free(lh->path);
    free(lh->cpath);
    free(lh);
}

/* New states look for modules where this one does. */
static mbb_lua_host *lua_host_new(const char *path, const char *cpath) {
    mbb_lua_host *lh = calloc(1, sizeof *lh);
    if (lh && (!path || (lh->path = strdup(path))) && (!cpath || (lh->cpath = strdup(cpath))) &&
        mbb_state_pool_init(&lh->pool) == 0) {
        if (mbb_state_pool_init(&lh->gen_pool) == 0) {
            if ((lh->modules = mbb_module_cache_new()) && (lh->loaders = mbb_code_loaders_new())) return lh;
            if (!lh->modules) mbb_state_pool_destroy(&lh->gen_pool);   /* else lua_host_free's */
        }
        if (!lh->modules) mbb_state_pool_destroy(&lh->pool);
    }
    lua_host_free(lh);
    return NULL;
}

static int host_gc(lua_State *L) {
    host_handle *h = luaL_checkudata(L, 1, HOST_MT);
    if (h->rt) {
        mbb_lua_host *lh = h->rt->kind_data;
        /* Left running (a thread still in a process's state): kept too. */
        if (mb_runtime_stop(h->rt) == 0) lua_host_free(lh);
        h->rt = NULL;
        h->self = NULL;
    }
    return 0;
}

/* The runtime's threads run code of this shared object until the state
 * closes: make sure unloading the C module cannot unmap it under them. */
static void pin_self(void) {
    Dl_info info;
    if (dladdr((void *)pin_self, &info) && info.dli_fname)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static int config_int(lua_State *L, const char *field, const char *env) {
    int v = 0;
    lua_getfield(L, LUA_REGISTRYINDEX, "moonbeam.config");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, field);
        v = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    const char *text = getenv(env);
    if (v <= 0 && text && *text) {
        /* A whole number from 1 up, or the host does not start: a typo
         * is no default (atoi read "abc" as 0, the default, and "2.5" as 2). */
        char *end;
        errno = 0;
        long n = strtol(text, &end, 10);
        if (errno || *end || n < 1 || n > INT_MAX)
            mbb_raisef(L, "moonbeam: %s must be a whole number from 1 up, got '%s'", env, text);
        v = (int)n;
    }
    return v;
}

static void ensure_host(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, HOST_KEY);
    host_handle *h = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (h && h->rt) return;

    mb_config cfg = {0};
    cfg.schedulers = config_int(L, "schedulers", "MOONBEAM_SCHEDULERS");
    cfg.blocking_threads = config_int(L, "blocking_threads", "MOONBEAM_BLOCKING_THREADS");
    cfg.max_processes = (uint32_t)config_int(L, "max_processes", "MOONBEAM_MAX_PROCESSES");
    cfg.shutdown_timeout_ms = config_int(L, "shutdown_timeout", "MOONBEAM_SHUTDOWN_TIMEOUT");
    /* New states look for modules where this one does. */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_getfield(L, -2, "cpath");
    const char *path = lua_tostring(L, -2), *cpath = lua_tostring(L, -1);
    mbb_lua_host *lh = lua_host_new(path, cpath);
    lua_pop(L, 3);
    if (!lh) mbb_raisef(L, "moonbeam: out of memory");
    mbb_lua_kind_init();
    cfg.kind = &mbb_lua_kind;
    cfg.kind_data = lh;
    cfg.shutdown_target = "moonbeam.shutdown:run";
    char err[160];
    mb_runtime *rt = mb_runtime_start(&cfg, err, sizeof err);
    if (!rt) {
        lua_host_free(lh);
        mbb_raisef(L, "moonbeam: %s", err);
    }
    pin_self();

    h = lua_newuserdata(L, sizeof *h);
    h->rt = rt;
    h->self = NULL;
    if (luaL_newmetatable(L, HOST_MT)) {
        lua_pushcfunction(L, host_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, HOST_KEY);
    h->self = mb_external_new(rt, "host");
    if (!h->self) mbb_raisef(L, "moonbeam: cannot create the host process");
    rt->host = h->self;
    /* This state's os.exit too: a plain LuaJIT program that required
     * moonbeam and calls os.exit(code) has its processes shut down in
     * order (terminate callbacks run), then LuaJIT's os.exit(code, close)
     * ends it. */
    lua_getglobal(L, "os");
    if (lua_istable(L, -1)) mbb_install_exit(L, -1);
    lua_pop(L, 1);
}

/* moonbeam.core's C functions are bound into a state's table one at a time,
 * at the first look-up of each (bind_on_lookup): a state holds those its
 * code uses, a handful for an idle process, not the ~150 of every area,
 * each ~100 bytes and ~400 instructions to register. A look-up of a name
 * that is none of them binds them all, with the constants, and the table
 * stops asking: pairs() then sees everything (the console's completion). */
static const luaL_Reg *const areas[] = {
    mbb_process_fns, mbb_message_fns, mbb_names_fns, mbb_timers_fns, mbb_blocking_fns, mbb_call_fns,
    mbb_supervisor_fns, mbb_console_fns, mbb_shutdown_fns, mbb_table_fns, mbb_net_fns, mbb_net_io_fns,
    mbb_port_fns, mbb_log_fns, mbb_registry_fns, mbb_reload_fns, mbb_peek_fns, mbb_dist_fns, mbb_terms_fns,
    mbb_gen_fns};
#define NAREAS (sizeof areas / sizeof *areas)

/* Every area's functions, sorted by name: made once per OS process, never
 * written after (pthread_once), read by every state's look-ups. */
#define CORE_FNS_MAX 256
static luaL_Reg core_fns[CORE_FNS_MAX];
static size_t core_nfns;
static pthread_once_t core_fns_once = PTHREAD_ONCE_INIT;

static int by_name(const void *a, const void *b) {
    return strcmp(((const luaL_Reg *)a)->name, ((const luaL_Reg *)b)->name);
}

static void sort_core_fns(void) {
    size_t n = 0;
    for (size_t i = 0; i < NAREAS; i++)
        for (const luaL_Reg *r = areas[i]; r->name; r++) {
            if (n == CORE_FNS_MAX) return;   /* core_nfns stays 0: luaopen raises */
            core_fns[n++] = *r;
        }
    qsort(core_fns, n, sizeof *core_fns, by_name);
    core_nfns = n;
}

/* bsearch's comparison of a name with an element whose first member is a
 * name (a luaL_Reg, or the name itself), for the two sorted arrays here. */
static int name_is(const void *key, const void *elem) {
    return strcmp(key, *(const char *const *)elem);
}

static lua_CFunction find_core_fn(const char *name) {
    const luaL_Reg *r = bsearch(name, core_fns, core_nfns, sizeof *core_fns, name_is);
    return r ? r->func : NULL;
}

/* The core's values that are not functions: a string, or else a number. */
static const struct {
    const char *name, *str;
    double num;
} constants[] = {
    {"_max_timeout", NULL, MB_MAX_TIMEOUT_MS},   /* longer means "infinity" (moonbeam.util) */
    {"version", MB_VERSION, 0},
    {"interrupted", MB_INTERRUPTED, 0},
};
#define NCONSTANTS (sizeof constants / sizeof *constants)

/* Push the core's function or constant of that name; false: it has none. */
static bool push_named(lua_State *L, const char *name) {
    lua_CFunction fn = find_core_fn(name);
    if (fn) {
        lua_pushcfunction(L, fn);
        return true;
    }
    for (size_t i = 0; i < NCONSTANTS; i++) {
        if (strcmp(name, constants[i].name) != 0) continue;
        if (constants[i].str) lua_pushstring(L, constants[i].str);
        else lua_pushnumber(L, constants[i].num);
        return true;
    }
    return false;
}

/* name into the table at 1 unless it has one: what a program or moonbeam's
 * Lua modules put there stays. The table has no metatable by now. */
static void bind_missing(lua_State *L, const char *name) {
    lua_getfield(L, 1, name);
    bool there = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (!there && push_named(L, name)) lua_setfield(L, 1, name);
}

/* The API moonbeam.api_rest holds (Lua functions over the core's): what a
 * process that only sends, receives and spawns never uses. Compared here,
 * in C: as Lua constants the names were a dozen strings in every state.
 * Sorted (strcmp's order), for the binary search below: every first
 * look-up of a core function comes by it (a dozen in a gen_server's start,
 * a third of their cost was a strcmp with each name). */
static const char *const rest_names[] = {"blocking",   "connect",    "exit",       "monitor",  "register",
                                         "reload",     "send_after", "send_interval", "sleep", "spawn_link",
                                         "spawn_monitor", "spawn_opt", "unregister", "whereis"};

static bool is_rest_name(const char *k) {
    return bsearch(k, rest_names, sizeof rest_names / sizeof *rest_names, sizeof *rest_names, name_is) != NULL;
}

/* moonbeam.api_rest's functions into the table at 1 (what is there stays). */
static void put_rest(lua_State *L) {
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonbeam.api_rest");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "install");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 0);
    lua_pop(L, 1);
}

/* The table's __index: (table, key) -> the function or constant bound, or
 * one of moonbeam.api_rest's, put there with all the others of it. */
static int bind_on_lookup(lua_State *L) {
    lua_settop(L, 2);
    if (lua_type(L, 2) == LUA_TSTRING) {
        const char *k = lua_tostring(L, 2);
        if (is_rest_name(k)) {
            put_rest(L);
            lua_rawget(L, 1);
            return 1;
        }
        if (push_named(L, k)) {
            lua_pushvalue(L, 2);
            lua_pushvalue(L, -2);
            lua_rawset(L, 1);
            return 1;
        }
    }
    lua_pushnil(L);
    lua_setmetatable(L, 1);
    for (size_t i = 0; i < core_nfns; i++) bind_missing(L, core_fns[i].name);
    for (size_t i = 0; i < NCONSTANTS; i++) bind_missing(L, constants[i].name);
    put_rest(L);
    lua_rawget(L, 1);
    return 1;
}

int luaopen_moonbeam_core(lua_State *L) {
    void *ud;
    if (lua_getallocf(L, &ud) != mb_proc_alloc) ensure_host(L);
    if (pthread_once(&core_fns_once, sort_core_fns) != 0 || core_nfns == 0)
        return mbb_raisef(L, "moonbeam: the core's function table did not build");
    mbb_pid_type_init(L);
    /* Room for what moonbeam's Lua side and a gen_server's loop put here
     * (9 names once init.lua has run, 16 in a server): each slot is 24
     * bytes of every state, and 384 of them were what an idle process had
     * over 6 chunks of its arena (a state that binds more grows it). */
    lua_createtable(L, 0, 16);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, bind_on_lookup);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    return 1;
}
