/* vm.c: a process's Lua state: creating it, running a slice of it, turning
 * how it ended into an exit reason, and closing it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lualib.h>
#include "bindings.h"
#include "../host/signal.h"
#include "../host/timer.h"
#include "../host/vm.h"

/* ---- a new state ------------------------------------------------------- */

/* Libraries few processes use are opened on first touch of their global
 * (ffi, which is no global, only by require: see mbb_stdlib_opener). */
static int lazy_global(lua_State *L) {
    const char *k = lua_tostring(L, 2);
    lua_CFunction open = k && strcmp(k, "ffi") != 0 ? mbb_stdlib_opener(k) : NULL;
    if (!open) return 0;
    lua_pushcfunction(L, open);
    lua_pushstring(L, k);
    lua_call(L, 1, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

static void open_libs(lua_State *L, mb_runtime *rt) {
    /* string for its metatable (s:upper()), jit because opening it is what
     * turns the compiler on; the rest come on first use (lazy_global). */
    static const luaL_Reg eager[] = {
        {"", luaopen_base}, {LUA_LOADLIBNAME, luaopen_package},
        {LUA_STRLIBNAME, luaopen_string}, {LUA_JITLIBNAME, luaopen_jit}, {NULL, NULL}};
    for (const luaL_Reg *l = eager; l->func; l++) {
        lua_pushcfunction(L, l->func);
        lua_pushstring(L, l->name);
        lua_call(L, 1, 0);
    }
    lua_getglobal(L, "package");
    if (rt->lua_path) {
        lua_pushstring(L, rt->lua_path);
        lua_setfield(L, -2, "path");
    }
    if (rt->lua_cpath) {
        lua_pushstring(L, rt->lua_cpath);
        lua_setfield(L, -2, "cpath");
    }
    lua_pop(L, 1);
    mbb_install_searcher(L);
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, lazy_global);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
    mbb_pid_type_init(L);
}

/* Runs protected on the new state: libraries, the coroutine, and on it the
 * boot function with (kind, target, args...). */
static int start_state(lua_State *L) {
    mb_proc *p = lua_touserdata(L, 1);
    lua_settop(L, 0);
    open_libs(L, p->rt);
    lua_State *co = lua_newthread(L);
    p->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    const mbb_embedded *boot = mbb_find_embedded("moonbeam.boot");
    if (luaL_loadbuffer(co, (const char *)boot->code, boot->size, "=boot")) lua_error(co);
    lua_call(co, 0, 1);   /* the chunk returns the boot function */
    static const char *kinds[] = {"module", "function", "file"};
    lua_pushstring(co, kinds[p->target_kind]);
    if (p->target_kind != MB_TARGET_BYTECODE) lua_pushstring(co, p->target);
    int n = mb_decode_list(co, p->spawn_args.p, p->spawn_args.len, 1);
    if (n < 0) luaL_error(L, "malformed spawn arguments");
    mb_buf_free(&p->spawn_args);
    p->co = co;
    lua_pushinteger(L, n + (p->target_kind == MB_TARGET_BYTECODE ? 1 : 2));
    return 1;
}

static void set_reason_str(mb_proc *p, const char *s) {
    p->exit_reason.len = 0;
    mb_put_string(&p->exit_reason, s, strlen(s));
}

/* Create the state; returns the number of values to resume with, or -1
 * with the exit reason set. */
static int create(mb_proc *p) {
    lua_State *L = lua_newstate(mb_proc_alloc, p);
    if (!L) {
        set_reason_str(p, p->mem_exceeded ? "memory_limit" : "no_memory");
        return -1;
    }
    p->L = L;
    lua_pushcfunction(L, start_state);
    lua_pushlightuserdata(L, p);
    if (lua_pcall(L, 1, 1, 0)) {
        if (p->mem_exceeded) set_reason_str(p, "memory_limit");
        else {
            mb_buf b;
            mb_buf_init(&b);
            const char *msg = lua_tostring(L, -1);
            mb_put_tuple_head(&b, 2);
            mb_put_string(&b, "error", 5);
            mb_put_string(&b, msg ? msg : "cannot start", msg ? strlen(msg) : 12);
            p->exit_reason.len = 0;
            mb_buf_put(&p->exit_reason, b.p, b.len);
            mb_buf_free(&b);
        }
        return -1;
    }
    int n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return n;
}

/* ---- how a body ended -------------------------------------------------- */

/* {"error", message, traceback}, built on the main state (the coroutine is dead). */
static int build_crash(lua_State *L) {
    lua_State *co = lua_touserdata(L, 1);
    mb_proc *p = lua_touserdata(L, 2);
    lua_settop(L, 0);
    lua_createtable(L, 3, 0);
    lua_pushliteral(L, "error");
    lua_rawseti(L, -2, 1);
    lua_pushvalue(co, -1);
    lua_xmove(co, L, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "nil");
    }
    lua_rawseti(L, -2, 2);
    luaL_traceback(L, co, NULL, 0);
    lua_rawseti(L, -2, 3);
    mb_encode_err err;
    p->exit_reason.len = 0;
    if (mb_encode(L, 1, "reason", &p->exit_reason, (size_t)1 << 30, &err)) {
        /* The error value itself cannot be sent: keep its printable form. */
        lua_rawgeti(L, 1, 2);
        lua_pushfstring(L, "(an error value of type %s)", luaL_typename(L, -1));
        lua_rawseti(L, 1, 2);
        lua_pop(L, 1);
        p->exit_reason.len = 0;
        mb_encode(L, 1, "reason", &p->exit_reason, (size_t)1 << 30, &err);
    }
    /* The first process's end is reported once, by whoever waits for it
     * (moonbeam run: cli.lua), crash log or not. */
    if (p->rt->crash_log && p->pid != atomic_load(&p->rt->shutdown.first)) {
        lua_rawgeti(L, 1, 2);
        lua_rawgeti(L, 1, 3);
        /* A table error value shows its first strings: {"timeout"}. */
        char shown[200];
        if (lua_isstring(L, -2)) {
            snprintf(shown, sizeof shown, "%s", lua_tostring(L, -2));
        } else {
            size_t at = (size_t)snprintf(shown, sizeof shown, "{");
            for (int i = 1; i <= 3 && lua_istable(L, -2); i++) {
                lua_rawgeti(L, -2, i);
                if (lua_isstring(L, -1) && at < sizeof shown)
                    at += (size_t)snprintf(shown + at, sizeof shown - at, "%s\"%.60s\"", i > 1 ? ", " : "",
                                           lua_tostring(L, -1));
                lua_pop(L, 1);
            }
            if (at < sizeof shown) snprintf(shown + at, sizeof shown - at, "}");
        }
        fprintf(stderr, "moonbeam: process <0.%d.%d> (%s) crashed: %s\n%s\n",
                (int)mb_pid_slot(p->pid), (int)mb_pid_serial(p->pid), p->target ? p->target : "?",
                shown, lua_tostring(L, -1));
    }
    return 0;
}

static void crashed(mb_proc *p) {
    lua_State *L = p->L;
    lua_pushcfunction(L, build_crash);
    lua_pushlightuserdata(L, p->co);
    lua_pushlightuserdata(L, p);
    if (lua_pcall(L, 2, 0, 0)) {
        lua_pop(L, 1);
        if (p->mem_exceeded) set_reason_str(p, "memory_limit");
        else set_reason_str(p, "crashed");
    }
}

void mb_vm_run(mb_proc *p) {
    int nargs = 0;
    if (!p->co) {
        nargs = create(p);
        if (nargs < 0) {
            p->yield = MB_YIELD_EXIT;
            return;
        }
    } else if (p->yield == MB_YIELD_WAIT) {
        lua_pushboolean(p->co, !mb_proc_wait_timed_out(p));
        nargs = 1;
    }
    if (atomic_load_explicit(&p->sig_pending, memory_order_relaxed)) mb_signal_drain(p);
    if (p->dying) {
        p->yield = MB_YIELD_EXIT;
        return;
    }
    p->budget = mbb_slice_budget();
    p->yield = MB_YIELD_NONE;
    int st = lua_resume(p->co, nargs);
    if (p->mem_exceeded) {
        set_reason_str(p, "memory_limit");
        p->yield = MB_YIELD_EXIT;
        return;
    }
    if (st == LUA_YIELD) {
        if (p->yield == MB_YIELD_NONE) {   /* a bare coroutine.yield() at the top */
            lua_settop(p->co, 0);
            p->yield = MB_YIELD_RESCHED;
        }
        if (p->dying) p->yield = MB_YIELD_EXIT;
        return;
    }
    p->yield = MB_YIELD_EXIT;
    if (p->dying) return;              /* mb.exit from a nested coroutine */
    if (st == 0) set_reason_str(p, "normal");
    else crashed(p);
}

void mb_vm_close(mb_proc *p) {
    if (!p->L) return;
    lua_close(p->L);
    p->L = p->co = NULL;
    mb_arena_release(&p->arena);
}
