/* call_api.c: the core's half of gen_server.call (see host/core/call.h). */
#include "bindings.h"
#include "core/call.h"
#include "core/signal.h"
#include "core/timer.h"

/* false and the call cycle's chain of n pids: a call that would deadlock. */
static int push_cycle(lua_State *L, const mb_pid *chain, int n) {
    lua_pushboolean(L, 0);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        mbb_push_pid(L, chain[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 2;
}

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
    return push_cycle(L, chain, n);
}

/* Encode {label, {self, ref}, req} into p->scratch: a call's request,
 * built here rather than as two Lua tables the codec then walks. 0, or -1
 * with err set (req cannot be sent). */
static int encode_request(lua_State *L, mb_proc *p, mb_ref ref, mb_encode_err *err) {
    size_t n;
    const char *label = lua_tolstring(L, 2, &n);
    int type = lua_type(L, 3);   /* looked at once */
    bool has_req = type != LUA_TNONE && type != LUA_TNIL;
    p->scratch.len = 0;
    if (mb_put_call_head(&p->scratch, has_req ? 3 : 2, label, n, p->pid, ref))
        return mbb_raisef(L, "call: out of memory");
    if (!has_req) return 0;
    size_t max = atomic_load_explicit(&p->rt->max_message_size, memory_order_relaxed);
    return mb_encode_typed(L, 3, type, "req", &p->scratch, max, err);   /* a path from the caller's req, not the envelope */
}

/* The monitor of the call that ends under ref: a local call's, on its
 * server's side (mb_call_monitored), or one of this process's own (a start's
 * or a stop's, or a call to another node's). */
static void end_call_monitor(mb_proc *self, mb_ref ref) {
    if (self->call_server && ref == self->call_ref) mb_call_demonitor(self);
    else mb_demonitor(self, ref, 1);
}

/* core.call_send(server, label, req, [system], [timeout]): the caller's
 * half of a call in one step: a monitor of server, the core's call slot
 * (host/core/call.h), the request sent, and a wait for the outcome (the
 * reply can come no sooner, so a look before the wait would be a trip into
 * the core for nothing), which returns it as core.call_wait does when it is
 * a reply of one number or boolean (mbb_wake), else nothing (then
 * call_wait() takes it); with system, as a message no full mailbox refuses (a sys
 * request: it must reach a suspended server whose queue filled up, or
 * nothing could resume it). Or false, chain: the call would close a cycle
 * (nothing is left set up); nil, false: the server's full mailbox refused
 * it; nil, message: req cannot be sent, or no wait is possible here
 * (mb.blocking's fn). A server on another node: ref,
 * over, true (dist_api.c), and no wait. */
static int l_call_send(lua_State *L) {
    mb_proc *self = mbb_self(L);
    /* Where the caller cannot wait for the outcome (a pool thread, a
     * coroutine of its own: message_api.c), refused before the request
     * goes, not after its server acted on it; the caller raises it under
     * its own name, as a request that cannot be sent. */
    if (mbb_push_cannot_wait(L, self, "call")) {
        lua_pushnil(L);
        lua_insert(L, -2);   /* nil, why */
        return 2;
    }
    mb_pid server = mbb_check_pid(L, 1, "call");
    luaL_checktype(L, 2, LUA_TSTRING);
    /* The deadline core.call_wait keeps to (a timeout nil, or too long for
     * a timer: none). */
    int timeout_type = lua_type(L, 5);
    double ms = timeout_type == LUA_TNONE || timeout_type == LUA_TNIL ? -1 : luaL_checknumber(L, 5);
    self->call_deadline = ms >= 0 && ms <= MB_MAX_TIMEOUT_MS ? mb_now_ms() + ms : -1;
    if (mb_pid_is_remote(server)) return mbb_dist_call(L, self, server, NULL, NULL);   /* dist_api.c */
    mb_ref ref = mb_make_ref(self->rt);
    mb_encode_err err;
    if (encode_request(L, self, ref, &err)) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    mb_call_demonitor(self);   /* a call left without its end (an error in its wait) */
    /* The server looked up once for the wait-for walk's first step and the
     * send: each lookup and its release write the line of its table slot,
     * which every caller of a busy server writes. */
    mb_runtime *rt = self->rt;
    mb_proc *t = mb_proctab_get(&rt->procs, server);
    if (t && mb_proc_gone(t)) {   /* killed: {"noproc"}, as to one gone (mb_proc_gone) */
        mb_proctab_put(&rt->procs, server);
        t = NULL;
    }
    mb_pid chain[MB_MAX_CHAIN];
    int n = t ? mb_call_begin_on(self, t, ref, chain) : mb_call_begin(self, server, ref, chain);
    int rc = MB_DELIVER_OK;   /* to a server that is gone: nothing to send */
    if (n == 0 && t) {
        mb_msg_kind kind = lua_toboolean(L, 4) ? MB_MSG_SYSTEM : MB_MSG_DATA;
        mb_msg *m = mb_proc_msg(self, kind, ref, self->scratch.p, self->scratch.len);
        if (m) m->call_monitor = 1;   /* the request carries the call's monitor (signal.h) */
        rc = m ? mb_proc_deliver(t, m, mbb_sched(self)) : -1;
    }
    if (n == 0 && rc == MB_DELIVER_OK) {
        mb_small_term what = mb_small_id(MB_T_PID, server);   /* in place: no allocation per call */
        rc = mb_call_monitored(self, t, ref, what.b, what.n) == MB_LINK_NOMEM ? -1 : MB_DELIVER_OK;
    }
    if (t) mb_proctab_put(&rt->procs, server);
    if (n > 0) {
        mb_call_end(self);
        return push_cycle(L, chain, n);
    }
    if (rc != MB_DELIVER_OK) {   /* out of memory, or refused by a full mailbox */
        mb_call_end(self);
        mb_call_demonitor(self);
        if (rc < 0) return mbb_raisef(L, "call: out of memory");
        lua_pushnil(L);
        lua_pushboolean(L, 0);
        return 2;
    }
    self->budget--;
    return mbb_wait_for(L, self, self->call_deadline, MBB_WAKE_OUTCOME, 0);
}

/* The outcome's kinds, as numbers: a string pushed would be hashed and
 * looked up in the string table on every call. */
enum { KIND_REPLY = 1, KIND_DOWN, KIND_DEADLOCK };

/* m, the outcome at the head of the reply slot, is taken; with ending (the
 * awaited ref), the call ends with it, and its monitor, unless that is gone
 * already: with a DOWN (the server's end), or with a reply the server sent
 * itself (mb_signal_drain forgot it for either). */
static void outcome_taken(mb_proc *self, mb_msg *m, mb_ref ending) {
    bool gone = m->kind == MB_MSG_DOWN || (m->kind == MB_MSG_REPLY && m->call_monitor);
    mb_saveq_remove(&self->replies, NULL, m);
    mb_proc_msg_done(self, m);
    if (!ending) return;
    mb_call_end(self);
    if (!gone) end_call_monitor(self, ending);
}

/* The call's outcome if it came (pushed: 2), else 0; with ending, as
 * outcome_taken. */
static int take_outcome(lua_State *L, mb_proc *self, mb_ref ending) {
    mb_signal_drain(self);
    mb_msg *m = self->replies.head;
    if (!m) return 0;
    int bad = m->kind == MB_MSG_REPLY ? mb_decode_list(L, m->data, m->len, 1) != 1
                                      : mb_decode(L, m->data, m->len, 1) != 0;
    if (bad) return mbb_raisef(L, "call: malformed reply");
    switch (m->kind) {
    case MB_MSG_REPLY: lua_pushinteger(L, KIND_REPLY); break;
    case MB_MSG_DEADLOCK: lua_pushinteger(L, KIND_DEADLOCK); break;
    default:   /* the DOWN tuple: its reason */
        lua_rawgeti(L, -1, 5);
        lua_remove(L, -2);
        lua_pushinteger(L, KIND_DOWN);
        break;
    }
    lua_insert(L, -2);
    outcome_taken(self, m, ending);
    return 2;
}

int mbb_take_scalar_outcome(mb_proc *self, lua_State *co) {
    mb_signal_drain(self);
    mb_msg *m = self->replies.head;
    mb_ref ending = atomic_load_explicit(&self->await_ref, memory_order_relaxed);
    /* A reply is a list of one value: its count (1), then the value. */
    if (self->dying || !m || !ending || m->kind != MB_MSG_REPLY || m->len < 2 || m->data[0] != 1) return 0;
    lua_pushinteger(co, KIND_REPLY);
    if (!mb_decode_scalar(co, m->data + 1, m->len - 1)) {
        lua_pop(co, 1);
        return 0;
    }
    outcome_taken(self, m, ending);
    return 2;
}

/* core.call_take() -> 1, value (a reply) | 2, reason (the server's DOWN)
 * | 3, chain (a deadlock) | nil: the awaited outcome (a start's ack, a
 * stop's DOWN), which leaves the call to its caller to end (call_end). */
static int l_call_take(lua_State *L) { return take_outcome(L, mbb_self(L), 0); }

/* core.call_wait([ref]) -> the outcome of the call call_send made (ref:
 * its ref; none: the call this process awaits), as call_take gives it, and
 * the call ends with it; nil once its deadline has passed (the call is
 * ended then, its monitor gone); else it waits for the outcome, up to the
 * deadline, and returns whether it did not time out, to be called again.
 * gen_server.call's wait, without a look at the clock or the slot from Lua
 * (each call into the core from compiled code is a trip through the
 * interpreter). */
static int l_call_wait(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_ref ref = lua_isnoneornil(L, 1) ? atomic_load_explicit(&self->await_ref, memory_order_relaxed)
                                       : mbb_check_ref(L, 1, "call_wait");
    if (!ref) return mbb_raisef(L, "call_wait: no call is awaited");
    int n = take_outcome(L, self, ref);
    if (n) return n;
    if (self->dying && !self->in_blocking) return mbb_exit_now(L, self);
    if (mb_proc_take_interrupt(self)) return mbb_raise_plain(L, MB_INTERRUPTED);
    double deadline = self->call_deadline;
    if (deadline >= 0 && deadline <= mb_now_ms()) {
        mb_call_end(self);
        end_call_monitor(self, ref);
        return 0;
    }
    return mbb_wait_for(L, self, deadline, MBB_WAKE_TIMED, 0);
}

/* core.call_end([ref], [keep_down]): the call is over; with ref, its
 * monitor goes too (and a DOWN it may have queued); with keep_down, a DOWN
 * of the awaited monitor that came meanwhile goes to the mailbox (the
 * monitor outlives the call: call.h). */
static int l_call_end(lua_State *L) {
    mb_proc *self = mbb_self(L);
    if (lua_toboolean(L, 2)) mb_call_keep_down(self);
    mb_call_end(self);
    if (!lua_isnoneornil(L, 1)) end_call_monitor(self, mbb_check_ref(L, 1, "call_end"));
    return 0;
}

int mbb_reply_value(lua_State *L, mb_proc *self, mb_pid caller, mb_ref ref, int idx, mb_encode_err *err) {
    /* A list of one value, so that a nil reply is a reply too. */
    self->scratch.len = 0;
    if (mb_encode_list(L, idx, 1, "value", &self->scratch, atomic_load(&self->rt->max_message_size), err)) return 1;
    mb_msg *m = mb_proc_msg(self, MB_MSG_REPLY, ref, self->scratch.p, self->scratch.len);
    if (!m) return -1;
    m->call_monitor = mb_call_monitor_take(self, ref);   /* the caller then has none to end */
    mb_call_reply_msg(self->rt, mbb_sched(self), caller, m);
    return 0;
}

/* core.reply(pid, ref, value, [fn]) -> true; a reply to a call that is
 * over, or to a caller that is gone, is dropped. A value that cannot be
 * sent raises "<fn>: value: ..." (fn: "reply" when not given). */
static int l_reply(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_pid caller = mbb_check_pid(L, 1, "reply");
    mb_ref ref = mbb_check_ref(L, 2, "reply");
    int top = lua_gettop(L);   /* a server's reply gives three: no settop, no look at 4 */
    if (top < 3) lua_settop(L, 3);   /* value nil when not given */
    const char *fn = top >= 4 ? luaL_optstring(L, 4, "reply") : "reply";
    if (mb_pid_is_remote(caller)) {   /* a caller on another node */
        mbb_dist_reply(L, self, caller, ref, 3, fn);
        lua_pushboolean(L, 1);
        return 1;
    }
    mb_encode_err err;
    int rc = mbb_reply_value(L, self, caller, ref, 3, &err);
    if (rc < 0) return mbb_raisef(L, "%s: out of memory", fn);
    if (rc) return mbb_raisef(L, "%s: %s", fn, err.msg);
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
    mbb_encode_or_raise(L, self, 3, "send_alias: msg");
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

int mbb_reply_fn(lua_State *L) { return l_reply(L); }

/* A ref going into a message or a table (codec.h). The from of the call a
 * gen_server's callback handles now (recv_request noted it), sent anywhere
 * (a helper spawned with it, a queue), is handed off: the reply may come
 * from elsewhere, so the caller's wait is no edge of the wait-for graph
 * from then on, as after "noreply" (call.h, mb_call_deferred). A false
 * "deadlock" would fail a call that works in OTP. */
void mb_codec_ref_sent(uint64_t ref) {
    mb_proc *self = mbb_running;
    if (!self || self->serving_ref != ref) return;
    self->serving_ref = 0;
    if (!mb_pid_is_remote(self->serving_caller)) mb_call_deferred(self->rt, self->serving_caller, ref);
}

/* core._call_serving(pid, ref): the call a gen_server's callback is to
 * handle, taken by a plain receive (a server with a timeout running), as
 * recv_request notes the others (mb_codec_ref_sent). */
static int l_call_serving(lua_State *L) {
    mb_proc *self = mbb_self(L);
    if (mbb_is_pid(L, 1) && lua_type(L, 2) == LUA_TLIGHTUSERDATA) {
        self->serving_caller = mbb_check_pid(L, 1, "call");
        self->serving_ref = mbb_check_ref(L, 2, "call");
    }
    return 0;
}

/* core._call_deferred(pid, ref): the call ref of pid was answered with
 * noreply (moonbeam.gen_loop): no longer a wait-for edge (call.h). */
static int l_call_deferred(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_pid caller = mbb_check_pid(L, 1, "reply");
    mb_ref ref = mbb_check_ref(L, 2, "reply");
    if (!mb_pid_is_remote(caller)) mb_call_deferred(self->rt, caller, ref);
    return 0;
}

const luaL_Reg mbb_call_fns[] = {
        {"call_begin", l_call_begin}, {"call_send", l_call_send}, {"call_take", l_call_take}, {"call_wait", l_call_wait},
        {"call_end", l_call_end}, {"reply", l_reply}, {"alias", l_alias},
        {"unalias", l_unalias}, {"send_alias", l_send_alias}, {"_call_deferred", l_call_deferred},
        {"_call_serving", l_call_serving}, {NULL, NULL}};
