/* call.c: reply routing and deadlock detection for calls (see call.h). */
#include "call.h"

#include <stdio.h>
#include <stdlib.h>
#include "term.h"
#include "mailbox_bounds.h"
#include "runtime.h"

static void notify_deadlock(mb_runtime *rt, mb_sched *s, mb_pid victim,
                            const uint8_t *chain, size_t len) {
    mb_proc *v = mb_proctab_get(&rt->procs, victim);
    if (!v) return;
    mb_ref ref = atomic_load(&v->await_ref);
    if (ref) {
        mb_msg *m = mb_msg_copy(MB_MSG_DEADLOCK, 0, ref, chain, len);
        if (m) mb_proc_deliver(v, m, s);
    }
    mb_proctab_put(&rt->procs, victim);
}

/* held: server's process, when the caller has it from the table already
 * (then the walk's first step looks nowhere up), or NULL. */
static int begin(mb_proc *self, mb_pid server, mb_proc *held, mb_ref ref, mb_pid *chain) {
    mb_runtime *rt = self->rt;
    mb_saveq_free_all(&self->replies);
    atomic_store(&self->await_ref, ref);
    atomic_store(&self->calling, server);

    /* Follow who waits on whom from the server on; back at self is a cycle. */
    int n = 0;
    chain[n++] = self->pid;
    mb_pid cur = server;
    while (n < MB_MAX_CHAIN) {
        chain[n++] = cur;
        if (cur == self->pid) break;
        /* A process gone (killed) waits on nobody: its call ends with it.
         * (held is not: mb_call_begin_on's caller looked.) */
        mb_pid next;
        if (held && cur == server) {
            next = atomic_load(&held->calling);
        } else {
            mb_proc *q = mb_proctab_get(&rt->procs, cur);
            if (!q) return 0;
            next = mb_proc_gone(q) ? 0 : atomic_load(&q->calling);
            mb_proctab_put(&rt->procs, cur);
        }
        if (!next) return 0;
        cur = next;
    }
    if (chain[n - 1] != self->pid) return 0;   /* too long to tell: let the timeout decide */

    /* Each caller on the cycle is told the chain from itself round to
     * itself: the cycle (chain[0..n-2]) read from its own place in it. */
    int cycle = n - 1;
    mb_buf b;
    mb_buf_init(&b);
    for (int i = 1; i < cycle; i++) {
        b.len = 0;
        int bad = mb_put_tuple_head(&b, (unsigned)n);
        for (int k = 0; k < n && !bad; k++) bad = mb_put_id(&b, MB_T_PID, chain[(i + k) % cycle]);
        if (!bad) notify_deadlock(rt, self->sched, chain[i], b.p, b.len);
    }
    mb_buf_free(&b);
    return n;
}

int mb_call_begin(mb_proc *self, mb_pid server, mb_ref ref, mb_pid *chain) {
    return begin(self, server, NULL, ref, chain);
}

int mb_call_begin_on(mb_proc *self, mb_proc *server, mb_ref ref, mb_pid *chain) {
    return begin(self, server->pid, server, ref, chain);
}

void mb_call_keep_down(mb_proc *self) {
    mb_ref awaited = atomic_load(&self->await_ref);
    for (mb_msg *prev = NULL, *m = self->replies.head, *next; m; m = next) {
        next = atomic_load_explicit(&m->next, memory_order_relaxed);
        if (m->kind != MB_MSG_DOWN || m->ref != awaited) {
            prev = m;
            continue;
        }
        mb_saveq_remove(&self->replies, prev, m);
        atomic_store_explicit(&m->next, NULL, memory_order_relaxed);
        mb_mailbox_untaken(self, m);
        mb_saveq_append(&self->save, m);
    }
}

void mb_call_end(mb_proc *self) {
    atomic_store(&self->await_ref, 0);
    atomic_store(&self->calling, 0);
    mb_saveq_free_all(&self->replies);
}

int mb_call_reply(mb_runtime *rt, mb_sched *from, mb_pid caller, mb_ref ref,
                  const uint8_t *data, size_t len) {
    mb_msg *m = mb_msg_copy(MB_MSG_REPLY, 0, ref, data, len);
    if (!m) return -1;
    mb_call_reply_msg(rt, from, caller, m);
    return 0;
}

void mb_call_deferred(mb_runtime *rt, mb_pid caller, mb_ref ref) {
    mb_proc *p = mb_proctab_get(&rt->procs, caller);
    if (!p) return;
    /* Only while that call is awaited: a compare, so a next call's edge,
     * begun meanwhile, stays. */
    if (atomic_load(&p->await_ref) == ref) {
        mb_pid server = atomic_load(&p->calling);
        if (server) atomic_compare_exchange_strong(&p->calling, &server, 0);
    }
    mb_proctab_put(&rt->procs, caller);
}

void mb_call_reply_msg(mb_runtime *rt, mb_sched *from, mb_pid caller, mb_msg *m) {
    mb_proc *p = mb_proctab_get(&rt->procs, caller);
    if (!p) {   /* the caller is gone: nothing to do, as OTP */
        free(m);
        return;
    }
    /* Answered: the caller no longer waits on anyone, even before it takes
     * the reply, so the replier may call it back without a false cycle. */
    if (atomic_load(&p->await_ref) == m->ref) atomic_store(&p->calling, 0);
    mb_proc_deliver(p, m, from);
    mb_proctab_put(&rt->procs, caller);
}
