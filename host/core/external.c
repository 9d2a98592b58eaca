/* external.c: processes driven by an OS thread of their own (external.h). */
#include "external.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lock.h"
#include "runtime.h"

mb_proc *mb_external_new(mb_runtime *rt, const char *name) {
    mb_proc *p = mb_proc_new(rt);
    mb_external *x = calloc(1, sizeof *x);
    if (!p || !x || mb_cond_init_monotonic(&x->cv)) goto fail;
    if (pthread_mutex_init(&x->mu, NULL)) {
        pthread_cond_destroy(&x->cv);
        goto fail;
    }
    p->ext = x;   /* from here mb_proc_free destroys them */
    p->target = strdup(name);
    atomic_store(&p->status, MB_RUNNING);
    mb_pid pid;
    if (!p->target || mb_proctab_insert(&rt->procs, p, &pid)) {
        mb_proc_free(p);
        return NULL;
    }
    return p;
fail:
    free(x);
    if (p) mb_proc_free(p);
    return NULL;
}

int mb_external_wait(mb_proc *p, double deadline) {
    mb_external *x = p->ext;
    int woken = 1;
    pthread_mutex_lock(&x->mu);
    atomic_store(&p->status, MB_WAITING);
    if (mb_inbox_nonempty(&p->inbox)) {
        atomic_store(&p->status, MB_RUNNING);
        pthread_mutex_unlock(&x->mu);
        return 1;
    }
    struct timespec ts;
    if (deadline >= 0) {   /* mb_now_ms is CLOCK_MONOTONIC, as the condition's clock */
        double secs = deadline / 1000.0;
        ts.tv_sec = (time_t)secs;
        ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
    }
    while (atomic_load(&p->status) == MB_WAITING) {
        int rc = deadline >= 0 ? pthread_cond_timedwait(&x->cv, &x->mu, &ts)
                               : pthread_cond_wait(&x->cv, &x->mu);
        if (rc == ETIMEDOUT) {
            int expected = MB_WAITING;
            if (atomic_compare_exchange_strong(&p->status, &expected, MB_RUNNING)) woken = 0;
            break;
        }
    }
    atomic_store(&p->status, MB_RUNNING);
    pthread_mutex_unlock(&x->mu);
    return woken;
}
