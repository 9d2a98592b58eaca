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
#include "process.h"

typedef struct mb_post {
    struct mb_post *next;
    void (*fn)(mb_sched *s, void *arg);
    void *arg;
} mb_post;

struct mb_sched {
    mb_runtime *rt;
    int id;
    uv_thread_t thread;
    uv_loop_t loop;               /* this thread only */
    uv_async_t wakeup;
    uv_timer_t nap;               /* bounds a sleep while others have queued work */
    pthread_mutex_t rq_lock;
    mb_proc *rq_head, *rq_tail;
    _Atomic uint32_t rq_len;
    _Atomic int sleeping;
    pthread_mutex_t post_lock;    /* work other threads hand to this loop */
    mb_post *posts;
    _Atomic int has_posts;
    mb_proc *current;             /* this thread only */
    _Atomic uint64_t slices;      /* slices run so far: a thief sees a long one stall */
    uint64_t *seen;               /* this thread only: others' slices at our last look */
    mb_post *timer_batch;         /* this thread only: timers armed in this slice */
    int timer_batch_n;
};

int mb_sched_start_all(mb_runtime *rt, int n);
/* -1 when a scheduler would not stop: nothing is freed then. */
int mb_sched_stop_all(mb_runtime *rt);

/* Queue a runnable process, on `s` (NULL: pick one) and wake a sleeper. */
void mb_sched_push(mb_runtime *rt, mb_sched *s, mb_proc *p);
/* Run fn(s, arg) on s's thread soon. Returns -1 when out of memory. */
int mb_sched_post(mb_sched *s, void (*fn)(mb_sched *, void *), void *arg);
/* The same, batched: from the scheduler `from` (its own thread), queued
 * until its current slice ends or the batch is full, then handed over in
 * one lock and one wake-up. */
int mb_sched_post_batched(mb_sched *from, mb_sched *s, void (*fn)(mb_sched *, void *), void *arg);

#endif
