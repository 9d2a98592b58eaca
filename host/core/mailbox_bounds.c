/* mailbox_bounds.c: max_queue, on_full and memory_limit's share of queued
 * messages (see mailbox_bounds.h). */
#include "mailbox_bounds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "term.h"

void mb_mailbox_doom(mb_proc *p, const char *reason, mb_sched *from) {
    if (atomic_exchange(&p->queue_doomed, true)) return;
    mb_small_term r = mb_small_str(reason);
    mb_msg *sig = mb_msg_copy(MB_SIG_OVERFLOW, 0, 0, r.b, r.n);
    if (!sig) {
        fprintf(stderr, "moonbeam: out of memory ending a process with %s\n", reason);
        atomic_store(&p->queue_doomed, false);   /* the next delivery tries again */
        return;
    }
    mb_proc_deliver(p, sig, from);
}

int mb_mailbox_admit(mb_proc *p, mb_msg *m, mb_sched *from) {
    if (atomic_load_explicit(&p->queue_doomed, memory_order_relaxed)) return MB_ADMIT_DROP;
    uint32_t max = p->max_queue;
    if (max) {
        /* Count first, then look: see the header for why this bounds. */
        uint32_t n = atomic_fetch_add_explicit(&p->queue_bounded, 1, memory_order_relaxed);
        /* max <= 2^31 - 1: 2 * max fits. */
        if (n >= max && (p->on_full != MB_FULL_DROP_OLD || n >= 2 * max)) {
            atomic_fetch_sub_explicit(&p->queue_bounded, 1, memory_order_relaxed);
            if (p->on_full != MB_FULL_EXIT) return MB_ADMIT_FULL;
            mb_mailbox_doom(p, "queue_full", from);
            return MB_ADMIT_DROP;
        }
        m->bounded = 1;
    }
    if (p->mem_limit) {
        size_t used = atomic_load_explicit(&p->mem_used, memory_order_relaxed) + mb_mailbox_bytes(p) +
                      mb_msg_size(m);
        if (used > p->mem_limit) {
            if (m->bounded) {
                atomic_fetch_sub_explicit(&p->queue_bounded, 1, memory_order_relaxed);
                m->bounded = 0;
            }
            mb_mailbox_doom(p, "memory_limit", from);
            return MB_ADMIT_DROP;
        }
    }
    return MB_ADMIT_QUEUE;
}

int mb_mailbox_drop(mb_proc *p, bool (*match)(const mb_msg *, void *), void *ud, bool all) {
    int n = 0;
    mb_msg *prev = NULL;
    for (mb_msg *m = p->save.head; m;) {
        mb_msg *next = atomic_load_explicit(&m->next, memory_order_relaxed);
        if (match(m, ud)) {
            if (p->in_match) {   /* a receive's match runs this: its look's place (receive_api.c) */
                if (m == p->look_at) p->look_gone = true;
                else if (m == p->look_prev) p->look_prev = prev;
            }
            mb_saveq_remove(&p->save, prev, m);
            mb_mailbox_taken(p, m);
            free(m);
            n++;
            if (!all) break;
        } else {
            prev = m;
        }
        m = next;
    }
    return n;
}

void mb_mailbox_trim(mb_proc *p) {
    if (p->on_full != MB_FULL_DROP_OLD || p->in_match) return;
    uint32_t n = atomic_load_explicit(&p->queue_bounded, memory_order_relaxed);
    if (n <= p->max_queue) return;
    /* The count may include messages still on their way to the inbox:
     * newer than anything here, so dropping for them is right. */
    uint32_t excess = n - p->max_queue;
    mb_msg *prev = NULL;
    for (mb_msg *m = p->save.head; m && excess;) {
        mb_msg *next = atomic_load_explicit(&m->next, memory_order_relaxed);
        if (m->bounded) {
            mb_saveq_remove(&p->save, prev, m);
            mb_mailbox_taken(p, m);
            free(m);
            excess--;
        } else {
            prev = m;   /* a trapped EXIT or a DOWN stays */
        }
        m = next;
    }
}
