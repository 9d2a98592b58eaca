/* blocking.c: the mb.blocking pool (see blocking.h).
 *
 * A mutex-guarded FIFO of processes and a condition variable; a process is
 * linked through runq_next, free while it is in no run queue. A call may
 * take seconds, so nothing here is tuned for speed: one lock, one signal. */
#include "blocking.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>
#include "runtime.h"
#include "sched.h"

/* Pool threads run Lua code as schedulers do: the same stack, for the same
 * reason (sched.c, SCHED_STACK_BYTES). Only the pages touched are backed. */
#define BLOCKING_STACK_BYTES ((size_t)64 << 20)

struct mb_blocking {
    mb_runtime *rt;
    pthread_mutex_t lock;   /* guards everything below */
    pthread_cond_t work;    /* a process queued, or stopping */
    mb_proc *head, *tail;   /* waiting for a thread, linked by runq_next */
    uv_thread_t *threads;   /* [max]; the first nthreads started */
    int max, nthreads;
    int idle;               /* threads waiting for work */
    int queued;             /* processes in the queue */
    bool stopping;
};

int mb_blocking_init(mb_runtime *rt, int threads) {
    mb_blocking *b = calloc(1, sizeof *b);
    if (!b) return -1;
    b->threads = calloc((size_t)threads, sizeof *b->threads);
    if (!b->threads) goto fail;
    if (pthread_mutex_init(&b->lock, NULL)) goto fail;
    if (pthread_cond_init(&b->work, NULL)) {
        pthread_mutex_destroy(&b->lock);
        goto fail;
    }
    b->rt = rt;
    b->max = threads;
    rt->blocking = b;
    return 0;
fail:
    free(b->threads);
    free(b);
    return -1;
}

/* fn returned (or the process must end): back to the schedulers, or out. */
static void hand_back(mb_runtime *rt, mb_proc *p) {
    if (p->yield == MB_YIELD_EXIT) {
        mb_proc_terminate(p);   /* here, as its owner: its links and monitors fire now */
        return;
    }
    atomic_store(&p->status, MB_RUNNABLE);
    mb_sched_push(rt, NULL, p);
}

/* This thread's CPU time in us; 0 when it cannot be read. */
static uint64_t thread_cpu_us(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)) return 0;
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Runs p's call on this thread. The system monitor samples only the
 * schedulers, so the CPU fn used here is charged to p's runtime (mb.info)
 * as measured. */
static void run_charged(mb_proc *p) {
    uint64_t t0 = thread_cpu_us();
    p->kind->run_blocking(p);
    uint64_t t1 = thread_cpu_us();
    if (t1 > t0) atomic_fetch_add_explicit(&p->runtime_us, t1 - t0, memory_order_relaxed);
}

static void pool_main(void *arg) {
    mb_blocking *b = arg;
    pthread_mutex_lock(&b->lock);
    while (!b->stopping) {
        mb_proc *p = b->head;
        if (!p) {
            b->idle++;
            pthread_cond_wait(&b->work, &b->lock);
            b->idle--;
            continue;
        }
        b->head = p->runq_next;
        if (!b->head) b->tail = NULL;
        b->queued--;
        pthread_mutex_unlock(&b->lock);
        run_charged(p);
        hand_back(b->rt, p);
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
}

int mb_blocking_submit(mb_runtime *rt, mb_proc *p) {
    mb_blocking *b = rt->blocking;
    p->runq_next = NULL;
    pthread_mutex_lock(&b->lock);
    /* A signal that ends it came before it could be queued (its hurry,
     * which takes the lock too, found nothing): it stays with the
     * schedulers, where it ends before fn runs. */
    if (atomic_load_explicit(&p->ending, memory_order_relaxed) > 0) {
        pthread_mutex_unlock(&b->lock);
        return -1;
    }
    p->sched = NULL;   /* on no scheduler from here (blocking.h) */
    /* A thread for each call while the pool is not full: the idle ones may
     * all be spoken for by calls queued and not yet taken. Stopping: the
     * process waits here until the runtime frees it. */
    if (!b->stopping && b->queued >= b->idle && b->nthreads < b->max) {
        uv_thread_options_t big = {UV_THREAD_HAS_STACK_SIZE, BLOCKING_STACK_BYTES};
        if (uv_thread_create_ex(&b->threads[b->nthreads], &big, pool_main, b) == 0) b->nthreads++;
        else if (b->nthreads == 0) {
            pthread_mutex_unlock(&b->lock);
            return -1;   /* no thread at all: the caller runs fn itself */
        }
    }
    if (b->tail) b->tail->runq_next = p;
    else b->head = p;
    b->tail = p;
    b->queued++;
    pthread_cond_signal(&b->work);
    pthread_mutex_unlock(&b->lock);
    return 0;
}

void mb_blocking_hurry(mb_runtime *rt, mb_proc *p) {
    mb_blocking *b = rt->blocking;
    if (!b) return;
    pthread_mutex_lock(&b->lock);
    mb_proc **at = &b->head, *prev = NULL;
    while (*at && *at != p) {
        prev = *at;
        at = &prev->runq_next;
    }
    bool found = *at != NULL && !b->stopping;
    if (found) {
        *at = p->runq_next;
        if (b->tail == p) b->tail = prev;
        b->queued--;
        p->runq_next = NULL;
    }
    pthread_mutex_unlock(&b->lock);
    if (!found) return;
    /* Ours now, as a pool thread's that took it: a scheduler drains the
     * signal and ends it before anything runs (sched.c, bindings/vm.c). */
    atomic_store(&p->status, MB_RUNNABLE);
    mb_sched_push(rt, NULL, p);
}

int mb_blocking_stop(mb_runtime *rt, double grace_ms) {
    mb_blocking *b = rt->blocking;
    if (!b) return 0;
    pthread_mutex_lock(&b->lock);
    b->stopping = true;
    pthread_cond_broadcast(&b->work);
    int n = b->nthreads;   /* no thread starts once stopping is set */
    pthread_mutex_unlock(&b->lock);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ns = ts.tv_nsec + (long long)(grace_ms * 1e6);
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    int stuck = 0;
    for (int i = 0; i < n; i++)
        if (pthread_timedjoin_np(b->threads[i], NULL, &ts)) stuck++;
    if (stuck) {
        fprintf(stderr, "moonbeam: %d mb.blocking call(s) still running; leaving them to the OS at exit\n",
                stuck);
        return -1;
    }
    return 0;
}

void mb_blocking_free(mb_runtime *rt) {
    mb_blocking *b = rt->blocking;
    if (!b) return;
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->work);
    free(b->threads);
    free(b);
    rt->blocking = NULL;
}
