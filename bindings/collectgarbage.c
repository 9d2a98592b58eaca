/* collectgarbage.c: collectgarbage in a process's state (bindings.h).
 *
 * LuaJIT's is a fast function no trace compiles: a compiled loop around it
 * is stitched around the call, so it never runs the interpreter's hook a
 * kill sets, and the preemption signal finds it inside the collector,
 * where the trace it goes back to cannot be taken from it (stitch.c: a
 * collection may move the stack under the frame). A kill of
 * `while true do collectgarbage() end` took 0.2 to 4 s. This one ends a
 * process that must end before it collects, and otherwise does what
 * LuaJIT's does, with its options, results and errors. It is made on the
 * global's first use (lua_state.c, lazy_global): one more function in
 * every state took a gen_server's past its eighth arena chunk (4 KB). */
#include <string.h>
#include "bindings.h"
#include "core/signal.h"

/* LuaJIT's option names, at lua_gc's numbers (LUA_GCSTOP = 0...); NULL
 * where collectgarbage takes none (countb, 8). */
static const char *const options[] = {"stop", "restart",  "collect",    "count", NULL,
                                      "step", "setpause", "setstepmul", NULL,    "isrunning"};
#define NOPTIONS ((int)(sizeof options / sizeof *options))

int mbb_collectgarbage(lua_State *L) {
    mb_proc *self = mbb_self(L);
    if (mb_proc_doomed(self)) {
        mb_signal_drain(self);
        if (self->dying) return mbb_exit_now(L, self);
    }
    int opt = LUA_GCCOLLECT;
    if (!lua_isnoneornil(L, 1)) {
        const char *name = luaL_checkstring(L, 1);
        for (opt = 0; opt < NOPTIONS; opt++)
            if (options[opt] && strcmp(options[opt], name) == 0) break;
        if (opt == NOPTIONS) return luaL_argerror(L, 1, lua_pushfstring(L, "invalid option '%s'", name));
    }
    int data = (int)luaL_optinteger(L, 2, 0);
    if (opt == LUA_GCCOUNT) {
        lua_pushnumber(L, lua_gc(L, LUA_GCCOUNT, 0) + lua_gc(L, LUA_GCCOUNTB, 0) / 1024.0);
        return 1;
    }
    int res = lua_gc(L, opt, data);
    if (opt == LUA_GCSTEP || opt == LUA_GCISRUNNING) lua_pushboolean(L, res);
    else lua_pushinteger(L, res);
    return 1;
}
