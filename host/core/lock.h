/* lock.h: the mutex for short critical sections that many threads take at
 * once (a process's lists, a run queue). */
#ifndef MB_LOCK_H
#define MB_LOCK_H

#include <pthread.h>

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

#endif
