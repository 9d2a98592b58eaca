/* remote_monitor.c: monitors of processes on other nodes (see
 * dist_internal.h). The target's node sends MONITOR_P_EXIT when it ends
 * (dist_control.c); when the connection ends first, the DOWN says
 * "noconnection", as in Erlang. A list under the distribution's lock: a
 * call's monitor is made, and a monitor ended, by the process's own thread
 * (dist.c, mb_dist_monitor), the DOWNs told by the distribution thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/process.h"
#include "core/runtime.h"
#include "dist_internal.h"

remote_mon *mb_remote_mon_add(mb_dist *d, const char *node, mb_pid watcher, mb_ref ref, bool call,
                              const uint8_t *target, size_t ntarget, uint8_t *demonitor, size_t ndemonitor) {
    remote_mon *m = malloc(sizeof *m + ntarget);
    if (!m) return NULL;
    snprintf(m->node, sizeof m->node, "%s", node);
    m->watcher = watcher;
    m->ref = ref;
    m->call = call;
    m->queued = false;
    m->ntarget = ntarget;
    m->demonitor = demonitor;
    m->ndemonitor = ndemonitor;
    memcpy(m->target, target, ntarget);
    m->next = d->remote_mons;
    d->remote_mons = m;
    return m;
}

void mb_remote_mon_free(remote_mon *m) {
    if (!m) return;
    free(m->demonitor);
    free(m);
}

remote_mon *mb_remote_mon_take(mb_dist *d, mb_ref ref) {
    for (remote_mon **pp = &d->remote_mons, *m; (m = *pp); pp = &m->next)
        if (m->ref == ref) {
            *pp = m->next;
            return m;
        }
    return NULL;
}

static void tell(mb_dist *d, remote_mon *m, const uint8_t *reason, size_t n) {
    mb_buf b;
    mb_buf_init(&b);
    int bad = mb_put_tuple_head(&b, 5) || mb_put_string(&b, "DOWN", 4) || mb_put_id(&b, MB_T_REF, m->ref) ||
              mb_put_string(&b, "process", 7) || mb_buf_put(&b, m->target, m->ntarget) || mb_buf_put(&b, reason, n);
    /* A DOWN as the core's are: tagged with its ref, so a call awaiting it
     * finds it in its reply slot and demonitor's flush finds it queued. */
    mb_msg_kind kind = m->call ? MB_MSG_CALL_DOWN : MB_MSG_DOWN;
    if (bad || mb_send(d->rt, NULL, 0, m->watcher, kind, m->ref, b.p, b.len) < 0)
        mb_dist_log("out of memory: a DOWN from %s dropped", m->node);
    mb_buf_free(&b);
}

void mb_remote_mon_down(mb_dist *d, mb_ref ref, const uint8_t *reason, size_t n) {
    pthread_mutex_lock(&d->lock);
    remote_mon *m = mb_remote_mon_take(d, ref);
    if (m) atomic_fetch_add(&d->telling, 1);
    pthread_mutex_unlock(&d->lock);
    if (!m) return;   /* demonitored meanwhile */
    tell(d, m, reason, n);
    atomic_fetch_sub(&d->telling, 1);
    mb_remote_mon_free(m);
}

void mb_remote_mon_node_down(mb_dist *d, const char *node) {
    mb_small_term why = mb_small_str("noconnection");
    remote_mon *gone = NULL;   /* told with the lock let go: a DOWN is a send */
    pthread_mutex_lock(&d->lock);
    for (remote_mon **pp = &d->remote_mons, *m; (m = *pp);) {
        if (strcmp(m->node, node) != 0) {
            pp = &m->next;
            continue;
        }
        *pp = m->next;
        m->next = gone;
        gone = m;
    }
    if (gone) atomic_fetch_add(&d->telling, 1);
    pthread_mutex_unlock(&d->lock);
    for (remote_mon *m = gone, *next; m; m = next) {
        next = m->next;
        tell(d, m, why.b, why.n);
        mb_remote_mon_free(m);
    }
    if (gone) atomic_fetch_sub(&d->telling, 1);
}

void mb_remote_mon_clear(mb_dist *d) {
    pthread_mutex_lock(&d->lock);
    remote_mon *all = d->remote_mons;
    d->remote_mons = NULL;
    pthread_mutex_unlock(&d->lock);
    for (remote_mon *m = all, *next; m; m = next) {
        next = m->next;
        mb_remote_mon_free(m);
    }
}
