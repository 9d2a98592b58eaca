/* collectgarbage.c: collectgarbage in a process's state (bindings.h).
 *
 * LuaJIT's is a fast function no trace compiles: a compiled loop around it
 * is stitched around the call, so it never runs the interpreter's hook a
 * kill sets, and the preemption signal finds it inside the collector,
 * where the trace it goes back to cannot be taken from it (stitch.c: a
 * collection may move the stack under the frame). A kill of
 * `while true do collectgarbage() end` took 0.2 to 4 s. This one, a C
 * function over LuaJIT's, ends a process that must end before it
 * collects, and otherwise does what LuaJIT's does. */
#include "bindings.h"
#include "core/signal.h"

static int collectgarbage(lua_State *L) {
    mb_proc *self = mbb_self(L);
    if (mb_proc_doomed(self)) {
        mb_signal_drain(self);
        if (self->dying) return mbb_exit_now(L, self);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

void mbb_install_collectgarbage(lua_State *L) {
    lua_getglobal(L, "collectgarbage");
    lua_pushcclosure(L, collectgarbage, 1);
    lua_setglobal(L, "collectgarbage");
}
