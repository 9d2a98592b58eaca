/* console_api.c: what a console process needs from the core: its terminal
 * (core.console_open) and the version it shows. The console is
 * lua/moonbeam/console.lua; the server it talks through is
 * host/console/console_server.c. */
#include "bindings.h"
#include "console/console_server.h"
#include "core/version.h"

#define CONN_MT "moonbeam.console_conn"

typedef struct conn_ud {
    mb_console_conn *c;   /* NULL once closed */
} conn_ud;

static mb_console_conn *check_conn(lua_State *L) {
    conn_ud *u = luaL_checkudata(L, 1, CONN_MT);
    if (!u->c) mbb_raisef(L, "console: the connection is closed");
    return u->c;
}

/* conn:send(type, [text]) -> true, or false when the terminal is gone (or
 * was dropped for falling too far behind); never waits for it */
static int l_conn_send(lua_State *L) {
    mb_console_conn *c = check_conn(L);
    size_t tn, n;
    const char *type = luaL_checklstring(L, 2, &tn);
    const char *p = luaL_optlstring(L, 3, "", &n);
    luaL_argcheck(L, tn == 1, 2, "a frame type is one character");
    lua_pushboolean(L, mb_console_conn_send(c, mbb_self(L)->pid, type[0], p, n) == 0);
    return 1;
}

/* conn:behind() -> whether the terminal is behind on its output */
static int l_conn_behind(lua_State *L) {
    lua_pushboolean(L, mb_console_conn_behind(check_conn(L)));
    return 1;
}

/* conn:tell_when_caught_up() -> true when the terminal is behind: then a
 * {"$console", "W", ""} message comes once it caught up or is gone */
static int l_conn_tell_when_caught_up(lua_State *L) {
    lua_pushboolean(L, mb_console_conn_tell_when_caught_up(check_conn(L)));
    return 1;
}

/* conn:gone() -> whether the terminal hung up */
static int l_conn_gone(lua_State *L) {
    lua_pushboolean(L, mb_console_conn_gone(check_conn(L)));
    return 1;
}

/* conn:close([goodbye]): goodbye ends the session (the terminal is told). */
static int l_conn_close(lua_State *L) {
    conn_ud *u = luaL_checkudata(L, 1, CONN_MT);
    if (u->c) mb_console_conn_close(u->c, mbb_self(L)->pid, lua_toboolean(L, 2));
    u->c = NULL;
    return 0;
}

/* conn:interruptible(on): while on, the terminal's Ctrl-C stops what this
 * process runs or waits for with the error MB_INTERRUPTED, and the process
 * goes on (process.h, interrupt). Off drops a Ctrl-C not taken yet. */
static int l_conn_interruptible(lua_State *L) {
    check_conn(L);
    atomic_store(&mbb_self(L)->interrupt, lua_toboolean(L, 2) ? MB_INTR_ARMED : MB_INTR_OFF);
    return 0;
}

/* core.console_open(id) -> the connection; only its console process may
 * open it, once. */
static int l_console_open(lua_State *L) {
    mb_proc *self = mbb_self(L);
    const char *id = luaL_checkstring(L, 1);
    conn_ud *u = lua_newuserdata(L, sizeof *u);
    u->c = NULL;
    if (luaL_newmetatable(L, CONN_MT)) {   /* made here: few states ever need it */
        static const luaL_Reg methods[] = {
            {"send", l_conn_send}, {"behind", l_conn_behind},
            {"tell_when_caught_up", l_conn_tell_when_caught_up}, {"gone", l_conn_gone},
            {"close", l_conn_close}, {"interruptible", l_conn_interruptible}, {NULL, NULL}};
        lua_createtable(L, 0, 6);
        luaL_register(L, NULL, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_conn_close);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    char err[128];
    u->c = mb_console_conn_open(self->rt, id, self->pid, err, sizeof err);
    if (!u->c) return mbb_raisef(L, "console_open: %s", err);
    return 1;
}

const luaL_Reg mbb_console_fns[] = {{"console_open", l_console_open}, {NULL, NULL}};
