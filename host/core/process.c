/* process.c: a process's life: allocation, its memory accounting, waking,
 * delivery, and the ordered way out (mb_proc_terminate). */
#include "process.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "term.h"
#include "blocking.h"
#include "cstack.h"
#include "mailbox_bounds.h"
#include "names.h"
#include "io.h"
#include "lock.h"
#include "msgcache.h"
#include "runtime.h"
#include "sched.h"
#include "signal.h"
#include "table.h"
#include "tabbind.h"
#include "timer.h"

/* The lines of process.h's mb_proc: the senders' ends with the inbox's
 * tail, the owner's begins with its head. */
_Static_assert(offsetof(mb_proc, inbox.head) == MB_CACHE_LINE &&
                   offsetof(mb_proc, queue_bytes_out) < 2 * MB_CACHE_LINE,
               "a process's senders and its owner write lines of their own");
_Static_assert(offsetof(mb_proc, kind) == 2 * MB_CACHE_LINE && offsetof(mb_proc, save) == 3 * MB_CACHE_LINE &&
                   offsetof(mb_proc, abandoned) < 4 * MB_CACHE_LINE &&
                   offsetof(mb_proc, foreign_code) < 5 * MB_CACHE_LINE,
               "what every slice touches is three lines");

/* A process's record, aligned: the lines its senders and its owner write
 * are its own. A slot of the runtime's pool (pages.h): its size is a
 * multiple of its alignment, and slots lie at multiples of their size from
 * a run's page-aligned start. Under AddressSanitizer malloc's, which it
 * watches. */
static mb_proc *record_new(mb_runtime *rt) {
#ifdef MB_ASAN
    (void)rt;
    return aligned_alloc(_Alignof(mb_proc), sizeof(mb_proc));
#else
    return mb_pages_get_slot(&rt->pages, &rt->pages.procs, sizeof(mb_proc));
#endif
}

static void record_free(mb_proc *p) {
#ifdef MB_ASAN
    free(p);
#else
    mb_pages_put_slot(&p->rt->pages, &p->rt->pages.procs, p);
#endif
}

mb_proc *mb_proc_new(mb_runtime *rt) {
    mb_proc *p = record_new(rt);
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    p->rt = rt;
    if (mb_lock_init(&p->lock)) {
        record_free(p);
        return NULL;
    }
    p->arena.pages = &rt->pages;
    atomic_init(&p->status, MB_RUNNABLE);
    mb_inbox_init(&p->inbox);
    p->wait_deadline = -1;
    return p;
}

void mb_proc_free(mb_proc *p) {
    if (!p) return;
    if (atomic_load(&p->status) == MB_EXITING) mb_call_requests_orphaned(p);
    if (p->kind && p->state) p->kind->close(p);   /* one that never ran */
    mb_inbox_free_all(&p->inbox);
    mb_saveq_free_all(&p->save);
    mb_saveq_free_all(&p->replies);
    for (mb_msg *m = p->spare, *next; m; m = next) {
        next = atomic_load_explicit(&m->next, memory_order_relaxed);
        free(m);
    }
    mb_buf_free(&p->exit_reason);
    mb_buf_free(&p->scratch);
    mb_buf_free(&p->tab_out);
    mb_buf_free(&p->spawn_args);
    mb_buf_free(&p->start_term);
    free(p->target);
    free(p->search_path);
    free(p->links.v);
    mb_monvec_free(&p->monitors);
    mb_monvec_free(&p->monitored_by);
    mb_monvec_free(&p->calls);
    mb_monvec_free(&p->aliases);
    free(p->name);
    free(p->where);
    mb_tabbinds_free(&p->bound);
    mb_tabcache_release(&p->tables_used);   /* empty unless it never ended (its end drops them) */
    if (p->ext) {
        pthread_mutex_destroy(&p->ext->mu);
        pthread_cond_destroy(&p->ext->cv);
        free(p->ext);
    }
    pthread_mutex_destroy(&p->lock);
    record_free(p);
}

/* A process past its memory_limit is ended at its next safe point rather
 * than refused a block of up to LIMIT_SMALL bytes, while it stays within
 * LIMIT_GRACE of its limit (end_soon, kind.h): LuaJIT's "not enough
 * memory" raised inside one of its fast functions (tostring) is written
 * where that function left the stack's top, which can lie over a live
 * frame, and the host crashed. Larger blocks are refused where the kind
 * says the state can take that error (mb_kind's refusable: for Lua, only
 * inside a C function); elsewhere they too end the process soon. */
#define LIMIT_SMALL ((size_t)16 << 10)
#define LIMIT_GRACE ((size_t)64 << 10)

typedef enum growth { GROW_OK, GROW_OVER_LIMIT, GROW_NEVER } growth;

/* Whether p may grow to would_use bytes: over its limit, or never (the C
 * stack nearly used up, or doomed: below); it notes why. */
static growth growth_for(mb_proc *p, size_t would_use) {
    /* Its queued messages count too (mailbox_bounds.h). */
    if (p->mem_limit && would_use + mb_mailbox_bytes(p) > p->mem_limit) {
        p->mem_exceeded = true;
        /* Its end is also sent as a delivery over the limit sends it: a
         * compiled loop that is granted its blocks never reaches the
         * interpreter's next instruction, where end_soon would end it (a
         * loop making strings ran on just past its limit for 20 s); a
         * process that must end is left where the monitor finds it in
         * compiled code (preempt.c). Sent once. */
        mb_mailbox_doom(p, "memory_limit", p->sched);
        return GROW_OVER_LIMIT;
    }
    uint8_t refused = atomic_load_explicit(&p->no_growth, memory_order_relaxed);
    if (refused & MB_NOGROW_DOOMED) return GROW_NEVER;
    if (refused || mb_cstack_low()) {   /* doomed: no more growth */
        atomic_fetch_or_explicit(&p->no_growth, MB_NOGROW_CSTACK, memory_order_relaxed);
        return GROW_NEVER;
    }
    return GROW_OK;
}

/* Whether p's growth by grow bytes to would_use is refused. */
static bool refused_now(mb_proc *p, size_t would_use, size_t grow) {
    growth g = growth_for(p, would_use);
    if (g == GROW_OK) return false;
    if (g == GROW_OVER_LIMIT && grow <= LIMIT_SMALL &&
        would_use + mb_mailbox_bytes(p) <= p->mem_limit + LIMIT_GRACE && p->kind && p->kind->end_soon &&
        p->kind->end_soon(p))
        return false;
    return !p->kind || !p->kind->refusable || p->kind->refusable(p);
}

/* What the allocator does beyond its common case (below). Over the limit,
 * with the C stack nearly used up (cstack.h), or while a process that must
 * end is inside C code (MB_NOGROW_DOOMED), it refuses to grow, LuaJIT
 * raises "not enough memory", and the scheduler ends the process with
 * "memory_limit", a C stack overflow or its exit signal's reason
 * (mem_exceeded, no_growth say why), unless the kind says the state cannot
 * take that error now (mb_kind's refusable: compiled code runs), or ends
 * the process at its next safe point instead (end_soon, above). Frees
 * always succeed. */
static void *alloc_checked(mb_proc *p, void *ptr, size_t osize, size_t nsize) {
    size_t used = atomic_load_explicit(&p->mem_used, memory_order_relaxed);
    if (nsize == 0) {
        if (ptr) {
            mb_arena_free(&p->arena, ptr, osize);
            atomic_store_explicit(&p->mem_used, used - osize, memory_order_relaxed);
        }
        return NULL;
    }
    size_t old = ptr ? osize : 0;
    /* An abandoned state is only ever torn down: what that takes is never
     * refused. */
    if (nsize > old && !p->abandoned && refused_now(p, used - old + nsize, nsize - old)) return NULL;
    void *np = ptr ? mb_arena_realloc(&p->arena, ptr, old, nsize) : mb_arena_alloc(&p->arena, nsize);
    if (!np) return NULL;
    atomic_store_explicit(&p->mem_used, used - old + nsize, memory_order_relaxed);
    return np;
}

/* The allocator of every process state. Its common case, a new block from
 * a free list or the newest chunk's tail, or a block's free, with no limit
 * to check and the stack far from its end, is done here by a function that
 * calls nothing and so saves no registers: ~16 of the ~50 instructions each
 * of a state's ~850 allocations took were alloc_checked's prologue and
 * epilogue. */
void *mb_proc_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    mb_proc *p = ud;
#ifndef MB_ASAN   /* there every object is a block of its own (arena.c) */
    size_t used = atomic_load_explicit(&p->mem_used, memory_order_relaxed);
    mb_arena *a = &p->arena;
    if (!ptr) {
        uintptr_t floor = mb_cstack_floor;
        if (nsize - 1 < MB_ARENA_MEDIUM && !p->mem_limit && !p->abandoned &&
            !atomic_load_explicit(&p->no_growth, memory_order_relaxed) &&
            (uintptr_t)__builtin_frame_address(0) >= floor && floor) {
            size_t c = mb_arena_class_of(nsize);
            char *b = a->free[c];
            if (b) {
                __builtin_memcpy(&a->free[c], b, sizeof(void *));
            } else {
                size_t size = mb_arena_class_size(c);
                b = a->bump;
                if ((size_t)(a->end - b) < size) return alloc_checked(p, ptr, osize, nsize);
                a->bump = b + size;
            }
            atomic_store_explicit(&p->mem_used, used + nsize, memory_order_relaxed);
            return b;
        }
    } else if (nsize == 0 && osize <= MB_ARENA_MEDIUM) {
        size_t c = mb_arena_class_of(osize);
        __builtin_memcpy(ptr, &a->free[c], sizeof(void *));
        a->free[c] = ptr;
        atomic_store_explicit(&p->mem_used, used - osize, memory_order_relaxed);
        return NULL;
    }
#endif
    return alloc_checked(p, ptr, osize, nsize);
}

bool mb_proc_wait_timed_out(mb_proc *p) {
    return atomic_load(&p->timed_out_seq) == atomic_load(&p->wait_seq);
}

void mb_proc_wake(mb_proc *p, mb_sched *from) {
    /* Looked at before the exchange: a busy receiver's line is then only
     * read, not taken from it for each message. The load is as ordered as
     * the exchange would be (seq_cst, after the push: see mb_inbox_push). */
    int status = atomic_load(&p->status);
    for (;;) {
        if (status == MB_INSPECTED) {
            /* Its reader makes it runnable if it sees the note; if the
             * reader was done before the note (WAITING again), the wake is
             * ours. */
            atomic_store(&p->wake_missed, true);
            status = atomic_load(&p->status);
            if (status == MB_INSPECTED) return;
        }
        if (status != MB_WAITING) return;
        if (atomic_compare_exchange_strong(&p->status, &status, MB_RUNNABLE)) break;
        /* Lost to a reader that took it meanwhile (INSPECTED): note the
         * wake for it, as above; lost to anything else: not ours. */
    }
    if (p->ext) {
        pthread_mutex_lock(&p->ext->mu);
        pthread_cond_signal(&p->ext->cv);
        pthread_mutex_unlock(&p->ext->mu);
        return;
    }
    mb_sched_push(p->rt, mb_sched_home(p, from), p);
}

void mb_proc_inspected(mb_proc *p, mb_sched *from) {
    /* Stored, then the note read (seq_cst both, as the waker's note then
     * status): a wake that came meanwhile is seen by one side or both, and
     * the exchange lets only one of them push. The inbox is looked at too,
     * as the scheduler's wait does after it stores WAITING (sched.c): a
     * reader that took the process between that store and that look made
     * the look's wake fail, and the message's sender had found it running. */
    atomic_store(&p->status, MB_WAITING);
    if (atomic_exchange(&p->wake_missed, false) || mb_inbox_pushed(&p->inbox)) mb_proc_wake(p, from);
}

static bool alias_active(mb_proc *p, mb_ref ref) {
    pthread_mutex_lock(&p->lock);
    bool found = mb_monvec_has(&p->aliases, ref);
    pthread_mutex_unlock(&p->lock);
    return found;
}

int mb_proc_alias(mb_proc *p, mb_ref ref) {
    pthread_mutex_lock(&p->lock);
    int rc = mb_monvec_add(&p->aliases, ref, 0);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static bool came_through(const mb_msg *m, void *ref) {
    return m->kind == MB_MSG_ALIASED && m->ref == *(mb_ref *)ref;
}

void mb_proc_unalias(mb_proc *p, mb_ref ref) {
    pthread_mutex_lock(&p->lock);
    mb_monvec_take(&p->aliases, ref, NULL);
    pthread_mutex_unlock(&p->lock);
    /* What came through it before and is still queued goes too. */
    mb_signal_drain(p);
    mb_mailbox_drop(p, came_through, &ref, true);
}

int mb_proc_deliver(mb_proc *p, mb_msg *m, mb_sched *from) {
    if (m->kind == MB_MSG_ALIASED && !alias_active(p, m->ref)) {
        free(m);   /* sent through an alias that is no longer active */
        return MB_DELIVER_OK;
    }
    if (m->kind == MB_MSG_REPLY && atomic_load(&p->await_ref) != m->ref) {
        free(m);   /* a late reply: the call is over (an alias, deactivated) */
        return MB_DELIVER_OK;
    }
    switch (m->kind) {
    case MB_MSG_DATA:
        if (p->admits) {
            int rc = mb_mailbox_admit(p, m, from);
            /* A call's request that a doomed mailbox drops is queued all
             * the same, uncounted: it carries its caller's monitor, and the
             * receiver's end (which the doom brings) sends that DOWN. */
            if (rc != MB_ADMIT_QUEUE && !(rc == MB_ADMIT_DROP && m->call_monitor)) {
                free(m);
                return rc == MB_ADMIT_FULL ? MB_DELIVER_FULL : MB_DELIVER_OK;
            }
        }
        /* fall through */
    case MB_MSG_ALIASED:   /* through an alias its owner made: an answer to what it asked (a task's result) */
    case MB_MSG_SYSTEM:
    case MB_MSG_CODE:
    case MB_MSG_DOWN:
        mb_mailbox_count_in(p, m);
        break;
    case MB_MSG_REPLY:
    case MB_MSG_DEADLOCK:
    case MB_MSG_CALL_DOWN:
        break;
    default:
        /* Counted before it can be seen: whoever sees it queued sees it counted. */
        if ((m->ending = (uint8_t)mb_signal_fate(p, m))) atomic_fetch_add_explicit(&p->ending, 1, memory_order_relaxed);
        /* (Not the host thread's process: its Lua code is told, and goes on.) */
        if (m->ending == MB_FATE_ENDS && !p->ext) atomic_fetch_add_explicit(&p->doomed, 1, memory_order_relaxed);
        atomic_fetch_add(&p->sig_pending, 1);
        break;
    }
    bool ends = m->ending;   /* m is the owner's once pushed */
    mb_inbox_push(&p->inbox, m);
    mb_proc_wake(p, from);
    if (ends) {
        mb_sched_hurry(p->rt, p);
        mb_blocking_hurry(p->rt, p);
    }
    return MB_DELIVER_OK;
}

/* A message or signal to a process of another node: its distribution
 * layer's (runtime.h, remote_signal), or dropped when this host is none. */
static int to_node(mb_runtime *rt, mb_pid from, mb_pid dest, mb_msg_kind kind, mb_ref ref, const void *bytes,
                   size_t len) {
    mb_remote_signal_fn f = atomic_load(&rt->remote_signal);
    return f && f(rt, from, dest, (int)kind, ref, bytes, len) ? -1 : MB_DELIVER_OK;
}

/* Whether a message of kind to dest goes to another node: messages (a
 * timer's) and exit signals do; replies and the like never name one. */
static bool for_node(mb_pid dest, mb_msg_kind kind) {
    return mb_pid_is_remote(dest) && (kind == MB_MSG_DATA || kind == MB_SIG_LINK_EXIT || kind == MB_SIG_EXIT ||
                                      kind == MB_SIG_DOWN);
}

int mb_send_msg(mb_runtime *rt, mb_sched *s, mb_pid dest, mb_msg *m) {
    if (for_node(dest, m->kind)) {
        int rc = to_node(rt, m->from, dest, m->kind, 0, m->data, m->len);
        free(m);
        return rc;
    }
    mb_proc *t = mb_proctab_get(&rt->procs, dest);   /* none for 0 */
    if (!t) {
        free(m);
        return MB_DELIVER_OK;
    }
    int rc = mb_proc_deliver(t, m, s);
    mb_proctab_put(&rt->procs, dest);
    return rc;
}

/* Spare blocks: at most this many, small ones (msgcache.h). */
#define SPARE_MAX 2

mb_msg *mb_proc_msg(mb_proc *self, mb_msg_kind kind, mb_ref ref, const void *bytes, size_t len) {
    mb_msg *m = self->spare;
    if (m && m->cap >= len) {   /* a stack, linked through next: a push and a pop are a store or two */
        self->spare = atomic_load_explicit(&m->next, memory_order_relaxed);
        self->nspare--;
        mb_msg_init(m, kind, self->pid, ref, len);
    } else if ((m = mb_msgcache_get(len)) != NULL) {   /* its thread's: blocks its receivers freed */
        mb_msg_init(m, kind, self->pid, ref, len);
    } else {
        if (!(m = mb_msg_new(kind, self->pid, ref, mb_msg_block_cap(len)))) return NULL;
        m->len = len;
    }
    if (len) memcpy(m->data, bytes, len);
    return m;
}

void mb_proc_msg_done(mb_proc *self, mb_msg *m) {
    if (!mb_msg_block_small(m->cap)) {
        free(m);
    } else if (self->nspare < SPARE_MAX) {
        atomic_store_explicit(&m->next, self->spare, memory_order_relaxed);
        self->spare = m;
        self->nspare++;
    } else if (!mb_msgcache_put(m)) {
        free(m);
    }
}

/* The message path: one lookup, and no copy made for the dead. self: the
 * sender, whose spare block the message may take; NULL: a new block. */
static int send_to(mb_runtime *rt, mb_sched *s, mb_proc *self, mb_pid from, mb_pid dest, mb_msg_kind kind,
                   mb_ref ref, const void *bytes, size_t len) {
    mb_proc *t = mb_proctab_get(&rt->procs, dest);
    if (!t) return MB_DELIVER_OK;
    mb_msg *m = self ? mb_proc_msg(self, kind, ref, bytes, len) : mb_msg_copy(kind, from, ref, bytes, len);
    int rc = m ? mb_proc_deliver(t, m, s) : -1;
    mb_proctab_put(&rt->procs, dest);
    return rc;
}

int mb_send(mb_runtime *rt, mb_sched *s, mb_pid from, mb_pid dest, mb_msg_kind kind, mb_ref ref,
            const void *bytes, size_t len) {
    if (for_node(dest, kind)) return to_node(rt, from, dest, kind, ref, bytes, len);
    return send_to(rt, s, NULL, from, dest, kind, ref, bytes, len);
}

int mb_proc_send(mb_proc *self, mb_sched *s, mb_pid dest, mb_msg_kind kind, mb_ref ref,
                 const void *bytes, size_t len) {
    return send_to(self->rt, s, self, self->pid, dest, kind, ref, bytes, len);
}

void mb_proc_send_down(mb_proc *p, mb_sched *from, mb_pid watcher, mb_ref ref) {
    if (mb_send(p->rt, from, p->pid, watcher, MB_SIG_DOWN, ref, p->exit_reason.p, p->exit_reason.len) < 0)
        fprintf(stderr, "moonbeam: out of memory sending a DOWN signal\n");
}

#define FEW_LINKS 16   /* up to this many, the exit signals go ahead of the DOWNs */

static int by_pid(const void *a, const void *b) {
    mb_pid x = *(const mb_pid *)a, y = *(const mb_pid *)b;
    return (x > y) - (x < y);
}

/* Whether pid is in v, sorted, of n pids; with no v, every pid is. */
static bool in_sorted(const mb_pid *v, uint32_t n, mb_pid pid) {
    if (!v) return true;
    return bsearch(&pid, v, n, sizeof *v, by_pid) != NULL;
}

/* DOWNs to its monitors' watchers and its calls' callers: those linked to
 * it too (in linked, sorted), or all with no such list, or only the others. */
static void send_downs(mb_proc *p, mb_monvec *watchers, mb_monvec *calls, const mb_pid *linked, uint32_t n,
                       bool to_linked) {
    for (uint32_t i = 0; i < watchers->n; i++)
        if (in_sorted(linked, n, watchers->v[i].pid) == to_linked)
            mb_proc_send_down(p, p->sched, watchers->v[i].pid, watchers->v[i].ref);
    for (uint32_t i = 0; i < calls->n; i++)
        if (in_sorted(linked, n, calls->v[i].pid) == to_linked)
            mb_proc_send_down(p, p->sched, calls->v[i].pid, calls->v[i].ref);
}

/* Its links' exit signals, its monitors' watchers, and the callers of the
 * calls it holds (signal.h). The DOWNs go first to processes that are not
 * linked to it: a DOWN behind 50,000 exit signals woke its watcher after
 * the 50,000 linked processes had run their ends (663 ms, against 0.3 ms
 * ahead of them). One both linked and watching gets its exit signal first,
 * as Erlang sends them: each pair's signals keep their order. */
static void send_signals(mb_proc *p, mb_pidvec *links, mb_monvec *watchers, mb_monvec *calls) {
    mb_pid *linked = NULL;
    if (links->n > FEW_LINKS && (watchers->n || calls->n) && (linked = malloc(links->n * sizeof *linked))) {
        memcpy(linked, links->v, links->n * sizeof *linked);
        qsort(linked, links->n, sizeof *linked, by_pid);
        send_downs(p, watchers, calls, linked, links->n, false);
    }
    for (uint32_t i = 0; i < links->n; i++)
        if (mb_send(p->rt, p->sched, p->pid, links->v[i], MB_SIG_LINK_EXIT, 0, p->exit_reason.p, p->exit_reason.len) < 0)
            fprintf(stderr, "moonbeam: out of memory sending an exit signal\n");
    send_downs(p, watchers, calls, linked, links->n, true);   /* no list: all of them, as there were few links */
    free(linked);
}

void mb_proc_terminate(mb_proc *p) {
    mb_runtime *rt = p->rt;
    if (p->exit_reason.len == 0 && mb_put_string(&p->exit_reason, "normal", 6)) {
        /* No memory even for the reason: the signals go out empty-handed. */
        fprintf(stderr, "moonbeam: out of memory building an exit reason\n");
    }
    atomic_store(&p->status, MB_EXITING);
    /* The state goes first: a Lua state's __gc finalizers run as it closes
     * and may still link, monitor, register or spawn_link (the process is
     * alive until retired). Taken after, what they made is undone with the
     * rest and a new link's partner gets its EXIT, instead of a stale link. */
    mb_waittimer_release(p, p->sched);   /* from a blocking thread (sched NULL): posted to its loop */
    if (p->kind) p->kind->close(p);

    pthread_mutex_lock(&p->lock);
    p->exiting = true;
    mb_pidvec links = p->links;
    mb_monvec mine = p->monitors, watchers = p->monitored_by, calls = p->calls;
    char *name = p->name;
    memset(&p->links, 0, sizeof p->links);
    memset(&p->monitors, 0, sizeof p->monitors);
    memset(&p->monitored_by, 0, sizeof p->monitored_by);
    memset(&p->calls, 0, sizeof p->calls);
    p->name = NULL;
    pthread_mutex_unlock(&p->lock);

    /* Resources first, so whoever sees the EXIT or DOWN finds them free:
     * its sockets before its name too, so a successor that waits for the
     * name can bind the address. */
    mb_io_owner_died(p);       /* its sockets and ports: closed (waits for their loops) */
    if (name) mb_names_release(rt, name, p->pid);
    free(name);
    mb_tables_owner_died(p);   /* its tables: to their heirs, or gone */
    mb_tab_bound_died(p);      /* its registry entries */
    mb_tabcache_release(&p->tables_used);   /* after its state's finalizers, which may use tables */
    for (uint32_t i = 0; i < mine.n; i++) {
        mb_proc *t = mb_proctab_get(&rt->procs, mine.v[i].pid);
        if (!t) continue;
        pthread_mutex_lock(&t->lock);
        mb_monvec_take(&t->monitored_by, mine.v[i].ref, NULL);
        pthread_mutex_unlock(&t->lock);
        mb_proctab_put(&rt->procs, t->pid);
    }
    mb_monvec_free(&mine);
    mb_call_demonitor(p);   /* a call it was in */

    mb_pid pid = p->pid;
    mb_proctab_ref(&rt->procs, pid);      /* keep p while the signals go out */
    mb_proctab_retire(&rt->procs, pid);   /* alive(pid) is false from here */
    send_signals(p, &links, &watchers, &calls);
    free(links.v);
    mb_monvec_free(&watchers);
    mb_monvec_free(&calls);
    mb_proctab_put(&rt->procs, pid);
}

/* ---- small vectors: most processes have zero to two links ------------- */

static int grow(void **v, uint32_t *cap, size_t elem) {
    uint32_t ncap = *cap ? *cap * 2 : 2;
    void *nv = realloc(*v, ncap * elem);
    if (!nv) return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

int mb_pidvec_add(mb_pidvec *v, mb_pid pid) {
    for (uint32_t i = 0; i < v->n; i++)
        if (v->v[i] == pid) return 0;
    if (v->n == v->cap && grow((void **)&v->v, &v->cap, sizeof *v->v)) return -1;
    v->v[v->n++] = pid;
    return 0;
}

int mb_pidvec_remove(mb_pidvec *v, mb_pid pid) {
    for (uint32_t i = 0; i < v->n; i++) {
        if (v->v[i] == pid) {
            v->v[i] = v->v[--v->n];
            return 1;
        }
    }
    return 0;
}

/* ---- monitors by ref: a dense array and, past MB_MONVEC_SCAN, an index --
 * The index is open addressing with linear probing over slot numbers
 * (slot + 1; 0 is empty), at most half full. A removal swaps the last
 * entry into the hole (its index cell is pointed at the new slot) and
 * closes the probe gap by shifting later cells back, so there are no
 * tombstones. */

static uint32_t ref_home(mb_ref ref, uint32_t icap) {
    return (uint32_t)((ref * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (icap - 1);
}

static void index_put(mb_monvec *v, uint32_t slot) {
    uint32_t mask = v->icap - 1, i = ref_home(v->v[slot].ref, v->icap);
    while (v->idx[i]) i = (i + 1) & mask;
    v->idx[i] = slot + 1;
}

/* The index cell holding ref's slot, or UINT32_MAX. */
static uint32_t index_find(const mb_monvec *v, mb_ref ref) {
    uint32_t mask = v->icap - 1;
    for (uint32_t i = ref_home(ref, v->icap); v->idx[i]; i = (i + 1) & mask)
        if (v->v[v->idx[i] - 1].ref == ref) return i;
    return UINT32_MAX;
}

/* Empty cell i, moving back any later cell of the run that may sit there. */
static void index_delete(mb_monvec *v, uint32_t i) {
    uint32_t mask = v->icap - 1, j = i;
    for (;;) {
        v->idx[i] = 0;
        for (;;) {
            j = (j + 1) & mask;
            if (!v->idx[j]) return;
            uint32_t h = ref_home(v->v[v->idx[j] - 1].ref, v->icap);
            /* j's entry may move to i unless its home lies cyclically in (i, j]. */
            bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
            if (!stays) break;
        }
        v->idx[i] = v->idx[j];
        i = j;
    }
}

static int index_rebuild(mb_monvec *v) {
    uint32_t icap = v->cap * 2;
    uint32_t *idx = calloc(icap, sizeof *idx);
    if (!idx) return -1;
    free(v->idx);
    v->idx = idx;
    v->icap = icap;
    for (uint32_t s = 0; s < v->n; s++) index_put(v, s);
    return 0;
}

int mb_monvec_add(mb_monvec *v, mb_ref ref, mb_pid pid) {
    if (v->n == v->cap && grow((void **)&v->v, &v->cap, sizeof *v->v)) return -1;
    if (v->cap > MB_MONVEC_SCAN && v->icap < v->cap * 2 && index_rebuild(v)) return -1;
    v->v[v->n].ref = ref;
    v->v[v->n].pid = pid;
    if (v->idx) index_put(v, v->n);
    v->n++;
    return 0;
}

/* ref's slot, or UINT32_MAX; *cell: its index cell (when indexed). */
static uint32_t slot_of(const mb_monvec *v, mb_ref ref, uint32_t *cell) {
    if (v->idx) {
        *cell = index_find(v, ref);
        return *cell == UINT32_MAX ? UINT32_MAX : v->idx[*cell] - 1;
    }
    for (uint32_t i = 0; i < v->n; i++)
        if (v->v[i].ref == ref) return i;
    return UINT32_MAX;
}

bool mb_monvec_has(const mb_monvec *v, mb_ref ref) {
    uint32_t cell;
    return slot_of(v, ref, &cell) != UINT32_MAX;
}

int mb_monvec_take(mb_monvec *v, mb_ref ref, mb_pid *pid_out) {
    uint32_t cell = UINT32_MAX, slot = slot_of(v, ref, &cell);
    if (slot == UINT32_MAX) return 0;
    if (pid_out) *pid_out = v->v[slot].pid;
    uint32_t last = --v->n;
    if (v->idx) index_delete(v, cell);
    if (slot != last) {
        v->v[slot] = v->v[last];
        /* The moved entry's cell still says last + 1 (v[last] keeps its ref). */
        if (v->idx) v->idx[index_find(v, v->v[slot].ref)] = slot + 1;
    }
    return 1;
}

void mb_monvec_free(mb_monvec *v) {
    free(v->v);
    free(v->idx);
    memset(v, 0, sizeof *v);
}
