/* timer.c: send_after timers (a map by ref, for cancel_timer from any
 * thread; a heap by due time on the timer thread) and the per-process
 * receive timeout. See timer.h for the rules. */
#include "timer.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include "process.h"
#include "runtime.h"
#include "sched.h"

enum { T_PENDING, T_FIRED, T_CANCELLED };

/* The shortest interval between an interval timer's messages, in ms: one
 * shorter is this one (a microsecond; libuv's timers made it a whole ms). */
#define MIN_INTERVAL_MS 0.001

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
    uv_timer_t h;            /* first: its close frees the struct */
    mb_runtime *rt;
    mb_sched *s;
    mb_pid pid;
    uint64_t seq;      /* the wait it serves (the process's wait_seq then) */
    double deadline;   /* that wait's deadline */
    double due;        /* when the timer fires, on the loop's clock */
};

/* ---- the map of live timers -------------------------------------------- */

int mb_timers_init(mb_timers *t) {
    t->nbuckets = 1024;
    t->count = 0;
    t->pending = (mb_heap){0};
    t->clock_fd = -1;
    t->armed = 0;
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
    for (size_t i = 0; i < t->pending.n; i++) timer_free((mb_timer *)t->pending.v[i]);
    mb_heap_free(&t->pending);
    if (t->clock_fd >= 0) close(t->clock_fd);
    free(t->buckets);   /* the other timers were freed as they fired or were cancelled */
    pthread_mutex_destroy(&t->lock);
}

static size_t bucket(mb_timers *t, mb_ref ref) {
    return (size_t)((ref * 0x9E3779B97F4A7C15ull) >> 32) & (t->nbuckets - 1);
}

static void map_grow(mb_timers *t) {
    size_t nb = t->nbuckets * 2;
    mb_timer **b = calloc(nb, sizeof *b);
    if (!b) return;
    mb_timers old = *t;
    t->buckets = b;
    t->nbuckets = nb;
    for (size_t i = 0; i < old.nbuckets; i++) {
        mb_timer *e = old.buckets[i];
        while (e) {
            mb_timer *next = e->next;
            size_t j = bucket(t, e->ref);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(old.buckets);
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
    } else if (live && mb_heap_push(&rt->timers.pending, &tm->node)) {
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

/* The furthest the clock is set: ~146 years of CLOCK_MONOTONIC. A timer
 * due later (send_after takes up to 2^53 ms) is looked at then, and set
 * again. */
#define CLOCK_MAX_NS 4.6e18

/* The clock set for the earliest pending timer, to the nanosecond, if that
 * changed; disarmed when none is pending. A microsecond on top: the fire
 * must not read a time before the due one through the rounding of ms in a
 * double (a timer never fires early). */
static void clock_set(mb_timers *t) {
    mb_heap_node *top = mb_heap_top(&t->pending);
    double due = top ? top->due : 0;
    if (due == t->armed) return;
    struct itimerspec at = {{0, 0}, {0, 0}};
    if (top) {
        double when = ceil(due * 1e6) + 1000;   /* ns on mb_now_ms's clock: CLOCK_MONOTONIC */
        uint64_t ns = (uint64_t)(when < CLOCK_MAX_NS ? when : CLOCK_MAX_NS);
        at.it_value.tv_sec = (time_t)(ns / 1000000000u);
        at.it_value.tv_nsec = (long)(ns % 1000000000u);
    }
    if (timerfd_settime(t->clock_fd, TFD_TIMER_ABSTIME, &at, NULL) == 0) t->armed = due;
    else fprintf(stderr, "moonbeam: cannot set the timers' clock: %s\n", strerror(errno));
}

/* Every pending timer due by now fires, in due order. */
static void fire_due(mb_timers *t) {
    double now = mb_now_ms();
    mb_heap_node *top;
    while ((top = mb_heap_top(&t->pending)) && top->due <= now) {
        mb_heap_remove(&t->pending, top);
        fire((mb_timer *)top, now);
    }
    clock_set(t);
}

static void on_clock(uv_poll_t *w, int status, int events) {
    (void)status;
    (void)events;
    mb_timers *t = w->data;
    uint64_t expirations;
    if (read(t->clock_fd, &expirations, sizeof expirations) == (ssize_t)sizeof expirations)
        t->armed = 0;   /* it went off: set for nothing now */
    fire_due(t);
}

int mb_timers_attach(mb_timers *t, uv_loop_t *loop) {
    t->clock_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (t->clock_fd < 0) return -1;
    if (uv_poll_init(loop, &t->clock_watch, t->clock_fd)) return -1;
    t->clock_watch.data = t;
    return uv_poll_start(&t->clock_watch, UV_READABLE, on_clock) ? -1 : 0;
}

bool mb_timers_owns(const mb_timers *t, const uv_handle_t *h) { return h == (const uv_handle_t *)&t->clock_watch; }

/* The delay is counted from the loop's clock (coarse, whole ms), which is
 * never ahead of mb_now_ms: so a timer never fires before it is due. Not
 * brought up to date first: libuv counts the delay from that same clock,
 * so an older reading only makes the delay longer, not the due time later
 * (and it saves a clock read on every receive with a timeout). */
static uint64_t delay_from_loop(uv_loop_t *loop, double due) {
    double left = due - (double)uv_now(loop);
    if (!(left > 0)) return 0;
    /* Callers never pass more; a double past uint64_t cannot be converted. */
    return left < MB_MAX_TIMEOUT_MS ? (uint64_t)ceil(left) : (uint64_t)MB_MAX_TIMEOUT_MS;
}

/* Posted to the timer thread by mb_send_after: into the heap. A timer
 * cancelled before it started is freed by whichever of this and the
 * cancel's close comes last. One due already fires now. */
static void timer_start_here(mb_sched *s, void *arg) {
    (void)s;
    mb_timer *tm = arg;
    mb_timers *t = &tm->rt->timers;
    tm->start_seen = true;
    if (atomic_load(&tm->state) == T_CANCELLED) {
        if (tm->close_seen) timer_free(tm);
        return;
    }
    if (mb_heap_push(&t->pending, &tm->node)) {
        fprintf(stderr, "moonbeam: cannot start a timer; its message is dropped\n");
        int expected = T_PENDING;
        if (atomic_compare_exchange_strong(&tm->state, &expected, T_FIRED)) timer_end(tm);
        /* else cancelled meanwhile: its close, still to come, frees it */
        return;
    }
    /* Not while the host stops: the schedulers' run queues are gone, and
     * the timers left pending are freed with the others. */
    if (tm->node.due <= mb_now_ms() && !atomic_load(&tm->rt->stopping)) fire_due(t);
    else clock_set(t);
}

/* Posted by mb_cancel_timer: the one who cancelled frees the timer, unless
 * its start has not arrived yet (the start then frees it). */
static void timer_close_cancelled(mb_sched *s, void *arg) {
    (void)s;
    mb_timer *tm = arg;
    tm->close_seen = true;
    if (!tm->start_seen) return;
    if (mb_heap_holds(&tm->node)) {
        mb_heap_remove(&tm->rt->timers.pending, &tm->node);
        clock_set(&tm->rt->timers);
    }
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

static void wait_start(mb_waittimer *t, uv_loop_t *loop);

static void on_wait_fire(uv_timer_t *h) {
    mb_waittimer *t = (mb_waittimer *)h;
    mb_proc *p = mb_proctab_get(&t->rt->procs, t->pid);
    if (!p) return;
    if (atomic_load(&p->wait_seq) == t->seq) {
        if ((double)uv_now(h->loop) < t->deadline) {
            wait_start(t, h->loop);   /* set for an earlier wait: the rest of this one's */
        } else {
            atomic_store(&p->timed_out_seq, t->seq);
            mb_proc_wake(p, t->s);
        }
    }
    mb_proctab_put(&t->rt->procs, t->pid);
}

static void wait_start(mb_waittimer *t, uv_loop_t *loop) {
    uint64_t delay = delay_from_loop(loop, t->deadline);
    t->due = (double)uv_now(loop) + (double)delay;
    uv_timer_start(&t->h, on_wait_fire, delay, 0);
}

static void on_wait_closed(uv_handle_t *h) { free(h); }

static void wait_close_here(mb_sched *s, void *arg) {
    (void)s;
    uv_close((uv_handle_t *)arg, on_wait_closed);
}

static void wait_release(mb_waittimer *t, mb_sched *s) {
    if (t->s == s) uv_close((uv_handle_t *)&t->h, on_wait_closed);
    else if (mb_sched_post(t->s, wait_close_here, t))
        fprintf(stderr, "moonbeam: out of memory closing a timer\n");
}

void mb_waittimer_arm(mb_proc *p, mb_sched *s, double deadline) {
    if (!(deadline - (double)uv_now(&s->loop) <= MB_MAX_TIMEOUT_MS)) return;   /* never fires: no timer */
    mb_waittimer *t = p->wtimer;
    if (t && t->s != s) {   /* the process moved: its old timer stays with the old loop */
        wait_release(t, s);
        t = p->wtimer = NULL;
    }
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t || uv_timer_init(&s->loop, &t->h)) {
            free(t);
            fprintf(stderr, "moonbeam: cannot arm a receive timeout\n");
            return;
        }
        t->rt = p->rt;
        t->s = s;
        t->pid = p->pid;
        p->wtimer = t;
    }
    t->seq = atomic_load(&p->wait_seq);
    t->deadline = deadline;
    if (uv_is_active((uv_handle_t *)&t->h) && t->due <= deadline) return;   /* fires in time: it sets itself again */
    wait_start(t, &s->loop);
}

void mb_waittimer_release(mb_proc *p, mb_sched *s) {
    if (!p->wtimer) return;
    wait_release(p->wtimer, s);
    p->wtimer = NULL;
}

void mb_timer_handle_free(void *handle) { free(handle); }   /* a wait timer: its handle first */
