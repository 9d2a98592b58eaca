/* receive_api.c: mb.receive, a C function.
 *
 * A receive is one call into the core and, when it must wait, one yield:
 * no Lua function of moonbeam's lies between the process's code and its
 * messages. (Written in Lua over the core's look-and-wait, receive was a
 * Lua frame that every message entered and left: in a ring of 1000 its
 * bytecode and constants were cold at every hop, a sixth of the time.)
 *
 * The call makes the first look itself. When it waits, a C function cannot
 * look again after its yield: its yield returns straight to its caller. So
 * the scheduler finishes the receive when the process is woken
 * (mbb_receive_on_wake, from vm.c), inside the slice, before the resume,
 * and the message comes back as the call's result. What only the process's
 * code may do there (decode a message whose values allocate, run a match
 * function, apply a code change) runs on the state's main thread, in a
 * protected call. An error there, and a console's Ctrl-C, cannot be raised
 * inside a call that has returned: the process meets it at its next
 * instruction, where the receive returned to (preempt.c). */
#include "bindings.h"
#include "core/mailbox_bounds.h"
#include "core/sched.h"
#include "core/signal.h"
#include "core/timer.h"
#include "core/logger.h"

/* The message m, taken out of p's save queue (prev: the one before it). */
void mbb_take_msg(mb_proc *p, mb_msg *prev, mb_msg *m) {
    mb_saveq_remove(&p->save, prev, m);
    mb_mailbox_taken(p, m);
    mb_proc_msg_done(p, m);
}

/* receive(a, b)'s arguments, as docs/reference.md has them: whether there
 * is a match (left alone at 1 on the stack, which holds nothing else), and
 * the deadline on the runtime clock (< 0: none). A bad one raises at the
 * line of the call (luaL_error's position: the caller's). */
static bool receive_args(lua_State *L, mb_proc *self, double *deadline) {
    int top = lua_gettop(L);
    bool has_match = top > 0 && lua_isfunction(L, 1);
    int t = has_match ? 2 : 1;   /* the timeout's index */
    if (!has_match && top >= 2 && !lua_isnil(L, 2)) {
        if (!lua_isnil(L, 1))
            return luaL_error(L, "receive: match must be a function, got %s", luaL_typename(L, 1));
        t = 2;
    }
    *deadline = -1;
    if (top >= t && !lua_isnil(L, t)) {
        double ms = lua_tonumber(L, t);
        if (lua_type(L, t) == LUA_TNUMBER && ms >= 0) {
            if (ms <= MB_MAX_TIMEOUT_MS) *deadline = mb_now_ms() + ms;
        } else if (lua_type(L, t) != LUA_TSTRING || strcmp(lua_tostring(L, t), "infinity") != 0) {
            return luaL_error(L, "receive: timeout must be a number >= 0 or \"infinity\"");
        }
    }
    if (self->in_match) return luaL_error(L, "receive: cannot receive inside a match function");
    if (top != (has_match ? 1 : 0)) lua_settop(L, has_match ? 1 : 0);   /* a plain receive(): nothing to drop */
    return has_match;
}

/* Apply the code change request on top of L (moonbeam's init.lua:
 * core._take_code); the request is popped. Returns lua_pcall's status,
 * with the error on top when it failed. */
static int take_code(lua_State *L) {
    mbb_push_core_field(L, "_take_code");
    lua_insert(L, -2);   /* the function, then the request */
    return lua_pcall(L, 1, 0, 0);
}

/* Whether match (at that index of L; 0: none) takes the message m: 1, m
 * decoded on top of L; 0, nothing pushed; or -(lua_pcall's status), the
 * error on top. The match runs protected: its error leaves m queued. */
#define UNREADABLE 2   /* take_here: m does not decode */

static int take_here(lua_State *L, mb_proc *self, const mb_msg *m, int match) {
    if (mb_decode(L, m->data, m->len, 1)) return UNREADABLE;
    if (!match) return 1;   /* the common case: no call */
    int top = lua_gettop(L);
    lua_pushvalue(L, match);
    lua_pushvalue(L, top);
    self->in_match = true;
    int rc = lua_pcall(L, 1, 1, 0);
    self->in_match = false;
    if (rc) {
        lua_remove(L, top);   /* the message, under the error */
        return -rc;
    }
    bool taken = lua_toboolean(L, -1);
    lua_settop(L, taken ? top : top - 1);
    return taken;
}

/* m (after prev), which does not decode, out of the queue, and said: a
 * term the runtime built past what a message holds (host/core/term.h).
 * Left there, it was in the way of nothing but counted for ever: a
 * bounded mailbox filled with two of them. */
static void drop_unreadable(mb_proc *self, mb_msg *prev, mb_msg *m) {
    mbb_take_msg(self, prev, m);
    static const char msg[] = "a message that does not decode was dropped";
    mb_log_event ev = {.level = MB_LOG_ERROR, .pid = self->pid, .msg = msg, .msg_len = sizeof msg - 1};
    mb_log(self->rt, &ev);
}

/* What a look of L's found. */
typedef enum look_result { LOOK_NONE, LOOK_TAKEN, LOOK_FAILED } look_result;

/* The first message match (at index match of L; 0: none) takes, taken and
 * pushed onto L; code change requests met on the way applied. FAILED: a
 * match or a code change raised (the error on top of L); a decoding that
 * runs out of memory raises. On L running as the process (a receive's
 * first look), or inside look_on_wake's protected call.
 * A look after a wake goes on after the messages the same receive's match
 * refused already (self->refused), as Erlang's receive does, unless one
 * left the queue since (the count of those that left moved: the place may
 * be gone): each wake ran the match over the whole queue (100,000 queued
 * and 200 arrivals, 20 million calls). */
static look_result look(lua_State *L, mb_proc *self, int match) {
    mb_msg *prev = NULL, *m = self->save.head;
    if (match && self->refused && self->refused_at == atomic_load_explicit(&self->messages_out, memory_order_relaxed)) {
        prev = self->refused;
        m = atomic_load_explicit(&prev->next, memory_order_relaxed);
    }
    for (; m;) {
        if (m->kind == MB_MSG_CODE) {
            if (mb_decode(L, m->data, m->len, 1)) lua_pushnil(L);
            mbb_take_msg(self, prev, m);
            if (take_code(L)) return LOOK_FAILED;
            prev = NULL;   /* the code may have taken or sent anything: from the top */
            m = self->save.head;
            continue;
        }
        /* The match may take messages out itself (mb.demonitor's flush, an
         * unalias's): mb_mailbox_drop keeps this place right meanwhile. */
        if (match) self->look_at = m, self->look_prev = prev, self->look_gone = false;
        int n = take_here(L, self, m, match);
        if (n < 0) return LOOK_FAILED;
        if (n == UNREADABLE) {   /* left queued, no receive could ever take it */
            drop_unreadable(self, prev, m);
            m = prev ? atomic_load_explicit(&prev->next, memory_order_relaxed) : self->save.head;
            continue;
        }
        if (match) {
            prev = self->look_prev;
            if (self->look_gone) {   /* m itself: what the match took is gone */
                if (n > 0) lua_pop(L, 1);
                m = prev ? atomic_load_explicit(&prev->next, memory_order_relaxed) : self->save.head;
                continue;
            }
        }
        if (n > 0) {
            mbb_take_msg(self, prev, m);
            --self->budget;
            return LOOK_TAKEN;
        }
        prev = m;
        m = atomic_load_explicit(&m->next, memory_order_relaxed);   /* after the match: it may have gone */
    }
    if (match && prev) {
        self->refused = prev;
        self->refused_at = atomic_load_explicit(&self->messages_out, memory_order_relaxed);
    }
    return LOOK_NONE;
}

/* Return the message on top of L, giving the scheduler a turn first when
 * the slice is used up: the yield keeps the message, and the resume
 * returns it. */
static int return_taken(lua_State *L, mb_proc *self) {
    return self->budget > 0 ? 1 : mbb_give_turn(L, self, 1);
}

/* mb.receive([timeout]) or mb.receive(match, [timeout]): docs/reference.md. */
int mbb_receive(lua_State *L) {
    mb_proc *self = mbb_self(L);
    double deadline = -1;
    int match = receive_args(L, self, &deadline) ? 1 : 0;
    if (match) self->refused = NULL;   /* a new match: every message is new to it */
    mb_sched_flush_out(self);
    for (;;) {
        mb_signal_drain(self);
        if (mb_proc_take_interrupt(self)) return mbb_raise_plain(L, MB_INTERRUPTED);
        if (self->dying) return mbb_exit_now(L, self);
        look_result r = look(L, self, match);
        if (r == LOOK_FAILED) return lua_error(L);
        if (r == LOOK_TAKEN) return return_taken(L, self);
        if (deadline >= 0 && deadline <= mb_now_ms()) {
            lua_pushnil(L);
            return 1;
        }
        /* The match stays on the stack while the process waits: it is the
         * wake's to run, and nothing else may keep it alive. */
        int n = mbb_wait_for(L, self, deadline, MBB_WAKE_RECEIVE, match);
        if (!self->ext) return n;
        lua_settop(L, match);   /* the host thread's process waited here: look again */
    }
}

/* The wake's error on top of L raised in p's coroutine, at its next
 * instruction; the receive returns nothing meanwhile. */
static int raise_in_process(mb_proc *p, lua_State *L, int base) {
    mbb_raise_soon(p, L);
    lua_settop(L, base);
    lua_settop(((mbb_lua *)p->state)->co, 0);
    return 0;
}

/* A wake's look, on the state's main thread, run by lua_cpcall: nothing
 * outside it may allocate there, where no error is caught (a refusal, at
 * a memory_limit or for a kill, would exit the host), and the closure
 * lua_cpcall makes is made inside it. The match comes off the coroutine
 * and goes back there if nothing is taken; a message taken goes there in
 * its place. An error is raised out of it. */
typedef struct wake_look {
    mb_proc *p;
    look_result r;
} wake_look;

static int look_on_wake(lua_State *L) {
    wake_look *w = lua_touserdata(L, 1);
    lua_State *co = ((mbb_lua *)w->p->state)->co;
    int match = 0;
    if (lua_gettop(co) > 0) {
        lua_xmove(co, L, 1);
        match = lua_gettop(L);
    }
    w->r = look(L, w->p, match);
    if (w->r == LOOK_FAILED) return lua_error(L);
    if (w->r == LOOK_TAKEN) {
        lua_settop(co, 0);
        lua_xmove(L, co, 1);
    } else if (match) {
        lua_xmove(L, co, 1);   /* the match, back where the wait keeps it */
    }
    return 0;
}

int mbb_receive_on_wake(mb_proc *p) {
    mbb_lua *lp = p->state;
    lua_State *co = lp->co;
    mb_signal_drain(p);
    if (p->dying) {
        p->yield = MB_YIELD_EXIT;
        return -1;
    }
    if (atomic_load_explicit(&p->interrupt, memory_order_relaxed) == MB_INTR_ASKED) {
        lua_settop(co, 0);
        mbb_raise_soon(p, NULL);   /* the hook takes the interrupt and raises it */
        return 0;
    }
    mb_msg *m = p->save.head;
    /* One number or boolean for a receive without a match: straight onto
     * the coroutine (nothing to allocate, nothing that can raise). */
    if (lua_gettop(co) == 0 && m && m->kind == MB_MSG_DATA && mb_decode_scalar(co, m->data, m->len)) {
        mbb_take_msg(p, NULL, m);
        --p->budget;
        return 1;
    }
    if (m) {
        lua_State *L = lp->L;
        int base = lua_gettop(L);
        wake_look w = {p, LOOK_NONE};
        if (lua_cpcall(L, look_on_wake, &w)) return raise_in_process(p, L, base);
        if (w.r == LOOK_TAKEN) return 1;
    }
    if (mb_proc_wait_timed_out(p)) {
        lua_settop(co, 0);
        lua_pushnil(co);
        return 1;
    }
    /* Nothing for it yet: it waits on, until the same deadline. */
    lp->on_wake = MBB_WAKE_RECEIVE;
    p->yield = MB_YIELD_WAIT;
    return -1;
}
