/* sysmon.c: the system monitor's thread. See sysmon.h for what it does. */
#include "sysmon.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include "codemap.h"
#include "lock.h"
#include "runtime.h"
#include "sched.h"

typedef struct watch {
    uint64_t slice;      /* the slice word at our last look */
    double since;        /* when we first saw that slice run */
    double asked;        /* when we first asked it to yield (0: not yet) */
    int cpu_tid;            /* the scheduler's thread at our last look, */
    uint64_t cpu_ns;        /* and its CPU time then (0: none read) */
} watch;

/* The CPU time in ns of this process's thread tid (Linux's thread id);
 * 0 when it cannot be read. By the id, not a pthread_t: a thread that
 * ended (the schedulers' as the host stops, while this monitor still
 * looks) makes the clock call fail, where its pthread_t was freed memory.
 * The clock's id is made as glibc's pthread_getcpuclockid makes it. */
static uint64_t cpu_ns_of(int tid) {
    if (tid <= 0) return 0;
    clockid_t clock = (clockid_t)((~(unsigned)tid << 3) | 6);   /* per thread (4), sched (2) */
    struct timespec ts;
    if (clock_gettime(clock, &ts)) return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The CPU time, in us, thread tid used since *last was read (dt ms of wall
 * time when it cannot be told); *last becomes now's. A process's runtime
 * is charged so: with more busy threads than cores (slices handed off),
 * wall time counted each of them for the whole of it. */
static uint64_t cpu_used_us(int tid, uint64_t *last, double dt) {
    uint64_t now = cpu_ns_of(tid), was = *last;
    *last = now;
    if (!now || !was) return (uint64_t)(dt * 1000);
    return now > was ? (now - was) / 1000 : 0;
}

struct mb_sysmon {
    mb_runtime *rt;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* on CLOCK_MONOTONIC */
    bool stop;
    bool host_stopping;  /* no more hand-offs; what still runs is ended where it is */
    watch *seen;         /* one per scheduler; the monitor's thread only */
    mb_orphan *orphans;  /* the monitor's thread only */
};

void mb_orphan_done(mb_orphan *o) { atomic_store_explicit(&o->done, true, memory_order_release); }

/* Hand s off; p, its slice's process, is followed until that slice ends.
 * The stuck thread goes on at a lower OS priority (nice 10, a tenth of a
 * core's share against one thread at 0): what it runs was owed a slice,
 * not a core, and the schedulers serving everyone else come first on a host
 * with no core to spare. Not the lowest: a long C call (a deep gsub) must
 * still finish on a machine that other programs keep busy. */
static bool hand_off(mb_sysmon *m, mb_sched *s, mb_proc *p) {
    mb_orphan *o = calloc(1, sizeof *o);
    if (!o) return false;
    o->p = p;
    mb_proctab_ref(&m->rt->procs, p->pid);
    p->orphan = o;   /* published to the stuck thread by the hand-off's slice word */
    int stuck_tid = atomic_load(&s->tid);   /* the fresh thread writes it once handed */
    if (mb_sched_hand_off(s, &o->thread)) {
        p->orphan = NULL;
        mb_proctab_put(&m->rt->procs, p->pid);
        free(o);
        return false;
    }
    mb_sched_flush_timers(p);   /* those it armed since the last look, likewise */
    if (stuck_tid > 0) setpriority(PRIO_PROCESS, (id_t)stuck_tid, 10);   /* at worst it stays as it was */
    o->tid = stuck_tid;
    o->cpu_ns = cpu_ns_of(stuck_tid);
    o->next = m->orphans;
    m->orphans = o;
    return true;
}

/* p is doomed (process.h): if its thread was last found in generated code,
 * publish that code's bounds, where the VM layer's signal handler leaves it
 * (bindings/preempt.c). Reading the maps is done here, never in a handler. */
static void cut_where_stuck(mb_proc *p) {
    if (!mb_proc_doomed(p)) return;
    uintptr_t pc = atomic_load_explicit(&p->stuck_pc, memory_order_relaxed), lo = 0, hi = 0;
    if (!pc || (pc >= atomic_load_explicit(&p->cut_lo, memory_order_relaxed) &&
                pc < atomic_load_explicit(&p->cut_hi, memory_order_relaxed)))
        return;   /* no sample yet, or one the handler leaves already */
    if (pc >= p->nocut_lo && pc < p->nocut_hi) return;   /* in C code we looked at already */
    if (!mb_codemap_find(pc, &lo, &hi)) {
        p->nocut_lo = lo;
        p->nocut_hi = hi;
        return;
    }
    uint32_t seq = atomic_load_explicit(&p->cut_seq, memory_order_relaxed);
    /* A reader that sees a bound stored here sees the odd count too. */
    atomic_store_explicit(&p->cut_seq, seq + 1, memory_order_relaxed);
    atomic_store_explicit(&p->cut_lo, lo, memory_order_release);
    atomic_store_explicit(&p->cut_hi, hi, memory_order_release);
    atomic_store_explicit(&p->cut_seq, seq + 2, memory_order_release);
}

/* The host stops: p will not run again, so whatever it runs is ended where
 * it is if it cannot yield (bindings/preempt.c), not waited for. */
static void end_at_stop(mb_sysmon *m, mb_proc *p) {
    if (m->host_stopping) atomic_store_explicit(&p->must_end, true, memory_order_relaxed);
}

/* Charge the orphans' processes for dt and ask them again to yield (code
 * that was inside C, or compiled, may be interpreted now); join the
 * threads whose slice ended. */
static void follow_orphans(mb_sysmon *m, double dt) {
    mb_orphan **link = &m->orphans;
    while (*link) {
        mb_orphan *o = *link;
        if (atomic_load_explicit(&o->done, memory_order_acquire)) {
            *link = o->next;
            pthread_join(o->thread, NULL);   /* it is leaving: a moment at most */
            mb_proctab_put(&m->rt->procs, o->p->pid);
            free(o);
            continue;
        }
        atomic_fetch_add_explicit(&o->p->runtime_us, cpu_used_us(o->tid, &o->cpu_ns, dt), memory_order_relaxed);
        /* And its work: a slice it never ends would leave its reductions
         * where they were while it burns a core (the console's top sorts by
         * them). Charged as a preempted slice counts (a whole budget of
         * 1,000 in MB_PREEMPT_MS); its owner adds the slice's own count when
         * it ends, an add of ours between its load and store lost then. */
        atomic_fetch_add_explicit(&o->p->reductions, (uint64_t)(dt * 1000 / MB_PREEMPT_MS), memory_order_relaxed);
        end_at_stop(m, o->p);
        cut_where_stuck(o->p);
        pthread_kill(o->thread, MB_PREEMPT_SIGNAL);   /* not yet joined: the handle is valid */
        link = &o->next;
    }
}

/* Pin the slice w (CLAIMED) so its process stays put while we look; false
 * when it ended meanwhile. */
static bool pin(mb_sched *s, uint64_t w) {
    return atomic_compare_exchange_strong(&s->slice, &w, w | MB_SLICE_CLAIMED);
}

static void unpin(mb_sched *s, uint64_t w) { atomic_store_explicit(&s->slice, w, memory_order_release); }

/* Whether a receive timeout of s's processes is due: the timerfd of its
 * clock has gone off (timer_clock.h), which a slice that runs on does not
 * see until it ends. Its fd is set before the threads start and closed
 * after the monitor stops. */
static bool timeout_due(const mb_sched *s) {
    struct pollfd pf = {s->waits.fd, POLLIN, 0};
    return pf.fd >= 0 && poll(&pf, 1, 0) == 1;
}

/* Look at one scheduler, `dt` ms after the last look; true if it is
 * running a slice. The process found running is charged the CPU time the
 * scheduler's thread used since the last look: a
 * sample, as a profiler takes, at no cost to the slices themselves. */
static bool look(mb_sysmon *m, mb_sched *s, watch *wt, double now, double dt) {
    /* The thread's CPU since the last look, read at every look (a thread
     * taken over since: from now on). */
    int tid = atomic_load_explicit(&s->tid, memory_order_relaxed);
    if (tid != wt->cpu_tid) wt->cpu_ns = 0;
    wt->cpu_tid = tid;
    uint64_t used_us = cpu_used_us(tid, &wt->cpu_ns, dt);
    uint64_t w = atomic_load_explicit(&s->slice, memory_order_acquire);
    bool seen = w == wt->slice;
    /* Work queued behind a slice seen at the last look too, or behind what
     * the thread has done since between slices (a state's close with its
     * finalizers, its loop's callbacks): an idle scheduler is woken to take
     * it (mb_sched_push wakes none for the one process a slice queues). */
    bool queued = atomic_load_explicit(&s->rq_len, memory_order_relaxed) > 0;
    if (seen && queued) mb_sched_wake_idle(m->rt, s);
    if (!(w & MB_SLICE_RUNNING) || (w & (MB_SLICE_CLAIMED | MB_SLICE_HANDED))) {
        wt->slice = w;
        return queued;   /* the next look soon: it may be stuck there */
    }
    if (!seen) {   /* a slice we have not seen before */
        wt->slice = w;
        wt->since = now;
        wt->asked = 0;
    }
    double ran = now - wt->since;
    if (!pin(s, w)) return true;
    mb_proc *p = atomic_load_explicit(&s->running, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->runtime_us, used_us, memory_order_relaxed);
    if (!seen || !p->kind->preemptible) {   /* such a kind yields on its own */
        /* A slice begun since the last look is cut at once for a receive
         * timeout due on s: it could run MB_PREEMPT_MS more. */
        if (!seen && p->kind->preemptible && timeout_due(s)) pthread_kill((pthread_t)s->thread, MB_PREEMPT_SIGNAL);
        unpin(s, w);
        return true;
    }
    end_at_stop(m, p);
    /* Timers it armed in a slice this long go now, not at its end: a
     * compiled loop may not end it for seconds. */
    if (ran >= MB_PREEMPT_MS) mb_sched_flush_timers(p);
    /* Hand off only a slice that was asked to yield long enough ago: the
     * monitor itself may have run late (a loaded host) and never asked. */
    if (!m->host_stopping && ran >= MB_HAND_OFF_MS && wt->asked > 0 &&
        now - wt->asked >= MB_HAND_OFF_MS - MB_PREEMPT_MS) {
        if (hand_off(m, s, p)) return true;   /* the slice stays pinned: it is not s's any more */
        fprintf(stderr, "moonbeam: cannot start a thread to take over a stuck scheduler\n");
    }
    /* Ask again every look: the thread may have been between slices, or
     * the process inside C code, when the last request came. */
    cut_where_stuck(p);
    /* A receive timeout due on s waits for the slice to end: it is cut for
     * it (before, such a timeout came up to MB_PREEMPT_MS + a look late
     * beside a spinner). */
    if (ran >= MB_PREEMPT_MS || atomic_load_explicit(&p->sig_pending, memory_order_relaxed) ||
        mb_proc_doomed(p) || atomic_load_explicit(&p->interrupt, memory_order_relaxed) == MB_INTR_ASKED ||
        timeout_due(s)) {
        pthread_kill((pthread_t)s->thread, MB_PREEMPT_SIGNAL);
        if (wt->asked == 0) wt->asked = now;
    }
    unpin(s, w);
    return true;
}

/* Sleep ms with m->mu held, as every look is made: mb_sysmon_host_stopping
 * finds the monitor between two looks. */
static double sleep_ms(mb_sysmon *m, double ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long ns = ts.tv_nsec + (long)(ms * 1e6);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &ts) != ETIMEDOUT) {}
    return m->stop ? -1 : mb_now_ms();
}

static void *sysmon_main(void *arg) {
    mb_sysmon *m = arg;
    double tick = MB_SYSMON_TICK_MS, now, last = mb_now_ms();
    pthread_mutex_lock(&m->mu);
    while ((now = sleep_ms(m, tick)) >= 0) {
        bool busy = false;
        for (int i = 0; i < m->rt->nscheds; i++)
            busy |= look(m, &m->rt->scheds[i], &m->seen[i], now, now - last);
        follow_orphans(m, now - last);
        busy |= m->orphans != NULL;
        last = now;
        /* Idle: look less often (a spinner is caught a little later). */
        tick = busy ? MB_SYSMON_TICK_MS : tick * 2 < MB_SYSMON_IDLE_MS ? tick * 2 : MB_SYSMON_IDLE_MS;
        if (m->host_stopping) tick = MB_SYSMON_TICK_MS;
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

void mb_sysmon_host_stopping(mb_sysmon *m) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->host_stopping = true;
    pthread_cond_signal(&m->cv);   /* look now */
    pthread_mutex_unlock(&m->mu);
}

mb_sysmon *mb_sysmon_start(mb_runtime *rt) {
    mb_sysmon *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->rt = rt;
    m->seen = calloc((size_t)rt->nscheds, sizeof *m->seen);
    if (!m->seen || mb_cond_init_monotonic(&m->cv)) {
        free(m->seen);
        free(m);
        return NULL;
    }
    if (pthread_mutex_init(&m->mu, NULL) || pthread_create(&m->thread, NULL, sysmon_main, m)) {
        pthread_cond_destroy(&m->cv);
        free(m->seen);
        free(m);
        return NULL;
    }
    return m;
}

void mb_sysmon_stop(mb_sysmon *m) {
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    /* Orphans still running keep their record: they write to it when their
     * slice ends, and then the runtime is left to the OS (sched.c). */
    for (mb_orphan *o = m->orphans, *next; o; o = next) {
        next = o->next;
        if (!atomic_load_explicit(&o->done, memory_order_acquire)) {
            pthread_detach(o->thread);
            continue;
        }
        pthread_join(o->thread, NULL);
        mb_proctab_put(&m->rt->procs, o->p->pid);
        free(o);
    }
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m->seen);
    free(m);
}
