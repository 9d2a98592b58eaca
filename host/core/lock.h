/* lock.h: the locks for short critical sections that many threads take at
 * once: a mutex (a process's lists), a spin lock (a run queue). */
#ifndef MB_LOCK_H
#define MB_LOCK_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

/* Adaptive (glibc): a waiter spins a while before it sleeps in the kernel.
 * A plain mutex sent every contended lock and unlock through a futex call:
 * with 64 callers of one server on two schedulers, the futex calls on the
 * server's lock (its call monitors) and on the run queues took a fifth of
 * the time. 0, or an error number. */
static inline int mb_lock_init(pthread_mutex_t *m) {
    pthread_mutexattr_t attr;
    int rc = pthread_mutexattr_init(&attr);
    if (rc) return rc;
    rc = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    if (!rc) rc = pthread_mutex_init(m, &attr);
    pthread_mutexattr_destroy(&attr);
    return rc;
}

/* A condition variable whose timed waits count on CLOCK_MONOTONIC (as
 * mb_now_ms does): a step of the wall clock neither stretches nor cuts a
 * wait. 0, or an error number. */
static inline int mb_cond_init_monotonic(pthread_cond_t *c) {
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc) return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (!rc) rc = pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

/* A spin lock, for sections of a few dozen instructions taken at every
 * slice: an exchange takes it and a store gives it back, where the
 * mutex's lock and unlock cost ~65 instructions a pair (two pairs a message
 * hop: the push and the pop of the run queue). A waiter spins on a plain
 * read (no traffic on the line until it changes) with the CPU's pause, and
 * after a while yields its CPU: the holder's thread may have lost its own. */
typedef struct mb_spin {
    _Atomic int held;
} mb_spin;

static inline void mb_spin_init(mb_spin *l) { atomic_init(&l->held, 0); }

static inline void mb_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline void mb_spin_lock(mb_spin *l) {
    while (atomic_exchange_explicit(&l->held, 1, memory_order_acquire)) {
        for (unsigned i = 0; atomic_load_explicit(&l->held, memory_order_relaxed); i++) {
            if (i < 256) mb_cpu_relax();
            else sched_yield();
        }
    }
}

static inline void mb_spin_unlock(mb_spin *l) { atomic_store_explicit(&l->held, 0, memory_order_release); }

#endif
