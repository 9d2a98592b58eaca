/* sched.h: the M:N schedulers.
 *
 * N OS threads, each with a run queue and a libuv loop. A process woken by a
 * send goes to the sender's own run queue (a call and its reply stay on one
 * core); an idle scheduler steals; a scheduler with nothing to do sleeps in
 * its loop (epoll) until a timer fires or another thread wakes it. */
#ifndef MB_SCHED_H
#define MB_SCHED_H

#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>
#include "lock.h"
#include "process.h"
#include "timer_clock.h"
#include "wake.h"

typedef struct mb_post {
    struct mb_post *next;
    void (*fn)(mb_sched *s, void *arg);
    void *arg;
} mb_post;

struct mb_sched {
    mb_runtime *rt;
    int id;
    uv_thread_t thread;
    _Atomic int tid;              /* its OS thread id: the monitor lowers a stuck one's priority */
    _Atomic(pthread_t) server;    /* the thread serving it now (a hand-off changes it) */
    uv_loop_t loop;               /* this thread only */
    mb_wake wakeup;               /* wake.h: posts, pushes to a sleeping loop, the stop */
    uv_timer_t nap;               /* bounds a sleep while others have queued work */
    mb_timer_clock waits;         /* its processes' receive timeouts (timer.c): this thread only */
    mb_waittimer *wait_timers;    /* all of them, set or not */
    mb_spin rq_lock;
    mb_proc *rq_head, *rq_tail;
    /* The back queue: processes whose last slice was cut short (a loop that
     * never yields). They run when the run queue is empty, and one at least
     * every MB_BACK_QUEUE_MS: a process that waits on messages is served
     * first, and a busy one still goes on. */
    mb_proc *back_head, *back_tail;
    double back_due;              /* when the back queue's head runs regardless */
    _Atomic uint32_t rq_len;      /* both queues */
    _Atomic int sleeping;
    pthread_mutex_t post_lock;    /* work other threads hand to this loop */
    mb_post *posts;
    _Atomic int has_posts;
    /* The process in a slice here. Written by the thread serving this
     * scheduler, read by it (mb_sched_home); atomic because a thread that
     * lost the scheduler in a slice (sysmon.h) may still read it once. */
    _Atomic(mb_proc *) current;
    /* The slice now running: (count << 3) | flags. Written by the thread
     * that serves this scheduler; the system monitor (sysmon.h) pins a
     * running slice (CLAIMED) to look at its process, or takes the
     * scheduler away from a thread stuck in it (HANDED). A thief sees a
     * long slice stall by its count. */
    _Atomic uint64_t slice;
    _Atomic(mb_proc *) running;   /* the process of the slice, for the monitor */
    _Atomic bool running_hog;     /* the slice's process came from the back queue: a push
                                     of another process preempts it (mb_sched_push) */
    uint64_t *seen;               /* this thread only: others' slice counts at our last look */
    struct mb_netsock *ns;        /* the stream sockets on this loop (netloop.h): the loop's thread */
};

#define MB_SLICE_RUNNING 1u
#define MB_SLICE_CLAIMED 2u
#define MB_SLICE_HANDED 4u
#define MB_SLICE_COUNT(w) ((w) >> 3)

int mb_sched_start_all(mb_runtime *rt, int n);
/* -1 when a scheduler would not stop: nothing is freed then. */
int mb_sched_stop_all(mb_runtime *rt);

/* Queue a runnable process, on `s` (NULL: pick one) and wake a sleeper. */
void mb_sched_push(mb_runtime *rt, mb_sched *s, mb_proc *p);
/* p, which a queued exit signal ends, to the front of its run queue if it
 * waits in a back queue (behind processes that never yield): its end
 * comes within a slice, not after every spinner's. */
void mb_sched_hurry(mb_runtime *rt, mb_proc *p);
/* Where p, woken by a process running on `from`, is queued: see sched.c. */
mb_sched *mb_sched_home(const mb_proc *p, mb_sched *from);
/* Wake one sleeping scheduler other than from (NULL: any), if one sleeps,
 * for its work ahead (kind.h); it sleeps again when that is done. */
void mb_sched_wake_idle(mb_runtime *rt, mb_sched *from);
/* Run fn(s, arg) on s's thread soon. Returns -1 when out of memory. */
int mb_sched_post(mb_sched *s, void (*fn)(mb_sched *, void *), void *arg);
/* The same for the timer thread, batched for the process `from` runs
 * (NULL: not a scheduled process, posted at once): queued until its slice
 * ends or the batch is full, then handed over in one lock and one wake-up. */
int mb_sched_post_timer(mb_runtime *rt, mb_proc *from, void (*fn)(mb_sched *, void *), void *arg);
/* p's batch handed to the timer thread now: by p's thread, or by the
 * monitor as it hands p's slice off (its thread may not stop for seconds). */
void mb_sched_flush_timers(mb_proc *p);

/* What p left for other nodes (p->out_due: runtime.h's flush_out), sent:
 * at its slice's end, and when it waits for a message, so that a frame
 * waits behind no long computation of the same slice. p's own thread.
 * Inline: every slice and every receive look, and nearly all find none. */
void mb_sched_send_out(mb_proc *p);
static inline void mb_sched_flush_out(mb_proc *p) {
    if (p->out_due) mb_sched_send_out(p);
}
/* Run what was posted to s, now: from the thread that serves s only, and
 * not from inside a post (a dying owner's thread while it waits: io_wait.h). */
void mb_sched_run_posts(mb_sched *s);

/* Give s to a fresh thread: the one serving it, returned in *stuck, is
 * stuck in a slice (see sysmon.h). That thread finishes the slice on its
 * own and leaves; the caller joins or detaches it. Called by the monitor
 * with the slice CLAIMED. Returns -1 if no thread starts. */
int mb_sched_hand_off(mb_sched *s, uv_thread_t *stuck);

#endif
