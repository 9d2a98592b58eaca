/* gen_api.c: what gen_server's short path (moonbeam.gen_step) asks of C. */
#include <stdio.h>
#include "bindings.h"

/* mb.exit(reason) inside a callback raises {exit_mark, reason}, and the
 * server stops with the reason (moonbeam.gen_step, moonbeam.gen_loop). */
static const char exit_mark;

/* core._gen_exit_mark() -> that mark: one light userdata, the same in
 * both modules (whichever of them the state loaded). */
static int l_gen_exit_mark(lua_State *L) {
    lua_pushlightuserdata(L, (void *)&exit_mark);
    return 1;
}

/* core._gen_answer(pid, ref, value): a server's reply to the call ref of
 * pid. One that cannot be sent tells the caller so,
 * {"$gen_reply_failed", why}, which its call raises as {"bad_reply", why}:
 * the value, not the server, is at fault (moonbeam.gen_loop's answer).
 * Raises only for no memory. */
static int l_gen_answer(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_pid caller = mbb_check_pid(L, 1, "reply");
    mb_ref ref = mbb_check_ref(L, 2, "reply");
    lua_settop(L, 3);
    int rc;
    char why[sizeof ((mb_encode_err *)0)->msg + 8];
    if (mb_pid_is_remote(caller)) {   /* the reply goes through the node's connection */
        lua_pushcfunction(L, mbb_reply_fn);
        lua_insert(L, 1);
        if (lua_pcall(L, 3, 0, 0) == 0) return 0;
        snprintf(why, sizeof why, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "reply: cannot be sent");
        lua_settop(L, 0);
        mbb_push_pid(L, caller);
        mbb_push_ref(L, ref);
        lua_pushnil(L);
        rc = 1;
    } else {
        mb_encode_err err;
        rc = mbb_reply_value(L, self, caller, ref, 3, &err);
        if (rc == 0) return 0;
        if (rc < 0) return mbb_raisef(L, "reply: out of memory");
        snprintf(why, sizeof why, "reply: %s", err.msg);
    }
    lua_createtable(L, 2, 0);
    lua_pushliteral(L, "$gen_reply_failed");
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, why);
    lua_rawseti(L, -2, 2);
    lua_replace(L, 3);
    lua_settop(L, 3);
    if (mb_pid_is_remote(caller)) return mbb_reply_fn(L);
    mb_encode_err err;
    if (mbb_reply_value(L, self, caller, ref, 3, &err) < 0) return mbb_raisef(L, "reply: out of memory");
    return 0;
}

const luaL_Reg mbb_gen_fns[] = {{"_gen_exit_mark", l_gen_exit_mark}, {"_gen_answer", l_gen_answer}, {NULL, NULL}};
