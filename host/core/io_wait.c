/* io_wait.c: the count a dying owner waits on (see io_wait.h). */
#include "io_wait.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include "lock.h"
#include "runtime.h"
#include "sched.h"

/* How often a waiting scheduler thread runs its own loop's posts: another
 * dying owner's thread may be waiting for them. A wait lasts until the
 * other loops look at their posts: at once for a sleeping one, else at
 * its next look between slices (sched.c's POLL_EVERY; a slice is cut at
 * MB_PREEMPT_MS, a stuck one handed off at MB_HAND_OFF_MS: sysmon.h). */
#define SERVE_US 50
/* How often any waiter looks whether the host stops (its loops then run
 * no posts until they close). */
#define STOP_CHECK_US 10000

struct mb_io_wait {
    pthread_mutex_t lock;   /* guards pending and refs */
    pthread_cond_t cond;    /* pending reached 0 */
    int pending;            /* requests added and not done */
    int refs;               /* pending's requests, and the waiter until it ends */
};

mb_io_wait *mb_io_wait_new(void) {
    mb_io_wait *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    if (mb_cond_init_monotonic(&w->cond)) {
        free(w);
        return NULL;
    }
    if (pthread_mutex_init(&w->lock, NULL)) {
        pthread_cond_destroy(&w->cond);
        free(w);
        return NULL;
    }
    w->refs = 1;
    return w;
}

static void release(mb_io_wait *w) {
    pthread_mutex_lock(&w->lock);
    bool last = --w->refs == 0;
    pthread_mutex_unlock(&w->lock);
    if (!last) return;
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void mb_io_wait_add(mb_io_wait *w) {
    pthread_mutex_lock(&w->lock);
    w->pending++;
    w->refs++;
    pthread_mutex_unlock(&w->lock);
}

void mb_io_wait_done(mb_io_wait *w) {
    pthread_mutex_lock(&w->lock);
    if (--w->pending == 0) pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    release(w);
}

static struct timespec after_us(long us) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long ns = ts.tv_nsec + us * 1000;
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    return ts;
}

void mb_io_wait_end(mb_io_wait *w, mb_runtime *rt, mb_sched *here) {
    pthread_mutex_lock(&w->lock);
    while (w->pending > 0 && !atomic_load(&rt->stopping)) {
        if (here) {
            pthread_mutex_unlock(&w->lock);
            mb_sched_run_posts(here);
            pthread_mutex_lock(&w->lock);
            if (w->pending == 0) break;
        }
        struct timespec ts = after_us(here ? SERVE_US : STOP_CHECK_US);
        pthread_cond_timedwait(&w->cond, &w->lock, &ts);
    }
    pthread_mutex_unlock(&w->lock);
    release(w);
}
