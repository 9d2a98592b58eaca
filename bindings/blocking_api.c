/* blocking_api.c: the two yields around an mb.blocking call. The wrapper is
 * lua/moonbeam/init.lua's blocking; the pool is host/core/blocking.c. */
#include "bindings.h"

/* core._blocking_enter() -> true once on a pool thread (run fn there);
 * false or nothing: run fn here (the host's own thread, a call already on a
 * pool thread, or no pool thread to be had). */
static int l_blocking_enter(lua_State *L) {
    mb_proc *self = mbb_self(L);
    if (self->ext || self->in_blocking) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (L != mbb_co(self))
        return mbb_raisef(L, "blocking: cannot leave the schedulers inside a coroutine of your own; "
                             "call mb.blocking from the process's body");
    if (self->in_match) return mbb_raisef(L, "blocking: cannot be called inside a match function");
    self->yield = MB_YIELD_BLOCKING;
    mbb_note_where(L, self);
    return lua_yield(L, 0);
}

/* core._blocking_leave(): fn returned; back to the schedulers. */
static int l_blocking_leave(lua_State *L) {
    mb_proc *self = mbb_self(L);
    if (!self->in_blocking || L != mbb_co(self)) return mbb_raisef(L, "blocking: not on a blocking thread");
    self->yield = MB_YIELD_UNBLOCK;
    return lua_yield(L, 0);
}

const luaL_Reg mbb_blocking_fns[] = {
        {"_blocking_enter", l_blocking_enter}, {"_blocking_leave", l_blocking_leave}, {NULL, NULL}};
