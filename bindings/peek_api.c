/* peek_api.c: core.peek(pid, n), the first messages waiting for a process,
 * for the console's info(pid, {messages = n}).
 *
 * A process's queue is its own (mailbox.h): another process reads it only
 * while the owner waits, taking it over for the moment as mb.info does for
 * where it waits (where.c): WAITING -> INSPECTED, copy, then runnable again
 * (its receive finds nothing new and waits again). A running process's
 * queue cannot be read. */
#include <stdlib.h>
#include <string.h>
#include "bindings.h"
#include "core/sched.h"
#include "core/signal.h"

typedef struct copied {
    size_t n;
    mb_buf *msgs;
} copied;

/* Copy the first `want` messages of p's save queue (p is ours now). */
static int copy_queue(mb_proc *p, int want, copied *out) {
    out->msgs = calloc((size_t)want, sizeof *out->msgs);
    if (!out->msgs) return -1;
    for (mb_msg *m = p->save.head; m && out->n < (size_t)want; m = atomic_load_explicit(&m->next, memory_order_relaxed)) {
        if (m->kind == MB_MSG_CODE) continue;   /* a reload's request: not a message to show */
        mb_buf *b = &out->msgs[out->n++];
        mb_buf_init(b);
        if (mb_buf_put(b, m->data, m->len)) return -1;
    }
    return 0;
}

static void free_copied(copied *c) {
    for (size_t i = 0; i < c->n; i++) mb_buf_free(&c->msgs[i]);
    free(c->msgs);
}

/* The copies as an array of decoded messages (a pcall'd function: the
 * copies are its light userdata argument). */
static int decode_copied(lua_State *L) {
    const copied *c = lua_touserdata(L, 1);
    lua_createtable(L, (int)c->n, 0);
    for (size_t i = 0; i < c->n; i++) {
        if (mb_decode(L, c->msgs[i].p, c->msgs[i].len, 1)) lua_pushliteral(L, "(a message that cannot be read)");
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* Take p over if it waits; false when it does not (running, or no Lua). */
static bool take_over(mb_proc *p) {
    int expected = MB_WAITING;
    return p->kind == &mbb_lua_kind && atomic_compare_exchange_strong(&p->status, &expected, MB_INSPECTED);
}

/* core.peek(pid, n) -> array of the first n messages waiting for pid, or
 * nil when they cannot be read now (it runs) or pid is gone. */
static int l_peek(lua_State *L) {
    mb_proc *self = mbb_self(L);
    mb_pid pid = mbb_check_pid(L, 1, "peek");
    int want = (int)luaL_checkinteger(L, 2);
    if (want < 0 || want > 10000) return mbb_raisef(L, "peek: n must be from 0 to 10000");
    copied c = {0, NULL};
    int rc;
    if (pid == self->pid) {
        mb_signal_drain(self);
        rc = copy_queue(self, want, &c);
    } else {
        mb_proc *p = mb_proctab_get(&self->rt->procs, pid);
        if (!p || !take_over(p)) {
            if (p) mb_proctab_put(&self->rt->procs, pid);
            lua_pushnil(L);
            return 1;
        }
        rc = copy_queue(p, want, &c);
        mb_proc_inspected(p, mbb_sched(self));
        mb_proctab_put(&self->rt->procs, pid);
    }
    if (rc) {
        free_copied(&c);
        return mbb_raisef(L, "peek: out of memory");
    }
    /* Decoded under a pcall: an allocation that fails raises, and the
     * copies, malloc's, would be lost with the C frame. */
    lua_pushcfunction(L, decode_copied);
    lua_pushlightuserdata(L, &c);
    int err = lua_pcall(L, 1, 1, 0);
    free_copied(&c);
    return err ? lua_error(L) : 1;
}

const luaL_Reg mbb_peek_fns[] = {{"peek", l_peek}, {NULL, NULL}};
