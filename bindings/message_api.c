/* message_api.c: send, gen_server's receive (recv_request), and the one
 * place a process blocks (wait). mb.receive is receive_api.c's. */
#include <errno.h>
#include <math.h>
#include <time.h>
#include "bindings.h"
#include "yieldable.h"
#include "core/external.h"
#include "core/mailbox_bounds.h"
#include "core/names.h"
#include "core/signal.h"
#include "core/timer.h"

/* Messages a process handles in one slice before it yields to its peers. */
#define SLICE_BUDGET 1000

/* The table reason on top of the stack, replaced by its text: a crash's
 * message, else the reason as the console prints it, on one line. */
static void reason_as_words(lua_State *L) {
    int reason = lua_gettop(L);
    lua_rawgeti(L, reason, 1);
    lua_rawgeti(L, reason, 2);
    if (lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "error") == 0 && !lua_isnil(L, -1)) {
        /* A crash: its message, as the crash's own words say it (a
         * string as it is, another value printed), not the tuple with
         * its traceback. */
        lua_replace(L, reason);
        lua_settop(L, reason);
        if (lua_type(L, reason) == LUA_TSTRING) return;
    }
    lua_settop(L, reason);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonbeam.pretty");
    if (lua_pcall(L, 1, 1, 0) == 0 && lua_istable(L, -1)) {
        lua_getfield(L, -1, "format");
        lua_pushvalue(L, reason);
        lua_createtable(L, 0, 1);
        lua_pushnumber(L, HUGE_VAL);
        lua_setfield(L, -2, "width");
        if (lua_pcall(L, 2, 1, 0) == 0 && lua_type(L, -1) == LUA_TSTRING) {
            lua_replace(L, reason);
            lua_settop(L, reason);
            return;
        }
    }
    lua_settop(L, reason - 1);
    lua_pushliteral(L, "(a table)");
}

int mbb_exit_now(lua_State *L, mb_proc *p) {
    /* (A match function runs from receive's C frame: no yield from there.) */
    if (!p->ext && L == mbb_co(p) && !p->in_blocking && !p->in_match) {
        p->yield = MB_YIELD_EXIT;
        return lua_yield(L, 0);
    }
    if (p->ext) {
        /* The host thread's own process cannot be ended under it: report
         * the signal to its Lua code instead, and carry on. */
        p->dying = false;
        atomic_store_explicit(&p->must_end, false, memory_order_relaxed);
        lua_pushliteral(L, "moonbeam: this process received an exit signal: ");
        if (mb_decode(L, p->exit_reason.p, p->exit_reason.len, 0)) lua_pushliteral(L, "?");
        else if (!lua_isstring(L, -1)) reason_as_words(L);
        lua_concat(L, 2);
        return lua_error(L);
    }
    /* Inside a coroutine of the user's, a match function, or mb.blocking's fn: unwind it;
     * the scheduler (or the blocking thread) sees p->dying when control
     * comes back. A coroutine's resume returns the error to the body, which
     * must not go on: its next instruction goes on out (mbb_exit_soon). */
    if (!p->in_blocking) mbb_exit_soon(L);
    return mbb_raisef(L, "moonbeam: process is exiting");
}

/* Send self->scratch to dest: false when dest's full mailbox refused it;
 * *over set: the process should yield now (its slice is used up, or an
 * exit signal ends it). */
static bool deliver_scratch(lua_State *L, mb_proc *self, mb_pid dest, mb_msg_kind kind, bool *over,
                            const char *what) {
    int rc = MB_DELIVER_OK;
    if (mb_pid_is_remote(dest)) {   /* another node's: the distribution thread's */
        mbb_dist_send(L, self, dest, what);
    } else {
        rc = mb_proc_send(self, mbb_sched(self), dest, kind, 0, self->scratch.p, self->scratch.len);
        if (rc < 0) mbb_raisef(L, "send: out of memory");
        if (atomic_load_explicit(&self->sig_pending, memory_order_relaxed)) mb_signal_drain(self);
    }
    *over = --self->budget <= 0 || self->dying;
    return rc == MB_DELIVER_OK;
}

/* Send self->scratch to dest; returns the core's send results (over [, full]).
 * what: the message's name in an error ("send: msg"). */
static int send_scratch(lua_State *L, mb_proc *self, mb_pid dest, mb_msg_kind kind, const char *what) {
    bool over, delivered = deliver_scratch(L, self, dest, kind, &over, what);
    lua_pushboolean(L, over);
    if (delivered) return 1;
    lua_pushboolean(L, 1);
    return 2;
}

/* What every send checks: dest at 1 (of dest_type, lua_type's, looked at
 * already), and msg at 2, encoded into self->scratch. Each type is looked
 * at once: each C API call is ~1% of a ring's hop. Raises for a bad one. */
static inline mb_pid check_send(lua_State *L, mb_proc *self, int dest_type) {
    mb_pid dest = mbb_check_dest_typed(L, 1, dest_type, "send");
    int msg_type = lua_type(L, 2);
    if (msg_type == LUA_TNIL || msg_type == LUA_TNONE) mbb_raisef(L, "send: a message cannot be nil");
    mbb_encode_typed_or_raise(L, self, 2, msg_type, "send: msg");
    return dest;
}

static int send_kind(lua_State *L, mb_msg_kind kind) {
    mb_proc *self = mbb_self(L);
    mb_pid dest = check_send(L, self, lua_type(L, 1));
    return send_scratch(L, self, dest, kind, "send: msg");
}

/* Whether the process running L can give its turn to the scheduler here:
 * its body's own coroutine, on a scheduler, with no C call between. */
static bool can_give_turn(lua_State *L, mb_proc *self) {
    return !self->ext && L == mbb_co(self) && !self->in_blocking && mbb_yieldable(L) != MBB_YIELD_CANNOT;
}

int mbb_give_turn(lua_State *L, mb_proc *self, int keep) {
    mb_signal_drain(self);
    if (self->dying && !self->in_blocking) return mbb_exit_now(L, self);   /* there: when fn returns */
    if (!can_give_turn(L, self)) {
        self->budget = SLICE_BUDGET;
        return keep;
    }
    self->yield = MB_YIELD_RESCHED;
    if (keep) ((mbb_lua *)self->state)->on_wake = MBB_WAKE_KEPT;
    mbb_note_where(L, self);
    return lua_yield(L, keep);
}

/* Replaces a table dest at 1 ({name, node}, a via name) by what moonbeam's
 * init.lua resolves it to for send (core._table_dest); false: it sent msg
 * to another node itself. That function cannot yield here (a C function
 * called it). */
static bool resolve_table_dest(lua_State *L) {
    mbb_push_core_field(L, "_table_dest");
    if (!lua_isfunction(L, -1)) mbb_raisef(L, "send: dest must be a pid or a registered name");
    lua_pushvalue(L, 1);
    lua_pushliteral(L, "send");
    lua_pushvalue(L, 2);
    lua_call(L, 3, 1);
    if (lua_isnil(L, -1)) return false;
    lua_replace(L, 1);
    lua_settop(L, 2);
    return true;
}

/* mb.send(dest, msg) -> true, or false, "full" when the receiver's full
 * mailbox refused msg (max_queue; host/core/mailbox_bounds.h). In C, not a
 * Lua function over a core send: a message to a process that waited is a
 * cold state's, and a Lua function more on its path was two more cache
 * misses (its bytecode, its constants) in a ring of 1000. A plain C
 * function, neither a closure nor a Lua wrapper: LuaJIT compiles the loops
 * that call it as before (as a closure, a loop of sends ran an eighth
 * slower). When the slice is used up, send gives up its turn after the
 * send, its true kept for the resume (mbb_give_turn); a full mailbox's false,
 * "full" comes back at once, and the next send or receive yields. */
static int l_send(lua_State *L) {
    mb_proc *self = mbb_self(L);
    int dest_type = lua_type(L, 1);
    if (dest_type == LUA_TTABLE) {
        if (!resolve_table_dest(L)) {
            lua_pushboolean(L, 1);
            return 1;
        }
        dest_type = lua_type(L, 1);
    }
    mb_pid dest = check_send(L, self, dest_type);
    bool over;
    if (!deliver_scratch(L, self, dest, MB_MSG_DATA, &over, "send: msg")) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "full");
        return 2;
    }
    lua_pushboolean(L, 1);
    return over ? mbb_give_turn(L, self, 1) : 1;
}

/* core.send_tagged(pid, tag, value) -> as send, of the message {tag,
 * value} ({tag} when value is nil), built here rather than as a Lua table
 * the codec walks: gen_server's cast. Nothing (nil) when pid is not one:
 * the caller resolves a name, or says what is wrong, without a check of
 * its own before each cast to a pid. */
static int l_send_tagged(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_pid dest = mbb_to_pid(L, 1);
    if (!dest) return 0;
    size_t n;
    const char *tag = luaL_checklstring(L, 2, &n);
    self->scratch.len = 0;
    /* To another node the tag is an atom, as Erlang's gen_server expects. */
    bool remote = mb_pid_is_remote(dest);
    size_t max = atomic_load_explicit(&self->rt->max_message_size, memory_order_relaxed);
    int type = lua_type(L, 3);   /* looked at once: each C API call is ~1% of a cast */
    if (!remote && type == LUA_TSTRING) {   /* a string value: the codec's bytes, at once */
        size_t vn;
        const char *v = lua_tolstring(L, 3, &vn);
        if (vn <= max && mb_put_string_pair(&self->scratch, tag, n, v, vn) == 0)
            return send_scratch(L, self, dest, MB_MSG_DATA, "gen_server.cast: msg");
        self->scratch.len = 0;   /* too large or no memory: the codec says which */
    }
    bool has_value = type != LUA_TNONE && type != LUA_TNIL;
    /* Erlang's gen_server takes {'$gen_cast', Msg}: a 1-tuple would reach
     * its handle_info */
    if (remote && !has_value) return mbb_raisef(L, "gen_server.cast: msg: cannot go to another node: it is nil");
    if ((remote && mb_put_kind(&self->scratch, MB_KIND_TUPLE)) || mb_put_tuple_head(&self->scratch, has_value ? 2 : 1) ||
        (remote ? mb_put_atom(&self->scratch, tag, n) : mb_put_string(&self->scratch, tag, n)))
        return mbb_raisef(L, "send: out of memory");
    if (has_value) {
        mb_encode_err err;
        /* the path from the cast's msg, not from the envelope */
        if (mb_encode_typed(L, 3, type, "gen_server.cast: msg", &self->scratch, max, &err))
            return mbb_raisef(L, "%s", err.msg);
    }
    return send_scratch(L, self, dest, MB_MSG_DATA, "gen_server.cast: msg");
}

/* core.send_system(dest, msg) -> over: a message no full mailbox drops
 * (gen_server's start and stop). */
static int l_send_system(lua_State *L) { return send_kind(L, MB_MSG_SYSTEM); }

/* core.send_code(dest, msg) -> over: a code change request (mb.reload),
 * which dest's next receive takes before any message. */
static int l_send_code(lua_State *L) { return send_kind(L, MB_MSG_CODE); }

/* Where a process (not the host thread's) cannot wait, and so why. */
typedef enum { CAN_WAIT, IN_MATCH, IN_COROUTINE, IN_BLOCKING, IN_C_CALLBACK } wait_refusal;

/* Where a C function calls Lua back (string.gsub's and table.sort's
 * functions, a module's body under require), the yield a wait ends in
 * fails ("attempt to yield across C-call boundary"), after the wait's
 * request went: a call handled with its caller told an error, a recv's
 * data left behind. */
#define C_CALLBACK "a function a C function called (string.gsub's, table.sort's, a module's body under require)"

static inline wait_refusal refusal(lua_State *L, mb_proc *self) {
    /* A match function runs from C (receive_api.c), on the state's main
     * thread when a wake runs it: no wait could come back to it. */
    if (self->in_match) return IN_MATCH;
    if (L != mbb_co(self)) return IN_COROUTINE;
    /* A pool thread waits for nobody's messages: a wait there could hold
     * it for ever. receive(0) still works. */
    if (self->in_blocking) return IN_BLOCKING;
    if (mbb_yieldable(L) == MBB_YIELD_CANNOT) return IN_C_CALLBACK;
    return CAN_WAIT;
}

int mbb_push_cannot_wait(lua_State *L, mb_proc *self, const char *verb) {
    if (self->ext) return 0;
    switch (refusal(L, self)) {
    case IN_COROUTINE:
        lua_pushfstring(L, "cannot wait inside a coroutine of your own; %s from the process's body", verb);
        return 1;
    case IN_BLOCKING: lua_pushfstring(L, "cannot wait inside mb.blocking; %s after it returns", verb); return 1;
    case IN_C_CALLBACK: lua_pushfstring(L, "cannot wait inside %s; %s outside it", C_CALLBACK, verb); return 1;
    default: return 0;   /* a match function's wait is receive's error (mbb_wait_for) */
    }
}

/* core._cannot_wait(verb) -> nil, or why the caller cannot wait here
 * (mbb_push_cannot_wait): gen.stop's and sleep's check before they act. */
static int l_cannot_wait(lua_State *L) {
    if (!mbb_push_cannot_wait(L, mbb_self(L), luaL_checkstring(L, 1))) lua_pushnil(L);
    return 1;
}

#define EXT_LOOK_MS 100.0   /* how often the host thread's wait looks for a hook the program set */

/* The host thread's wait (a plain LuaJIT program's own process): in slices,
 * so that a hook the program sets meanwhile runs, as it would at its next
 * instruction. luajit's own SIGINT handler sets one that raises
 * "interrupted!": Ctrl-C did nothing while a script waited in receive().
 * Whether something came before the deadline. */
static bool ext_wait(lua_State *L, mb_proc *self, double deadline) {
    for (;;) {
        double now = mb_now_ms();
        double until = deadline >= 0 && deadline < now + EXT_LOOK_MS ? deadline : now + EXT_LOOK_MS;
        if (mb_external_wait(self, until)) return true;
        if (deadline >= 0 && until >= deadline) return false;
        lua_Hook hook = lua_gethook(L);
        if (hook && (lua_gethookmask(L) & LUA_MASKCOUNT)) {
            lua_Debug ar;
            memset(&ar, 0, sizeof ar);
            lua_getstack(L, 0, &ar);   /* a real frame, for a hook that asks lua_getinfo */
            ar.event = LUA_HOOKCOUNT;
            hook(L, &ar);   /* may raise, as "interrupted!" does */
        }
    }
}

/* Block until something arrives or deadline (ms on the runtime clock; < 0:
 * none) passes. The wait returns whether it did not time out, or what wake
 * says (mbb_wake). The keep values on top stay on the stack meanwhile (the
 * wake's to read). */
int mbb_wait_for(lua_State *L, mb_proc *self, double deadline, mbb_wake wake, int keep) {
    if (self->ext) {   /* its own thread waits; its caller looks after it */
        mbb_note_where(L, self);
        bool waited = ext_wait(L, self, deadline);
        if (wake != MBB_WAKE_TIMED) return 0;
        lua_pushboolean(L, waited);
        return 1;
    }
    switch (refusal(L, self)) {
    case IN_MATCH: return mbb_raisef(L, "receive: cannot wait inside a match function");
    case IN_COROUTINE:
        return mbb_raisef(L, "receive: cannot block inside a coroutine of your own; receive from the process's body");
    case IN_BLOCKING: return mbb_raisef(L, "receive: cannot wait inside mb.blocking; receive or sleep after it returns");
    case IN_C_CALLBACK: return mbb_raisef(L, "receive: cannot wait inside %s; receive outside it", C_CALLBACK);
    case CAN_WAIT: break;
    }
    self->wait_deadline = deadline;
    ((mbb_lua *)self->state)->on_wake = (uint8_t)wake;   /* a Lua process's own coroutine, above */
    self->yield = MB_YIELD_WAIT;
    return lua_yield(L, keep);
}

/* The deadline at idx (core.now's clock), a number; raises otherwise. */
static double arg_deadline(lua_State *L, int idx) {
    if (lua_type(L, idx) != LUA_TNUMBER || lua_tonumber(L, idx) != lua_tonumber(L, idx))
        return mbb_raisef(L, "receive: deadline must be a number");
    return lua_tonumber(L, idx);
}

/* What the whole loop takes (moonbeam.gen_loop) and gen_server's short
 * path hands over for: a message that is a system request, an EXIT, or an
 * envelope that is not well formed (a table whose first value is one of
 * those tags). */
static bool for_whole_loop(lua_State *L, int idx) {
    if (!lua_istable(L, idx)) return false;
    lua_rawgeti(L, idx, 1);
    size_t n = 0;
    const char *t = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : "";
    bool whole = (n == 4 && memcmp(t, "EXIT", 4) == 0) ||
                 (n == 8 && memcmp(t, "$gen_sys", 8) == 0) ||
                 (n == 9 && (memcmp(t, "$gen_call", 9) == 0 || memcmp(t, "$gen_cast", 9) == 0));
    lua_pop(L, 1);
    return whole;
}

/* core.recv_request([short]) -> a, b, c, kind, over: the first message, as
 * gen_server's loop takes it. kind 1: a call {"$gen_call", {pid, ref},
 * request}, taken without making the envelope's tables (a = pid, b = ref,
 * c = request); kind 2: a cast {"$gen_cast", msg} (a = msg); kind 0: any
 * other message (a); kind 3: a code change request (mb.reload: a = it);
 * with short (moonbeam.gen_step), kind 4 for a message for the whole loop
 * (above).
 * The values come first, as they are decoded: nothing is moved on the
 * stack after them. None there: it waits, and returns nothing for the loop
 * to look again (nil, nil, nil, nil, true when the process is dying). */
static int l_recv_request(lua_State *L) {
    mb_proc *self = mbb_self(L);
    bool short_path = lua_toboolean(L, 1);
    lua_settop(L, 0);
    if (self->in_match) return mbb_raisef(L, "receive: cannot receive inside a match function");
    mb_signal_drain(self);
    if (mb_proc_take_interrupt(self)) return mbb_raise_plain(L, MB_INTERRUPTED);
    for (mb_msg *m; !self->dying && (m = self->save.head) != NULL;) {
        int kind = m->kind == MB_MSG_CODE ? 3 : mb_decode_request(L, m->data, m->len, 1);
        if (kind == 0 || kind == 3)   /* a message, or a code change: one value, then nils */
            kind = mb_decode(L, m->data, m->len, 1) ? -1 : (lua_pushnil(L), lua_pushnil(L), kind);
        if (kind == 0 && short_path && for_whole_loop(L, -3)) kind = 4;
        mbb_take_msg(self, NULL, m);
        if (kind < 0) {   /* cannot happen for our own bytes: not worth a server's life */
            fputs("moonbeam: a gen_server dropped a message that does not decode\n", stderr);
            continue;
        }
        if (kind == 1) {   /* a call: its from may be handed off (mb_codec_ref_sent); one left
                              from an answered call is harmless (mb_call_deferred compares) */
            self->serving_caller = (mb_pid)(uintptr_t)lua_touserdata(L, 1);
            self->serving_ref = (mb_ref)(uintptr_t)lua_touserdata(L, 2);
        }
        lua_pushinteger(L, kind);
        lua_pushboolean(L, --self->budget <= 0);
        return 5;
    }
    if (!self->dying) return mbb_wait_for(L, self, -1, MBB_WAKE_QUIET, 0);
    for (int i = 0; i < 4; i++) lua_pushnil(L);
    lua_pushboolean(L, 1);
    return 5;
}

/* What a wait finds before it blocks: an exit signal that ends the process
 * (no return), or signals that may have brought something (true pushed: 1).
 * 0: nothing, block. */
static int wait_drain(lua_State *L, mb_proc *self) {
    int added = mb_signal_drain(self);
    if (self->dying && !self->in_blocking) return mbb_exit_now(L, self);   /* there: when fn returns */
    if (mb_proc_take_interrupt(self)) return mbb_raise_plain(L, MB_INTERRUPTED);
    if (added > 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    return 0;
}


/* core.wait([ms]) -> true when something may have arrived, false on timeout.
 * No ms, or one beyond what a timer can be set for (math.huge included):
 * wait without a timer. */
static int l_wait(lua_State *L) {
    mb_proc *self = mbb_self(L);
    double ms = -1;
    if (!lua_isnoneornil(L, 1)) {
        if (lua_type(L, 1) != LUA_TNUMBER || !(lua_tonumber(L, 1) >= 0))
            return mbb_raisef(L, "receive: timeout must be a number >= 0 or \"infinity\"");
        ms = lua_tonumber(L, 1);
        if (ms > MB_MAX_TIMEOUT_MS) ms = -1;
    }
    int n = wait_drain(L, self);
    if (n) return n;
    if (ms == 0) {
        lua_pushboolean(L, 0);
        return 1;
    }
    return mbb_wait_for(L, self, ms < 0 ? -1 : mb_now_ms() + ms, MBB_WAKE_TIMED, 0);
}

/* core.wait_until(deadline) -> as core.wait, with the deadline (core.now's
 * clock) instead of a timeout: a caller that loops until a deadline computes
 * it once. A deadline already gone answers false at once, as core.wait(0)
 * does: receive(0) polls without giving up its turn. */
static int l_wait_until(lua_State *L) {
    mb_proc *self = mbb_self(L);
    double deadline = arg_deadline(L, 1);
    int n = wait_drain(L, self);
    if (n) return n;
    if (deadline <= mb_now_ms()) {
        lua_pushboolean(L, 0);
        return 1;
    }
    return mbb_wait_for(L, self, deadline, MBB_WAKE_TIMED, 0);
}

/* core.yield(): give the scheduler a turn (or end, if an exit signal came). */
static int l_yield(lua_State *L) { return mbb_give_turn(L, mbb_self(L), 0); }

/* core._sendable(v, [root, [as_message]]) -> true, or false and why (its
 * path from root, default "reason"): whether v can be sent, so be an exit
 * reason (one too large is: it is cut short, mbb_set_exit_reason), or
 * with as_message, a message (one too large is not). gen_server asks of a
 * callback's stop reason, and of what a call or cast to a name that is
 * not registered would have sent: a bug of the caller's either way. */
static int l_sendable(lua_State *L) {
    mb_proc *self = mbb_self(L);
    const char *root = luaL_optstring(L, 2, "reason");
    bool as_message = lua_toboolean(L, 3);
    size_t max = atomic_load_explicit(&self->rt->max_message_size, memory_order_relaxed);
    mb_encode_err err;
    mb_buf_reuse(&self->scratch);
    int rc = mb_encode(L, 1, root, &self->scratch, max, &err);
    self->scratch.len = 0;
    if (rc && err.why == MB_ENC_NOMEM) return mbb_raisef(L, "%s: out of memory", as_message ? "send" : "exit");
    bool ok = rc == 0 || (err.why == MB_ENC_TOO_LARGE && !as_message);
    lua_pushboolean(L, ok);
    if (ok) return 1;
    lua_pushstring(L, err.msg);
    return 2;
}

/* core.max_message_size([bytes]) -> the limit in force (before a change). */
static int l_max_message_size(lua_State *L) {
    mb_proc *self = mbb_self(L);
    size_t old = atomic_load(&self->rt->max_message_size);
    if (!lua_isnoneornil(L, 1)) {
        lua_Number n = lua_tonumber(L, 1);
        if (lua_type(L, 1) != LUA_TNUMBER || !(n >= 64 && n <= (lua_Number)(1u << 31)) || n != floor(n))
            return mbb_raisef(L, "max_message_size: bytes must be an integer from 64 to 2^31");
        atomic_store(&self->rt->max_message_size, (size_t)n);
    }
    lua_pushnumber(L, (lua_Number)old);
    return 1;
}

/* core.queue_len() -> messages waiting for this process. */
static int l_queue_len(lua_State *L) {
    mb_proc *self = mbb_self(L);
    lua_pushnumber(L, mb_mailbox_len(self));
    return 1;
}

const luaL_Reg mbb_message_fns[] = {
        {"send", l_send}, {"send_tagged", l_send_tagged}, {"send_system", l_send_system}, {"send_code", l_send_code},
        {"receive", mbb_receive}, {"recv_request", l_recv_request}, {"wait", l_wait}, {"wait_until", l_wait_until},
        {"yield", l_yield}, {"max_message_size", l_max_message_size}, {"_sendable", l_sendable},
        {"queue_len", l_queue_len}, {"_cannot_wait", l_cannot_wait},
        {NULL, NULL}};

int mbb_slice_budget(void) { return SLICE_BUDGET; }
