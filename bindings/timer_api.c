/* timer_api.c: send_after, cancel_timer, and the clock. */
#include <math.h>
#include <string.h>
#include "bindings.h"
#include "../host/timer.h"

/* core.send_after(ms, dest, msg) -> timer ref, over. A name is resolved when the
 * timer fires; a pid's message is dropped if the pid is gone by then. */
static int l_send_after(lua_State *L) {
    mb_proc *self = mbb_self(L);
    lua_Number ms = luaL_checknumber(L, 1);
    if (!(ms >= 0) || isinf(ms)) return luaL_argerror(L, 1, "time must be a finite number >= 0");
    mb_pid dest = 0;
    char *name = NULL;
    if (lua_type(L, 2) == LUA_TSTRING) {
        size_t n;
        lua_tolstring(L, 2, &n);
        if (n == 0) return luaL_argerror(L, 2, "empty name");
    } else {
        dest = mbb_check_pid(L, 2);
    }
    if (lua_isnoneornil(L, 3)) return luaL_argerror(L, 3, "a message cannot be nil");
    mbb_encode_or_raise(L, self, 3, "msg");
    mb_msg *m = mb_msg_copy(MB_MSG_DATA, self->pid, 0, self->scratch.p, self->scratch.len);
    if (!m) return luaL_error(L, "send_after: out of memory");
    if (!dest && !(name = strdup(lua_tostring(L, 2)))) {
        free(m);
        return luaL_error(L, "send_after: out of memory");
    }
    mb_ref ref = mb_send_after(self->rt, mbb_sched(self), ms, dest, name, m);
    if (!ref) return luaL_error(L, "send_after: out of memory");
    mbb_push_ref(L, ref);
    lua_pushboolean(L, --self->budget <= 0);   /* a timer is work like a send */
    return 2;
}

/* core.cancel_timer(ref) -> whole ms left, or false */
static int l_cancel_timer(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_ref ref = mbb_check_ref(L, 1);
    double left = mb_cancel_timer(self->rt, ref);
    if (left < 0) lua_pushboolean(L, 0);
    else lua_pushnumber(L, floor(left));
    return 1;
}

/* core.now() -> monotonic milliseconds (fractional) */
static int l_now(lua_State *L) {
    lua_pushnumber(L, mb_now_ms());
    return 1;
}

void mbb_open_timers(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"send_after", l_send_after}, {"cancel_timer", l_cancel_timer}, {"now", l_now}, {NULL, NULL}};
    luaL_register(L, NULL, fns);
}
