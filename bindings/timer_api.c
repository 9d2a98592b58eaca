/* timer_api.c: send_after, cancel_timer, and the clock. */
#include <math.h>
#include <string.h>
#include "bindings.h"
#include "core/names.h"
#include "core/timer.h"

/* dest at 2 (and a node at 4: a name of another node's) as a timer's,
 * checked; raises under fn. */
static mb_timer_dest check_dest(lua_State *L, const char *fn) {
    mb_timer_dest d = {0, NULL, NULL};
    size_t n;
    if (lua_type(L, 4) == LUA_TSTRING) {
        mbb_remote_name(L, 2, &n, fn);
        mbb_check_node(L, 4, fn);
    } else if (lua_type(L, 2) == LUA_TSTRING) {
        const char *s = lua_tolstring(L, 2, &n);
        if (!mb_name_valid(s, n))
            mbb_raisef(L, "%s: name must be a non-empty string without NUL bytes", fn);
    } else if (mbb_is_pid(L, 2)) {
        d.pid = mbb_check_pid(L, 2, fn);
    } else {
        mbb_raisef(L, "%s: dest must be a pid or a registered name", fn);
    }
    return d;
}

/* The names of d (those at 2 and 4), malloc'd into it; false: out of memory. */
static bool copy_names(lua_State *L, mb_timer_dest *d) {
    if (d->pid) return true;
    d->name = strdup(lua_tostring(L, 2));
    if (d->name && lua_type(L, 4) == LUA_TSTRING && !(d->node = strdup(lua_tostring(L, 4)))) {
        free(d->name);
        d->name = NULL;
    }
    return d->name != NULL;
}

/* send_after's and send_interval's arguments (ms, dest, msg[, node]),
 * checked; then the timer: every interval ms after the first (0: once).
 * Pushes the timer ref and whether the slice is over. A name is resolved
 * at each message; a pid's message is dropped if the pid is gone by then. */
static int arm(lua_State *L, const char *fn, bool repeat) {
    mb_proc *self = mbb_self(L);
    lua_Number ms = lua_tonumber(L, 1);
    /* A timer, unlike a receive timeout, has no "never": math.huge and
     * delays no timer can be set for are refused. An interval of 0 would
     * never let the loop go. */
    if (lua_type(L, 1) != LUA_TNUMBER || !(repeat ? ms > 0 : ms >= 0) || isinf(ms))
        return mbb_raisef(L, "%s: ms must be a finite number %s", fn, repeat ? "> 0" : ">= 0");
    if (ms > MB_MAX_TIMEOUT_MS)
        return mbb_raisef(L, "%s: ms must be at most 2^53 (no timer is set further ahead)", fn);
    mb_timer_dest dest = check_dest(L, fn);
    if (lua_isnoneornil(L, 3)) return mbb_raisef(L, "%s: msg cannot be nil", fn);
    mbb_encode_or_raise(L, self, 3, repeat ? "send_interval: msg" : "send_after: msg");
    mb_msg *m = mb_msg_copy(MB_MSG_DATA, self->pid, 0, self->scratch.p, self->scratch.len);
    if (!m) return mbb_raisef(L, "%s: out of memory", fn);
    if (!copy_names(L, &dest)) {
        free(m);
        return mbb_raisef(L, "%s: out of memory", fn);
    }
    mb_ref ref = mb_send_interval(self->rt, self->ext ? NULL : self, self->pid, ms, repeat ? ms : 0, dest, m);
    if (!ref) return mbb_raisef(L, "%s: out of memory", fn);
    mbb_push_ref(L, ref);
    lua_pushboolean(L, --self->budget <= 0);   /* a timer is work like a send */
    return 2;
}

/* core.send_after(ms, dest, msg) -> timer ref, over */
static int l_send_after(lua_State *L) { return arm(L, "send_after", false); }

/* core.send_interval(ms, dest, msg) -> timer ref, over: msg every ms until
 * cancel_timer, or until the caller or a pid dest is gone. */
static int l_send_interval(lua_State *L) { return arm(L, "send_interval", true); }

/* core.cancel_timer(ref) -> whole ms left, or false */
static int l_cancel_timer(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_ref ref = mbb_check_ref(L, 1, "cancel_timer");
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

const luaL_Reg mbb_timers_fns[] = {
    {"_c_send_after", l_send_after}, {"_c_send_interval", l_send_interval}, {"cancel_timer", l_cancel_timer},
    {"now", l_now}, {NULL, NULL}};
