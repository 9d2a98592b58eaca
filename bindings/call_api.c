/* call_api.c: the core's half of gen_server.call (see host/core/call.h). */
#include "bindings.h"
#include "core/call.h"
#include "core/signal.h"

/* core.call_begin(server, ref) -> true, or false and the cycle's chain */
static int l_call_begin(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_pid server = mbb_check_pid(L, 1, "call");
    mb_ref ref = mbb_check_ref(L, 2, "call");
    mb_pid chain[MB_MAX_CHAIN];
    int n = mb_call_begin(self, server, ref, chain);
    if (n == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        mbb_push_pid(L, chain[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 2;
}

/* core.call_take() -> "reply", value | "down", reason | "deadlock", chain | nil */
static int l_call_take(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_signal_drain(self);
    mb_msg *m = self->replies.head;
    if (!m) return 0;
    int bad = m->kind == MB_MSG_REPLY ? mb_decode_list(L, m->data, m->len, 1) != 1
                                      : mb_decode(L, m->data, m->len, 1) != 0;
    if (bad) return mbb_raisef(L, "call: malformed reply");
    switch (m->kind) {
    case MB_MSG_REPLY: lua_pushliteral(L, "reply"); break;
    case MB_MSG_DEADLOCK: lua_pushliteral(L, "deadlock"); break;
    default:   /* the DOWN tuple: its reason */
        lua_rawgeti(L, -1, 5);
        lua_remove(L, -2);
        lua_pushliteral(L, "down");
        break;
    }
    lua_insert(L, -2);
    mb_saveq_remove(&self->replies, NULL, m);
    free(m);
    return 2;
}

static int l_call_end(lua_State *L) {
    mb_call_end(mbb_self(L));
    return 0;
}

/* core.reply(pid, ref, value) -> true; a reply to a call that is over, or
 * to a caller that is gone, is dropped. */
static int l_reply(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_pid caller = mbb_check_pid(L, 1, "reply");
    mb_ref ref = mbb_check_ref(L, 2, "reply");
    /* A list of one value, so that a nil reply is a reply too. */
    mb_encode_err err;
    self->scratch.len = 0;
    lua_settop(L, 3);
    if (mb_encode_list(L, 3, 1, &self->scratch, atomic_load(&self->rt->max_message_size), &err))
        return mbb_raisef(L, "reply: %s", err.msg);
    if (mb_call_reply(self->rt, mbb_sched(self), caller, ref, self->scratch.p, self->scratch.len))
        return mbb_raisef(L, "reply: out of memory");
    lua_pushboolean(L, 1);
    return 1;
}

/* core.alias(ref) / core.unalias(ref): messages sent through an inactive
 * alias are dropped, including those already queued when it goes. */
static int l_alias(lua_State *L) {
    if (mb_proc_alias(mbb_self(L), mbb_check_ref(L, 1, "alias"))) return mbb_raisef(L, "alias: out of memory");
    return 0;
}

static int l_unalias(lua_State *L) {
    mb_proc_unalias(mbb_self(L), mbb_check_ref(L, 1, "unalias"));
    return 0;
}

/* core.send_alias(pid, ref, msg) -> true, or false, "full" when the
 * receiver's max_queue refused msg */
static int l_send_alias(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_pid dest = mbb_check_pid(L, 1, "send_alias");
    mb_ref ref = mbb_check_ref(L, 2, "send_alias");
    if (lua_isnoneornil(L, 3)) return mbb_raisef(L, "send_alias: a message cannot be nil");
    mbb_encode_or_raise(L, self, 3, "msg");
    int rc = mb_send(self->rt, mbb_sched(self), self->pid, dest, MB_MSG_ALIASED, ref, self->scratch.p,
                     self->scratch.len);
    if (rc < 0) return mbb_raisef(L, "send: out of memory");
    if (rc == MB_DELIVER_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "full");
    return 2;
}

void mbb_open_call(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"call_begin", l_call_begin}, {"call_take", l_call_take},
        {"call_end", l_call_end}, {"reply", l_reply}, {"alias", l_alias},
        {"unalias", l_unalias}, {"send_alias", l_send_alias}, {NULL, NULL}};
    luaL_register(L, NULL, fns);
}
