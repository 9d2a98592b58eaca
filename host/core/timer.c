/* timer.c: send_after timers (a map by ref, for cancel_timer from any
 * thread; a heap by due time on the timer thread) and the per-process
 * receive timeout. See timer.h for the rules. */
#include "timer.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "process.h"
#include "runtime.h"
#include "sched.h"

enum { T_PENDING, T_FIRED, T_CANCELLED };

/* The shortest interval between an interval timer's messages, in ms: one
 * shorter is this one (a microsecond; libuv's timers made it a whole ms). */
#define MIN_INTERVAL_MS 0.001
#define SWEEP_MIN 1024   /* timers on the clock before the first sweep_gone */

struct mb_timer {
    mb_heap_node node;       /* first; node.due: when, under the map's lock once
                                started (an interval moves it), else the timer
                                thread's */
    mb_timer *next;          /* chain in the map, under the map's lock */
    mb_runtime *rt;
    mb_sched *s;             /* the timer thread */
    /* s's thread only. The start is batched and the cancel's close is not,
     * so they reach the timer thread in either order: the later one frees. */
    bool start_seen, close_seen;
    _Atomic int state;
    mb_ref ref;
    double interval;         /* ms between messages; 0: one message (send_after) */
    mb_pid owner;            /* an interval's: it stops when the owner is gone */
    mb_timer_dest dest;
    mb_msg *msg;
};

/* A process's receive timeout, on the loop of the scheduler it last waited
 * on (s), touched only by that scheduler's thread. It is not stopped when
 * the wait ends early: the next wait keeps it if it is due no later than
 * its own deadline, and when it fires before that deadline it sets itself
 * again for the rest. So a process that waits with a timeout and is woken
 * before it, over and over (a caller of gen_server.call), costs no timer
 * heap operation per wait. */
struct mb_waittimer {
    mb_heap_node node;       /* first; node.due: when it fires, on s's clock */
    mb_runtime *rt;
    mb_sched *s;
    mb_pid pid;
    uint64_t seq;      /* the wait it serves (the process's wait_seq then) */
    double deadline;   /* that wait's deadline */
    mb_waittimer *prev, *next;   /* s's, all of them (mb_waits_free_all) */
};

/* ---- the map of live timers -------------------------------------------- */

int mb_timers_init(mb_timers *t) {
    t->nbuckets = 1024;
    t->count = 0;
    t->sweep_at = SWEEP_MIN;
    mb_clock_init(&t->clock);
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    if (!t->buckets) return -1;
    if (pthread_mutex_init(&t->lock, NULL)) {
        free(t->buckets);
        return -1;
    }
    return 0;
}

static void timer_free(mb_timer *tm);

void mb_timers_destroy(mb_timers *t) {
    for (size_t i = 0; i < t->clock.pending.n; i++) timer_free((mb_timer *)t->clock.pending.v[i]);
    mb_clock_free(&t->clock);
    free(t->buckets);   /* the other timers were freed as they fired or were cancelled */
    pthread_mutex_destroy(&t->lock);
}

static size_t bucket(mb_timers *t, mb_ref ref) {
    return (size_t)((ref * 0x9E3779B97F4A7C15ull) >> 32) & (t->nbuckets - 1);
}

static void map_grow(mb_timers *t) {
    size_t nb = t->nbuckets * 2, old_n = t->nbuckets;
    mb_timer **b = calloc(nb, sizeof *b), **old = t->buckets;
    if (!b) return;
    t->buckets = b;
    t->nbuckets = nb;
    for (size_t i = 0; i < old_n; i++) {
        mb_timer *e = old[i];
        while (e) {
            mb_timer *next = e->next;
            size_t j = bucket(t, e->ref);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(old);
}

static void map_add(mb_timers *t, mb_timer *tm) {
    pthread_mutex_lock(&t->lock);
    size_t i = bucket(t, tm->ref);
    tm->next = t->buckets[i];
    t->buckets[i] = tm;
    if (++t->count > t->nbuckets * 2) map_grow(t);
    pthread_mutex_unlock(&t->lock);
}

/* Unlink and return the timer with this ref; caller holds the lock. */
static mb_timer *map_take_locked(mb_timers *t, mb_ref ref) {
    mb_timer **pe = &t->buckets[bucket(t, ref)];
    while (*pe && (*pe)->ref != ref) pe = &(*pe)->next;
    mb_timer *tm = *pe;
    if (tm) {
        *pe = tm->next;
        t->count--;
    }
    return tm;
}

/* ---- send_after -------------------------------------------------------- */

static void dest_free(mb_timer_dest *d) {
    free(d->name);
    free(d->node);
}

static void timer_free(mb_timer *tm) {
    free(tm->msg);
    dest_free(&tm->dest);
    free(tm);
}

/* A copy of m (an interval's message) to the timer's destination, or m
 * itself (send_after's). A name of another node goes by its distribution
 * layer (none: dropped, as to a node that is down); a free name and a pid
 * that is gone drop it, as OTP does. */
static void send_to_dest(mb_runtime *rt, const mb_timer_dest *d, mb_msg *m) {
    if (d->node) {
        mb_remote_named_fn f = atomic_load(&rt->remote_named);
        if (f && f(rt, m->from, d->name, d->node, m->data, m->len))
            fprintf(stderr, "moonbeam: out of memory: a timer's message to another node is dropped\n");
        free(m);
        return;
    }
    mb_pid pid = d->name ? mb_names_whereis(rt, d->name, strlen(d->name)) : d->pid;
    mb_send_msg(rt, NULL, pid, m);
}

static void deliver(mb_timer *tm) {
    send_to_dest(tm->rt, &tm->dest, tm->msg);
    tm->msg = NULL;
}

/* Whether pid is one of this node's, gone: its timers end (another node's
 * pid is not known to be gone). */
static bool gone_here(mb_runtime *rt, mb_pid pid) {
    return pid && !mb_pid_is_remote(pid) && !mb_proctab_alive(&rt->procs, pid);
}

/* The timer ends here: out of the map, freed (it is out of the heap). */
static void timer_end(mb_timer *tm) {
    pthread_mutex_lock(&tm->rt->timers.lock);
    map_take_locked(&tm->rt->timers, tm->ref);
    pthread_mutex_unlock(&tm->rt->timers.lock);
    timer_free(tm);
}

/* One tick of an interval (taken out of the heap): a copy of its message,
 * under the map's lock so that once cancel_timer (which takes it too)
 * returns, none is sent; then back in the heap for the next. Due again an
 * interval after the last, not after this tick: a tick late by a few
 * microseconds does not push the ones after it; one that missed a whole
 * interval (the host stalled) is not made up for by a burst. Always later
 * than now (fire_due's): the interval is at least MIN_INTERVAL_MS, which a
 * double's step at any uptime is far below, so fire_due's loop ends. The
 * interval ends with its owner or its pid destination (gone_here).
 * Cancelled: its canceller's post frees it. */
static void interval_tick(mb_timer *tm, double now) {
    mb_runtime *rt = tm->rt;
    pthread_mutex_lock(&rt->timers.lock);
    int expected = T_PENDING;
    bool live = atomic_load(&tm->state) == T_PENDING;
    bool ends = live && (!mb_proctab_alive(&rt->procs, tm->owner) ||
                         gone_here(rt, tm->dest.pid));
    if (ends && atomic_compare_exchange_strong(&tm->state, &expected, T_FIRED)) {
        map_take_locked(&rt->timers, tm->ref);
    } else if (live) {
        mb_msg *m = mb_msg_copy(tm->msg->kind, tm->msg->from, 0, tm->msg->data, tm->msg->len);
        if (m) send_to_dest(rt, &tm->dest, m);
        else fprintf(stderr, "moonbeam: out of memory: an interval's message is dropped\n");
        tm->node.due += tm->interval;
        if (!(tm->node.due > now)) {   /* a whole interval went by: from this tick on */
            double t = mb_now_ms();
            tm->node.due = t + tm->interval;
        }
        ends = false;
    }
    pthread_mutex_unlock(&rt->timers.lock);
    if (ends) {
        timer_free(tm);
    } else if (live && mb_clock_set(&rt->timers.clock, &tm->node)) {
        fprintf(stderr, "moonbeam: out of memory: an interval timer ends\n");
        expected = T_PENDING;
        if (atomic_compare_exchange_strong(&tm->state, &expected, T_FIRED)) timer_end(tm);
    }
}

/* A send_after timer taken out of the heap, due: its message goes, unless it
 * was cancelled (its canceller's post frees it). */
static void fire(mb_timer *tm, double now) {
    if (tm->interval > 0) {
        interval_tick(tm, now);
        return;
    }
    int expected = T_PENDING;
    if (!atomic_compare_exchange_strong(&tm->state, &expected, T_FIRED)) return;
    pthread_mutex_lock(&tm->rt->timers.lock);
    map_take_locked(&tm->rt->timers, tm->ref);
    pthread_mutex_unlock(&tm->rt->timers.lock);
    deliver(tm);
    timer_free(tm);
}

static void send_after_due(mb_heap_node *n, double now) { fire((mb_timer *)n, now); }

/* Batched: the starts of a process's slice come as a batch of posts, tens of
 * thousands at times, and each one set the timerfd (a system call) and
 * fired what was already due on its own: a burst of 30,000 timers due
 * within 50 ms fell 120-150 ms behind, against 10-30 ms on libuv's timers.
 * The timer thread fires and sets its clock once a loop turn
 * (mb_timers_turn). */
int mb_timers_attach(mb_timers *t, uv_loop_t *loop) {
    t->clock.batched = true;
    return mb_clock_attach(&t->clock, loop, send_after_due);
}

/* Whether tm, pending, is bound for (or, an interval, owned by) a process
 * of this node that has ended: it will deliver nothing. */
static bool for_the_gone(mb_runtime *rt, const mb_timer *tm) {
    if (tm->dest.name || tm->dest.node) return false;   /* a name is looked up when due */
    return gone_here(rt, tm->dest.pid) || (tm->interval > 0 && !mb_proctab_alive(&rt->procs, tm->owner));
}

/* A timer to a pid ends with the pid, as OTP's: a process that set an
 * hour's timeout to itself and ended left the timer and its message on the
 * heap for the hour (20,000 such processes with 10 KB messages held 196
 * MB). Each time the clock has doubled since the last sweep (or since it
 * fell to a quarter of that mark), those are dropped: the clock holds at
 * most about twice the timers that can still deliver, at a walk's cost per
 * doubling. */
static void sweep_gone(mb_runtime *rt) {
    mb_timers *t = &rt->timers;
    mb_heap *h = &t->clock.pending;
    if (h->n < t->sweep_at) {
        /* Fallen well below it (its timers fired): the next sweep comes at
         * twice what is left, not at twice a peak long gone. */
        if (h->n * 4 < t->sweep_at) t->sweep_at = h->n * 2 > SWEEP_MIN ? h->n * 2 : SWEEP_MIN;
        return;
    }
    size_t k = 0;
    mb_timer **gone = malloc(h->n * sizeof *gone);
    if (gone) {
        for (size_t i = 0; i < h->n; i++) {
            mb_timer *tm = (mb_timer *)h->v[i];
            if (atomic_load(&tm->state) == T_PENDING && for_the_gone(rt, tm)) gone[k++] = tm;
        }
        for (size_t i = 0; i < k; i++) {
            int expected = T_PENDING;   /* else cancelled meanwhile: its close frees it */
            if (!atomic_compare_exchange_strong(&gone[i]->state, &expected, T_FIRED)) continue;
            mb_clock_unset(&t->clock, &gone[i]->node);
            timer_end(gone[i]);
        }
        free(gone);
    }
    t->sweep_at = h->n * 2 > SWEEP_MIN ? h->n * 2 : SWEEP_MIN;
}

void mb_timers_turn(mb_runtime *rt) {
    if (atomic_load(&rt->stopping)) return;
    sweep_gone(rt);
    mb_clock_fire_due(&rt->timers.clock);
}

/* Posted to the timer thread by mb_send_after: into the heap (the loop
 * turn's end fires it if it is due already, mb_timers_turn). A timer
 * cancelled before it started is freed by whichever of this and the
 * cancel's close comes last. */
static void timer_start_here(mb_sched *s, void *arg) {
    (void)s;
    mb_timer *tm = arg;
    mb_timers *t = &tm->rt->timers;
    tm->start_seen = true;
    if (atomic_load(&tm->state) == T_CANCELLED) {
        if (tm->close_seen) timer_free(tm);
        return;
    }
    if (mb_clock_set(&t->clock, &tm->node)) {
        fprintf(stderr, "moonbeam: cannot start a timer; its message is dropped\n");
        int expected = T_PENDING;
        if (atomic_compare_exchange_strong(&tm->state, &expected, T_FIRED)) timer_end(tm);
        /* else cancelled meanwhile: its close, still to come, frees it */
    }
}

/* Posted by mb_cancel_timer: the one who cancelled frees the timer, unless
 * its start has not arrived yet (the start then frees it). */
static void timer_close_cancelled(mb_sched *s, void *arg) {
    (void)s;
    mb_timer *tm = arg;
    tm->close_seen = true;
    if (!tm->start_seen) return;
    if (mb_heap_holds(&tm->node)) mb_clock_unset(&tm->rt->timers.clock, &tm->node);
    timer_free(tm);
}

mb_ref mb_send_after(mb_runtime *rt, mb_proc *from, double ms, mb_timer_dest dest, mb_msg *msg) {
    return mb_send_interval(rt, from, 0, ms, 0, dest, msg);
}

mb_ref mb_send_interval(mb_runtime *rt, mb_proc *from, mb_pid owner, double ms, double interval,
                        mb_timer_dest dest, mb_msg *msg) {
    /* The bindings check both; a caller in C gets the nearest sane ones. */
    if (!(ms >= 0)) ms = 0;
    if (ms > MB_MAX_TIMEOUT_MS) ms = MB_MAX_TIMEOUT_MS;
    if (!(interval > 0)) interval = 0;
    else if (interval < MIN_INTERVAL_MS) interval = MIN_INTERVAL_MS;
    mb_timer *tm = calloc(1, sizeof *tm);
    if (!tm) {
        free(msg);
        dest_free(&dest);
        return 0;
    }
    tm->rt = rt;
    tm->ref = mb_make_ref(rt);
    tm->node.due = mb_now_ms() + ms;
    tm->node.at = MB_HEAP_NOWHERE;
    tm->interval = interval;
    tm->owner = owner;
    tm->dest = dest;
    tm->msg = msg;
    atomic_init(&tm->state, T_PENDING);
    tm->s = rt->timer_thread;
    mb_ref ref = tm->ref;
    map_add(&rt->timers, tm);
    if (mb_sched_post_timer(rt, from, timer_start_here, tm)) {
        pthread_mutex_lock(&rt->timers.lock);
        map_take_locked(&rt->timers, ref);
        pthread_mutex_unlock(&rt->timers.lock);
        timer_free(tm);
        return 0;
    }
    return ref;
}

double mb_cancel_timer(mb_runtime *rt, mb_ref ref) {
    pthread_mutex_lock(&rt->timers.lock);
    mb_timer *tm = map_take_locked(&rt->timers, ref);
    double left = -1;
    if (tm) {
        /* Read what we need first: once fired, the timer thread frees it. */
        double due = tm->node.due;
        mb_pid dest = tm->dest.pid;
        int expected = T_PENDING;
        if (atomic_compare_exchange_strong(&tm->state, &expected, T_CANCELLED)) {
            left = due - mb_now_ms();
            if (left < 0) left = 0;
            /* A timer to a pid dies with the pid (OTP cancels it then). */
            if (gone_here(rt, dest)) left = -1;
            if (mb_sched_post(tm->s, timer_close_cancelled, tm))
                fprintf(stderr, "moonbeam: out of memory freeing a timer\n");
        }
    }
    pthread_mutex_unlock(&rt->timers.lock);
    return left;
}

/* ---- receive timeouts -------------------------------------------------- */

/* Due (taken out of s's clock), on s's thread: the wait it was set for
 * times out, or, set for an earlier wait, it is set again for the rest of
 * this one's. */
static void wait_due(mb_heap_node *n, double now) {
    mb_waittimer *t = (mb_waittimer *)n;
    mb_proc *p = mb_proctab_get(&t->rt->procs, t->pid);
    if (!p) return;
    if (atomic_load(&p->wait_seq) == t->seq) {
        if (now < t->deadline) {
            t->node.due = t->deadline;
            if (mb_clock_set(&t->s->waits, &t->node)) fprintf(stderr, "moonbeam: cannot arm a receive timeout\n");
        } else {
            atomic_store(&p->timed_out_seq, t->seq);
            mb_proc_wake(p, t->s);
        }
    }
    mb_proctab_put(&t->rt->procs, t->pid);
}

int mb_waits_attach(mb_sched *s) {
    s->wait_timers = NULL;
    return mb_clock_attach(&s->waits, &s->loop, wait_due);
}

/* Off s's clock and list, freed: on s's thread. */
static void wait_free(mb_waittimer *t) {
    if (mb_heap_holds(&t->node)) mb_clock_unset(&t->s->waits, &t->node);
    if (t->prev) t->prev->next = t->next;
    else t->s->wait_timers = t->next;
    if (t->next) t->next->prev = t->prev;
    free(t);
}

static void wait_free_here(mb_sched *s, void *arg) {
    (void)s;
    wait_free(arg);
}

static void wait_release(mb_waittimer *t, mb_sched *s) {
    if (t->s == s) wait_free(t);
    else if (mb_sched_post(t->s, wait_free_here, t))
        fprintf(stderr, "moonbeam: out of memory closing a timer\n");
}

void mb_waittimer_arm(mb_proc *p, mb_sched *s, double deadline) {
    /* The loop's clock (no clock read on a call's path): close enough to
     * tell "never". */
    if (!(deadline - (double)uv_now(&s->loop) <= MB_MAX_TIMEOUT_MS)) return;   /* never fires: no timer */
    mb_waittimer *t = p->wtimer;
    if (t && t->s != s) {   /* the process moved: its old timer stays with the old loop */
        wait_release(t, s);
        t = p->wtimer = NULL;
    }
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t) {
            fprintf(stderr, "moonbeam: cannot arm a receive timeout\n");
            return;
        }
        t->node.at = MB_HEAP_NOWHERE;
        t->rt = p->rt;
        t->s = s;
        t->pid = p->pid;
        t->next = s->wait_timers;
        if (t->next) t->next->prev = t;
        s->wait_timers = t;
        p->wtimer = t;
    }
    t->seq = atomic_load(&p->wait_seq);
    t->deadline = deadline;
    if (mb_heap_holds(&t->node) && t->node.due <= deadline) return;   /* fires in time: it sets itself again */
    t->node.due = deadline;
    if (mb_clock_set(&s->waits, &t->node)) fprintf(stderr, "moonbeam: cannot arm a receive timeout\n");
}

void mb_waittimer_release(mb_proc *p, mb_sched *s) {
    if (!p->wtimer) return;
    wait_release(p->wtimer, s);
    p->wtimer = NULL;
}

void mb_waits_free_all(mb_sched *s) {
    while (s->wait_timers) wait_free(s->wait_timers);
    mb_clock_free(&s->waits);
}
