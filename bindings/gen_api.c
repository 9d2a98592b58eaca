/* gen_api.c: what a gen_server process asks of C (moonbeam.gen_step, the
 * short path, and moonbeam.gen_loop, the whole loop). */
#include <stdbool.h>
#include <stdio.h>
#include "bindings.h"
#include "term_kinds.h"

/* mb.exit(reason) inside a callback raises {exit_mark, reason}, and the
 * server stops with the reason (moonbeam.gen_step, moonbeam.gen_loop). */
static const char exit_mark;

/* core._gen_exit_mark() -> that mark: one light userdata, the same in
 * both modules (whichever of them the state loaded). */
static int l_gen_exit_mark(lua_State *L) {
    lua_pushlightuserdata(L, (void *)&exit_mark);
    return 1;
}

/* mb.exit in a gen_server process (upvalue 1: its S): exit(reason)
 * inside a callback (S.in_callback) raises {exit_mark, reason}, and the
 * server stops with the reason; exit() and exit(nil) keep their usage
 * errors. Elsewhere, and exit(dest, reason), the core's exit; for a
 * destination not a pid, api_rest's (names, {name, node}). */
static int l_server_exit(lua_State *L) {
    int n = lua_gettop(L);
    if (n == 1 && !lua_isnil(L, 1)) {
        lua_getfield(L, lua_upvalueindex(1), "in_callback");
        bool in_callback = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (in_callback) {
            lua_createtable(L, 2, 0);
            lua_pushlightuserdata(L, (void *)&exit_mark);
            lua_rawseti(L, -2, 1);
            lua_pushvalue(L, 1);
            lua_rawseti(L, -2, 2);
            return lua_error(L);
        }
    }
    /* Called here, not through lua_call: the process's own end yields,
     * from this function's frame. */
    if (n < 2 || mbb_is_pid(L, 1)) return mbb_exit_fn(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonbeam.api_rest");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "exit");
    lua_replace(L, -2);
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

/* core._gen_exit(S) -> that mb.exit for the server S. */
static int l_gen_exit(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_pushcclosure(L, l_server_exit, 1);
    return 1;
}

/* core._gen_answer(pid, ref, value): a server's reply to the call ref of
 * pid. One that cannot be sent tells the caller so,
 * {"$gen_reply_failed", why} (another node's: {error, {'$gen_reply_failed',
 * Why}}), which its call raises as {"bad_reply", why}:
 * the value, not the server, is at fault (moonbeam.gen_loop's answer).
 * Raises only for no memory. */
static int l_gen_answer(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_pid caller = mbb_check_pid(L, 1, "reply");
    mb_ref ref = mbb_check_ref(L, 2, "reply");
    lua_settop(L, 3);
    bool remote = mb_pid_is_remote(caller);   /* the reply goes through the node's connection */
    char why[sizeof ((mb_encode_err *)0)->msg + 8];
    mb_encode_err err;
    if (remote) {
        lua_pushcfunction(L, mbb_reply_fn);
        for (int i = 1; i <= 3; i++) lua_pushvalue(L, i);
        if (lua_pcall(L, 3, 0, 0) == 0) return 0;
        snprintf(why, sizeof why, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "reply: cannot be sent");
    } else {
        int rc = mbb_reply_value(L, self, caller, ref, 3, &err);
        if (rc == 0) return 0;
        if (rc < 0) return mbb_raisef(L, "reply: out of memory");
        snprintf(why, sizeof why, "reply: %s", err.msg);
    }
    lua_settop(L, 2);
    if (remote) {
        /* A caller on another node, Erlang's gen_server:call maybe, takes
         * any reply as the answer: {error, {'$gen_reply_failed', Why}} says
         * what happened in a form it can match (moonbeam.node's reply
         * reads it as bad_reply). */
        lua_createtable(L, 2, 0);
        mbb_push_atom(L, "error", 5);
        lua_rawseti(L, -2, 1);
        lua_createtable(L, 2, 0);
        mbb_push_atom(L, "$gen_reply_failed", 17);
        lua_rawseti(L, -2, 1);
        lua_pushstring(L, why);
        lua_rawseti(L, -2, 2);
        mbb_set_kind(L, -1, MB_KIND_TUPLE);
        lua_rawseti(L, -2, 2);
        mbb_set_kind(L, -1, MB_KIND_TUPLE);
        return mbb_reply_fn(L);
    }
    lua_createtable(L, 2, 0);
    lua_pushliteral(L, "$gen_reply_failed");
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, why);
    lua_rawseti(L, -2, 2);
    if (mbb_reply_value(L, self, caller, ref, 3, &err) < 0) return mbb_raisef(L, "reply: out of memory");
    return 0;
}

const luaL_Reg mbb_gen_fns[] = {{"_gen_exit_mark", l_gen_exit_mark}, {"_gen_exit", l_gen_exit},
                                {"_gen_answer", l_gen_answer}, {NULL, NULL}};
