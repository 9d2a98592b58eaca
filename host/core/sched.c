/* sched.c: scheduler threads, run queues, stealing and sleeping.
 *
 * A run queue is a mutex-guarded FIFO: pushes and pops are a few pointer
 * moves, and on two to sixteen cores the lock is not where time goes (see
 * bench/). A scheduler with an empty queue steals; with nothing to steal it
 * blocks in uv_run until a timer fires or mb_wake_send wakes it. Wakers
 * only send when the target says it is sleeping, so a busy host makes no
 * wake-up system calls. */
#include "sched.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "blocking.h"
#include "lock.h"
#include "msgcache.h"
#include "netloop.h"
#include "runtime.h"
#include "signal.h"
#include "sysmon.h"
#include "tablock.h"
#include "timer.h"

#define POLL_EVERY 32     /* process runs between looks at the loop */
/* A process's Lua code runs on its scheduler's C stack, and Lua recursion
 * through C functions (string.gsub with a function, sort comparators,
 * __tostring) grows that stack by kilobytes a level. LuaJIT raises "stack
 * overflow" once a coroutine's Lua stack is full, which such recursion
 * reaches after about 30 MB of C stack: this size leaves room for that (and
 * for a sanitizer's larger frames), so the process gets the error and the
 * host lives. Only the pages touched are ever backed by memory. */
#define SCHED_STACK_BYTES ((size_t)64 << 20)
#define NAP_MS 1          /* how long an idle scheduler sleeps while others have queued work */

#define MB_BACK_QUEUE_MS 20.0   /* the most a cut-short process waits behind the others */

static void queue_append(mb_proc **head, mb_proc **tail, mb_proc *p) {
    if (*tail) (*tail)->runq_next = p;
    else *head = p;
    *tail = p;
}

static mb_proc *queue_take(mb_proc **head, mb_proc **tail) {
    mb_proc *p = *head;
    if (p) {
        *head = p->runq_next;
        if (!*head) *tail = NULL;
    }
    return p;
}

/* A process whose slice was cut short goes to the back queue. The clock is
 * read only while the back queue holds someone (a loop that never yields). */
static uint32_t rq_push(mb_sched *s, mb_proc *p) {
    p->runq_next = NULL;
    mb_spin_lock(&s->rq_lock);
    if (p->hogged) {
        if (!s->back_head) s->back_due = mb_now_ms() + MB_BACK_QUEUE_MS;
        queue_append(&s->back_head, &s->back_tail, p);
    } else {
        queue_append(&s->rq_head, &s->rq_tail, p);
    }
    uint32_t n = atomic_load_explicit(&s->rq_len, memory_order_relaxed) + 1;
    atomic_store(&s->rq_len, n);
    mb_spin_unlock(&s->rq_lock);
    return n;
}

static mb_proc *rq_pop(mb_sched *s) {
    if (atomic_load_explicit(&s->rq_len, memory_order_relaxed) == 0) return NULL;
    mb_spin_lock(&s->rq_lock);
    mb_proc *p;
    double now = s->back_head ? mb_now_ms() : 0;
    if (s->back_head && (!s->rq_head || now >= s->back_due)) {
        p = queue_take(&s->back_head, &s->back_tail);
        if (s->back_head) s->back_due = now + MB_BACK_QUEUE_MS;
    } else {
        p = queue_take(&s->rq_head, &s->rq_tail);
    }
    if (p) atomic_store(&s->rq_len, atomic_load_explicit(&s->rq_len, memory_order_relaxed) - 1);
    mb_spin_unlock(&s->rq_lock);
    return p;
}

/* Unlink p from s's back queue and put it first in s's run queue; false
 * when it is not there. */
static bool rq_hurry(mb_sched *s, mb_proc *p) {
    mb_spin_lock(&s->rq_lock);
    mb_proc **link = &s->back_head, *prev = NULL;
    while (*link && *link != p) {
        prev = *link;
        link = &prev->runq_next;
    }
    bool found = *link != NULL;
    if (found) {
        *link = p->runq_next;
        if (s->back_tail == p) s->back_tail = prev;
        p->runq_next = s->rq_head;
        s->rq_head = p;
        if (!s->rq_tail) s->rq_tail = p;
    }
    mb_spin_unlock(&s->rq_lock);
    return found;
}

/* A kill is rare: each back queue is looked through under its lock (a
 * process is in one queue at most, or running). 64 spinners on two
 * schedulers, each cut short every 4-6 ms, kept a killed one waiting
 * 350 ms in the back queue; now it runs next. */
void mb_sched_hurry(mb_runtime *rt, mb_proc *p) {
    for (int i = 0; i < rt->nscheds; i++)
        if (rq_hurry(&rt->scheds[i], p)) return;
}

static void wake_sleeper(mb_runtime *rt, mb_sched *except) {
    for (int i = 0; i < rt->nscheds; i++) {
        mb_sched *o = &rt->scheds[i];
        if (o != except && atomic_load(&o->sleeping)) {
            mb_wake_send(&o->wakeup);
            return;
        }
    }
}

void mb_sched_wake_idle(mb_runtime *rt, mb_sched *from) {
    if (atomic_load(&rt->sleepers) > 0) wake_sleeper(rt, from);
}

/* Work from outside the schedulers (timers, the host thread) goes to one
 * that sleeps if there is one: it is idle. */
static mb_sched *pick(mb_runtime *rt) {
    if (atomic_load(&rt->sleepers) > 0)
        for (int i = 0; i < rt->nscheds; i++)
            if (atomic_load(&rt->scheds[i].sleeping)) return &rt->scheds[i];
    return &rt->scheds[atomic_fetch_add(&rt->next_sched, 1) % (uint32_t)rt->nscheds];
}

void mb_sched_push(mb_runtime *rt, mb_sched *s, mb_proc *p) {
    int own = s != NULL;
    if (!s) s = pick(rt);
    /* Work from outside the schedulers (a timer, the host's thread, the
     * blocking pool) does not wait for a busy loop's slice to run out: ask
     * that loop to yield now (a thread id, unlike a pthread_t, is safe to
     * signal even if that thread is gone). Not for a push from a process on
     * its own scheduler: a busy producer would yield at each message. Read
     * before the push: p is the queue's once pushed. */
    bool preempt = !own && !p->hogged && atomic_load_explicit(&s->running_hog, memory_order_relaxed);
    uint32_t n = rq_push(s, p);
    if (preempt) {
        int tid = atomic_load_explicit(&s->tid, memory_order_relaxed);
        if (tid > 0) syscall(SYS_tgkill, getpid(), tid, MB_PREEMPT_SIGNAL);
    }
    if (atomic_load(&s->sleeping)) {
        /* A push from a callback of s's own loop (a socket's data or a
         * timer woke p) needs no wake-up through the kernel: uv_stop makes
         * the loop's poll not block and uv_run return, to the run queue.
         * Another thread's push must wake it. */
        if (!own || !pthread_equal(atomic_load(&s->server), pthread_self())) {
            mb_wake_send(&s->wakeup);
        } else {
            uv_stop(&s->loop);
            if (n > 1 && atomic_load(&rt->sleepers) > 1) wake_sleeper(rt, s);
        }
    } else if (atomic_load(&rt->sleepers) > 0 && atomic_load(&rt->nappers) == 0 && n > 1) {
        /* More than we run next. A napping scheduler looks at every queue
         * within NAP_MS and steals what waits behind another: no wake-up
         * while one naps. Woken at each second process queued, it was woken
         * at every slice of a producer and its server (which alternate on
         * one core): a write and the other core's wake-up for nothing,
         * 3,000 of them in 1.5M casts. Nor for the one process a slice
         * queues, the next to run (a message to a process that waited):
         * on an idle host that wake-up was a system call and another
         * core's wake on every message (a round trip after a pause took 14
         * µs on two schedulers, 6 on one); a slice that then runs on, or
         * what its thread does after it (a state's close), with it queued
         * behind, is the system monitor's to see (sysmon.c). */
        wake_sleeper(rt, s);
    }
}

/* A woken process goes back to the scheduler it last ran on, while that
 * one is awake and not running a loop that was cut short: there its memory
 * is in cache, and its run queue stays its own. Queued on the waker's
 * instead, every process a busy server answers piled onto the server's
 * scheduler, which the others then stole from at every message: 64 callers
 * of one server ran 2.5x slower on two schedulers than on one. A request
 * and its reply between two processes that ran together stay together. */
mb_sched *mb_sched_home(const mb_proc *p, mb_sched *from) {
    mb_sched *home = p->sched;
    if (!from || !home || home == from) return from;
    /* Woken by from's own loop (its socket's data, a timer, a post): run
     * where that loop is, so that the process's next send and recv on the
     * socket are done in its own turn, not posted across threads. */
    if (pthread_equal(atomic_load_explicit(&from->server, memory_order_relaxed), pthread_self()) &&
        !atomic_load_explicit(&from->current, memory_order_relaxed))
        return from;
    if (atomic_load_explicit(&home->sleeping, memory_order_relaxed) ||
        atomic_load_explicit(&home->running_hog, memory_order_relaxed))
        return from;
    return home;
}

/* Give s's loop the posts first..last (newest first, as posts are kept). */
static void post_chain(mb_sched *s, mb_post *first, mb_post *last) {
    pthread_mutex_lock(&s->post_lock);
    last->next = s->posts;
    s->posts = first;
    atomic_store(&s->has_posts, 1);
    pthread_mutex_unlock(&s->post_lock);
    /* A scheduler that is awake runs its posts at its next look at the
     * loop, and checks for them after it says it sleeps (sched_main): only
     * a sleeper needs the wake-up. The timer thread always sleeps in its loop. */
    if (s->id < 0 || atomic_load(&s->sleeping)) mb_wake_send(&s->wakeup);
}

int mb_sched_post(mb_sched *s, void (*fn)(mb_sched *, void *), void *arg) {
    mb_post *post = malloc(sizeof *post);
    if (!post) return -1;
    post->fn = fn;
    post->arg = arg;
    post_chain(s, post, post);
    return 0;
}

#define TIMER_BATCH 64

void mb_sched_flush_timers(mb_proc *p) {
    /* Looked at first: every slice's end comes here, and nearly all find
     * none (an exchange is a locked write). Taken whole: the owner pushes
     * onto what it finds, and a push that finds it taken meanwhile starts
     * a new batch. */
    if (!atomic_load_explicit(&p->timer_batch, memory_order_relaxed)) return;
    mb_post *batch = atomic_exchange(&p->timer_batch, NULL);
    if (!batch) return;
    mb_post *last = batch;
    while (last->next) last = last->next;
    post_chain(p->rt->timer_thread, batch, last);   /* newest first, as posts are kept */
}

/* Whether p's slice is one the monitor handed its scheduler off from (it
 * may run for seconds: a compiled loop), or p runs off the schedulers. */
static bool slice_handed_off(const mb_proc *p) {
    const mb_sched *s = p->sched;
    return !s || atomic_load_explicit(&s->slice, memory_order_relaxed) != p->slice_word;
}

/* The batch is the process's, not its scheduler's: a process whose thread
 * lost its scheduler (mb_sched_hand_off) goes on arming timers. Such a
 * slice's timers go at once, and the hand-off sends those armed before it
 * (sysmon.c): held to the slice's end, a send_after(10) in a compiled loop
 * of a second came after the second, and a loop polling for its own timer
 * never saw it. */
int mb_sched_post_timer(mb_runtime *rt, mb_proc *from, void (*fn)(mb_sched *, void *), void *arg) {
    if (!from) return mb_sched_post(rt->timer_thread, fn, arg);
    mb_post *post = malloc(sizeof *post);
    if (!post) return -1;
    post->fn = fn;
    post->arg = arg;
    mb_post *head = atomic_load_explicit(&from->timer_batch, memory_order_relaxed);
    do post->next = head;
    while (!atomic_compare_exchange_weak(&from->timer_batch, &head, post));
    if (!head) from->timer_batch_n = 0;   /* a new batch (the last one was taken) */
    if (++from->timer_batch_n >= TIMER_BATCH || slice_handed_off(from)) mb_sched_flush_timers(from);
    return 0;
}

void mb_sched_send_out(mb_proc *p) {
    p->out_due = false;
    mb_flush_out_fn flush = atomic_load_explicit(&p->rt->flush_out, memory_order_relaxed);
    if (flush) flush(p->rt);
}

void mb_sched_run_posts(mb_sched *s) {
    if (!atomic_load(&s->has_posts)) return;
    pthread_mutex_lock(&s->post_lock);
    mb_post *list = s->posts, *fifo = NULL;
    s->posts = NULL;
    atomic_store(&s->has_posts, 0);
    pthread_mutex_unlock(&s->post_lock);
    while (list) {   /* reverse into arrival order */
        mb_post *next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    while (fifo) {
        mb_post *next = fifo->next;
        fifo->fn(s, fifo->arg);
        free(fifo);
        fifo = next;
    }
}

static void on_wakeup(void *s) { mb_sched_run_posts(s); }

/* Take work from a scheduler that has more than it can run now: a queue of
 * two or more, or one process queued behind a slice that has not ended
 * since our last look (a nap ago). A lone process behind a short slice
 * stays, so a request and its reply keep to one core. */
static mb_proc *steal(mb_sched *s) {
    mb_runtime *rt = s->rt;
    for (int k = 1; k < rt->nscheds; k++) {
        mb_sched *o = &rt->scheds[(s->id + k) % rt->nscheds];
        uint32_t n = atomic_load_explicit(&o->rq_len, memory_order_relaxed);
        uint64_t slices = MB_SLICE_COUNT(atomic_load_explicit(&o->slice, memory_order_relaxed));
        int stalled = slices == s->seen[o->id];
        s->seen[o->id] = slices;
        if (n == 0 || (n == 1 && !stalled)) continue;
        mb_proc *p = rq_pop(o);
        if (p) return p;
    }
    return NULL;
}

static int others_have_work(mb_sched *s) {
    for (int k = 0; k < s->rt->nscheds; k++)
        if (&s->rt->scheds[k] != s && atomic_load(&s->rt->scheds[k].rq_len) > 0) return 1;
    return 0;
}

static void on_nap(uv_timer_t *t) { (void)t; }

/* Where a slice's process goes next: p->yield says why it stopped. `s` is
 * the scheduler that ran it, or NULL for a thread that lost its scheduler
 * during the slice (then nothing of a scheduler's may be touched). */
static void after_slice(mb_runtime *rt, mb_sched *s, mb_proc *p) {
    switch (p->yield) {
    case MB_YIELD_RESCHED:
        atomic_store(&p->status, MB_RUNNABLE);
        mb_sched_push(rt, s, p);
        break;
    case MB_YIELD_WAIT: {
        /* Every wait gets its own number, even one that ends at once: the
         * resume tells a timeout by timed_out_seq == wait_seq, which an
         * earlier wait's timeout (or the 0 both start at) must not match. */
        uint64_t seq = atomic_fetch_add(&p->wait_seq, 1) + 1;
        /* Still the owner: a message left at the head means no wait. */
        if (mb_inbox_nonempty(&p->inbox)) {
            atomic_store(&p->status, MB_RUNNABLE);
            mb_sched_push(rt, s, p);
            break;
        }
        if (!s) {
            /* No loop to arm a timeout on: run again, and the receive
             * finds nothing and waits on the scheduler that runs it. */
            atomic_store(&p->status, MB_RUNNABLE);
            mb_sched_push(rt, NULL, p);
            break;
        }
        if (p->wait_deadline >= 0) {
            /* The loop's clock, not a fresh read (none on a call's path):
             * it is never ahead, so a deadline it calls past is past and
             * ends the wait here, with no timer; one it does not, gone by
             * since the wait began, gets a timer due now, which its clock
             * fires within its grain (timer_clock.c). */
            if (p->wait_deadline <= (double)uv_now(&s->loop)) {
                atomic_store(&p->timed_out_seq, seq);
                atomic_store(&p->status, MB_RUNNABLE);
                mb_sched_push(rt, s, p);
                break;
            }
            mb_waittimer_arm(p, s, p->wait_deadline);
        }
        /* Once WAITING is visible another thread may run p, even end it:
         * hold a reference across the re-check (a send that raced in). */
        mb_pid pid = p->pid;
        mb_proctab_ref(&rt->procs, pid);
        atomic_store(&p->status, MB_WAITING);
        /* No longer the owner (another thread may run p now): only what
         * senders publish may be read. */
        if (mb_inbox_pushed(&p->inbox)) {
            int expected = MB_WAITING;
            if (atomic_compare_exchange_strong(&p->status, &expected, MB_RUNNABLE))
                mb_sched_push(rt, s, p);
        }
        mb_proctab_put(&rt->procs, pid);
        break;
    }
    case MB_YIELD_BLOCKING:
        /* mb.blocking: a pool thread runs fn and hands p back. */
        if (mb_blocking_submit(rt, p) == 0) break;
        atomic_store(&p->status, MB_RUNNABLE);   /* no pool thread: fn runs here, next slice */
        mb_sched_push(rt, s, p);
        break;
    case MB_YIELD_EXIT:
    default:
        mb_proc_terminate(p);
        break;
    }
}

/* End the slice w. False when the monitor took the scheduler meanwhile;
 * a CLAIMED slice is pinned for a moment only: wait for it. */
static bool slice_end(mb_sched *s, uint64_t w) {
    for (;;) {
        uint64_t expected = w;
        if (atomic_compare_exchange_strong(&s->slice, &expected, w & ~(uint64_t)MB_SLICE_RUNNING))
            return true;
        if (expected != (w | MB_SLICE_CLAIMED)) return false;   /* handed off */
        sched_yield();   /* pinned: the monitor lets go within microseconds */
    }
}

typedef enum slice_end_kind {
    SLICE_LOST = -1,   /* this thread lost s during it (mb_sched_hand_off): leave */
    SLICE_DONE,
    SLICE_CUT,         /* preempted: it ran its whole time */
} slice_end_kind;

/* Run one slice of p. SLICE_LOST: p has been sent on its way and the thread
 * must leave. */
static slice_end_kind run_one(mb_sched *s, mb_proc *p) {
    mb_runtime *rt = s->rt;
    atomic_store(&p->status, MB_RUNNING);
    p->sched = s;
    atomic_store_explicit(&s->current, p, memory_order_relaxed);
    uint64_t w = ((MB_SLICE_COUNT(atomic_load_explicit(&s->slice, memory_order_relaxed)) + 1) << 3) |
                 MB_SLICE_RUNNING;
    atomic_store_explicit(&s->running, p, memory_order_relaxed);
    /* Only a slice from the back queue touches the flags: none of this on
     * the message path. */
    bool from_back = p->hogged;
    if (from_back) {
        atomic_store_explicit(&s->running_hog, true, memory_order_relaxed);
        p->hogged = false;   /* until this slice is cut short in turn */
    }
    p->slice_word = w;
    atomic_store_explicit(&s->slice, w, memory_order_release);
    p->kind->run(p);
    bool kept = slice_end(s, w);
    mb_sched_flush_timers(p);
    mb_sched_flush_out(p);
    if (!kept) {
        /* s is another thread's now: p's wait timer may be on its loop. */
        mb_orphan *o = p->orphan;
        p->orphan = NULL;
        p->hogged = p->yield == MB_YIELD_RESCHED;   /* still busy: behind the others */
        mb_waittimer_release(p, NULL);
        p->sched = NULL;
        after_slice(rt, NULL, p);
        mb_orphan_done(o);
        return SLICE_LOST;
    }
    atomic_store_explicit(&s->current, NULL, memory_order_relaxed);
    if (from_back) atomic_store_explicit(&s->running_hog, false, memory_order_relaxed);
    bool cut = p->hogged;   /* p may run elsewhere once after_slice queued it */
    after_slice(rt, s, p);
    return cut ? SLICE_CUT : SLICE_DONE;
}

/* A loop with sockets is polled at every look (one epoll_wait that does
 * not block): their readiness shows in no timeout, and a busy scheduler
 * would otherwise leave them until it sleeps. */
static void poll_loop(mb_sched *s) {
    mb_sched_run_posts(s);
    mb_clock_fire_due(&s->waits);   /* receive timeouts due: a busy loop's poll may not see their clock yet */
    uv_update_time(&s->loop);
    if (uv_backend_timeout(&s->loop) == 0 || (s->ns && mb_netloop_busy(s))) uv_run(&s->loop, UV_RUN_NOWAIT);
}

static void sched_main(void *arg) {
    mb_sched *s = arg;
    mb_runtime *rt = s->rt;
    unsigned runs = 0;
    bool lost = false;
    mb_msgcache cache = {0};   /* this thread's, even if it loses s (msgcache.h) */
    mb_msgcache_attach(&cache);
    mb_tab_reader_thread(s->id);   /* its reads of shared tables count on its own line */
    atomic_store(&s->tid, (int)syscall(SYS_gettid));
    atomic_store(&s->server, pthread_self());
    /* A write to a socket whose peer is gone (netsock.c runs here) fails
     * with EPIPE instead of raising SIGPIPE, which would end the host. */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    atomic_store(&s->running_hog, false);   /* a hand-off's stuck slice is not ours */
    while (!atomic_load(&rt->stopping)) {
        mb_proc *p = rq_pop(s);
        if (!p) p = steal(s);
        if (p) {
            slice_end_kind end = run_one(s, p);
            if (end == SLICE_LOST) {
                lost = true;
                break;   /* s went to a fresh thread while p ran */
            }
            /* After a preempted slice too: it took milliseconds, and the
             * receive timeouts armed on this loop are due. */
            if (++runs % POLL_EVERY == 0 || end == SLICE_CUT) poll_loop(s);
            continue;
        }
        /* Nothing to run: posts first (a post sent no wake-up to a
         * scheduler that was awake), then work ahead of the next spawns. */
        if (atomic_load(&s->has_posts)) {
            mb_sched_run_posts(s);
            mb_clock_fire_due(&s->waits);   /* a stream of posts must not hold up the timeouts */
            continue;
        }
        if (mb_pages_ahead(&rt->pages) || (rt->kind && rt->kind->ahead && rt->kind->ahead(rt))) continue;
        /* Last, and only with every other scheduler asleep: a collapse takes
         * milliseconds, and one made while processes passed messages on the
         * other scheduler slowed them (a ring of 1000: 17%). */
        if (atomic_load(&rt->sleepers) >= rt->nscheds - 1 && mb_pages_collapse(&rt->pages)) {
            /* The loop between two: a host whose memory grew has dozens of
             * slabs to collapse, and this loop's timers (receive timeouts)
             * and sockets are no other scheduler's. */
            poll_loop(s);
            continue;
        }
        atomic_store(&s->sleeping, 1);
        atomic_fetch_add(&rt->sleepers, 1);
        /* Re-check after announcing sleep: a push that saw sleeping == 0
         * left work in a queue we can now see. */
        int work = atomic_load(&s->rq_len) > 0 || atomic_load(&s->has_posts) ||
                   atomic_load(&rt->stopping);
        int nap = !work && others_have_work(s);
        if (nap) {
            atomic_fetch_add(&rt->nappers, 1);
            uv_timer_start(&s->nap, on_nap, NAP_MS, 0);
        }
        uv_run(&s->loop, work ? UV_RUN_NOWAIT : UV_RUN_ONCE);
        if (nap) {
            uv_timer_stop(&s->nap);
            atomic_fetch_sub(&rt->nappers, 1);
        }
        atomic_fetch_sub(&rt->sleepers, 1);
        atomic_store(&s->sleeping, 0);
    }
    mb_msgcache_attach(NULL);
    mb_msgcache_flush(&cache);
    if (lost) atomic_fetch_sub(&rt->orphans, 1);   /* this thread is done with the runtime */
}

/* A thread that takes over a scheduler starts once the monitor has marked
 * the slice it takes it from as handed off. */
static void hand_off_main(void *arg) {
    mb_sched *s = arg;
    while (!(atomic_load(&s->slice) & MB_SLICE_HANDED)) sched_yield();
    sched_main(s);
}

int mb_sched_hand_off(mb_sched *s, uv_thread_t *stuck) {
    uv_thread_t fresh;
    uv_thread_options_t big = {UV_THREAD_HAS_STACK_SIZE, SCHED_STACK_BYTES};
    if (uv_thread_create_ex(&fresh, &big, hand_off_main, s)) return -1;
    atomic_fetch_add(&s->rt->orphans, 1);
    *stuck = s->thread;
    s->thread = fresh;
    atomic_fetch_or(&s->slice, MB_SLICE_HANDED);
    return 0;
}

/* Every handle left on a loop is embedded in a record that outlives it
 * (the scheduler's, the timers', the shutdown's): closed, not freed. */
static void close_walk(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static int loop_init(mb_runtime *rt, mb_sched *s, int id, int nscheds) {
    s->rt = rt;
    s->id = id;
    s->seen = calloc((size_t)nscheds, sizeof *s->seen);
    if (!s->seen) return -1;
    mb_spin_init(&s->rq_lock);
    if (uv_loop_init(&s->loop)) return -1;
    if (id >= 0 && mb_netloop_init(s)) return -1;   /* the timer thread has no sockets */
    if (mb_wake_init(&s->loop, &s->wakeup, on_wakeup, s) || uv_timer_init(&s->loop, &s->nap) ||
        mb_lock_init(&s->post_lock))
        return -1;
    mb_clock_init(&s->waits);
    return id >= 0 ? mb_waits_attach(s) : 0;   /* the timer thread waits for nobody */
}

static void loop_close(mb_sched *s) {
    mb_sched_run_posts(s);
    uv_walk(&s->loop, close_walk, s);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&s->loop)) fprintf(stderr, "moonbeam: a loop did not close cleanly\n");
    if (s->id >= 0) mb_waits_free_all(s);
    if (s->ns) mb_netloop_free(s);
    mb_wake_free(&s->wakeup);
    pthread_mutex_destroy(&s->post_lock);
    free(s->seen);
}

/* The timer thread: a loop that only runs timers and posts. */
static void timer_main(void *arg) {
    mb_sched *s = arg;
    while (!atomic_load(&s->rt->stopping)) {
        uv_run(&s->loop, UV_RUN_ONCE);
        mb_timers_turn(s->rt);
    }
}

int mb_sched_start_all(mb_runtime *rt, int n) {
    rt->scheds = calloc((size_t)n, sizeof *rt->scheds);
    rt->timer_thread = calloc(1, sizeof *rt->timer_thread);
    if (!rt->scheds || !rt->timer_thread) return -1;
    for (int i = 0; i < n; i++)
        if (loop_init(rt, &rt->scheds[i], i, n)) return -1;
    if (loop_init(rt, rt->timer_thread, -1, n) || mb_timers_attach(&rt->timers, &rt->timer_thread->loop)) return -1;
    rt->nscheds = n;
    int started = 0;
    if (uv_thread_create(&rt->timer_thread->thread, timer_main, rt->timer_thread) == 0) {
        uv_thread_options_t big = {UV_THREAD_HAS_STACK_SIZE, SCHED_STACK_BYTES};
        for (started = 0; started < n; started++)
            if (uv_thread_create_ex(&rt->scheds[started].thread, &big, sched_main, &rt->scheds[started])) break;
    } else {
        started = -1;
    }
    if (started == n && (rt->sysmon = mb_sysmon_start(rt))) return 0;
    atomic_store(&rt->stopping, true);
    for (int j = 0; j < started && j < n; j++) {
        mb_wake_send(&rt->scheds[j].wakeup);
        uv_thread_join(&rt->scheds[j].thread);
    }
    if (started >= 0) {
        mb_wake_send(&rt->timer_thread->wakeup);
        uv_thread_join(&rt->timer_thread->thread);
    }
    return -1;
}

/* Wait for every scheduler to finish its current slice. One that the
 * monitor cannot end (a long C call, a loop in a __gc finalizer) is left
 * after a grace period (the OS process is exiting anyway) rather than
 * hanging the exit forever. */
static int join_all(mb_runtime *rt, double grace_ms) {
    int stuck = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(grace_ms / 1000);
    for (int i = 0; i < rt->nscheds; i++)
        if (pthread_timedjoin_np(rt->scheds[i].thread, NULL, &ts)) stuck++;
    return stuck;
}

/* Threads that lost their scheduler leave when their slice ends. */
static int orphans_left(mb_runtime *rt, double grace_ms) {
    double until = mb_now_ms() + grace_ms;
    while (atomic_load(&rt->orphans) > 0 && mb_now_ms() < until) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return atomic_load(&rt->orphans);
}

#define STOP_DRAIN_MS 3000   /* the sockets' flushes at the stop, in all */

int mb_sched_stop_all(mb_runtime *rt) {
    /* First: no hand-off while we join. The monitor stays to end where it
     * is a slice that never yields (a compiled loop): that takes
     * milliseconds, not the grace period. */
    mb_sysmon_host_stopping(rt->sysmon);
    atomic_store(&rt->stopping, true);
    for (int i = 0; i < rt->nscheds; i++) mb_wake_send(&rt->scheds[i].wakeup);
    mb_wake_send(&rt->timer_thread->wakeup);
    int stuck = join_all(rt, 2000);
    stuck += orphans_left(rt, stuck ? 0 : 2000);
    mb_sysmon_stop(rt->sysmon);
    rt->sysmon = NULL;
    if (stuck) {
        fprintf(stderr, "moonbeam: %d thread(s) still run a process that never yields; "
                        "leaving them to the OS at exit\n", stuck);
        return -1;
    }
    if (pthread_join(rt->timer_thread->thread, NULL))
        fprintf(stderr, "moonbeam: cannot join the timer thread\n");
    /* Every loop's sockets first: closing them answers processes, which
     * wakes them onto a run queue, whose lock loop_close destroys. */
    for (int i = 0; i < rt->nscheds; i++) mb_netloop_close(&rt->scheds[i]);
    /* What they had queued still goes out, as on a close: each socket's
     * flush ends within its own 2 s (netsock.c); this bound is a backstop. */
    double until = mb_now_ms() + STOP_DRAIN_MS;
    for (int i = 0; i < rt->nscheds; i++) mb_netloop_drain(&rt->scheds[i], until);
    for (int i = 0; i < rt->nscheds; i++) loop_close(&rt->scheds[i]);
    loop_close(rt->timer_thread);   /* last: closing scheduler loops may post to it */
    free(rt->scheds);
    free(rt->timer_thread);
    rt->scheds = NULL;
    rt->timer_thread = NULL;
    return 0;
}
