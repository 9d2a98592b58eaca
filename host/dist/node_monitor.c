/* node_monitor.c: erlang:monitor_node's monitors (see dist.h,
 * mb_dist_monitor_node). A list on the distribution thread: monitors are
 * few, and a monitor of a process that died is dropped when the next one
 * is added (it could only ever be told into a dead mailbox). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/process.h"
#include "core/runtime.h"
#include "core/term.h"
#include "dist_internal.h"

int mb_dist_send_nodedown(mb_runtime *rt, mb_pid pid, const char *node) {
    mb_buf b;
    mb_buf_init(&b);
    int rc = mb_put_tuple_head(&b, 2) || mb_put_string(&b, "nodedown", 8) ||
                     mb_put_string(&b, node, strlen(node))
                 ? -1
                 : mb_send(rt, NULL, 0, pid, MB_MSG_DATA, 0, b.p, b.len) < 0 ? -1 : 0;
    mb_buf_free(&b);
    return rc;
}

int mb_node_mon_add(mb_dist *d, const char *node, mb_pid pid) {
    for (node_mon **pp = &d->node_mons, *m; (m = *pp);) {
        if (!mb_proctab_alive(&d->rt->procs, m->pid)) {
            *pp = m->next;
            free(m);
        } else {
            pp = &m->next;
        }
    }
    node_mon *m = malloc(sizeof *m);
    if (!m) return -1;
    snprintf(m->node, sizeof m->node, "%s", node);
    m->pid = pid;
    m->next = d->node_mons;
    d->node_mons = m;
    return 0;
}

void mb_node_mon_remove(mb_dist *d, const char *node, mb_pid pid) {
    for (node_mon **pp = &d->node_mons, *m; (m = *pp); pp = &m->next)
        if (m->pid == pid && strcmp(m->node, node) == 0) {
            *pp = m->next;
            free(m);
            return;
        }
}

void mb_node_mon_fire(mb_dist *d, const char *node) {
    for (node_mon **pp = &d->node_mons, *m; (m = *pp);) {
        if (strcmp(m->node, node) != 0) {
            pp = &m->next;
            continue;
        }
        *pp = m->next;
        if (mb_dist_send_nodedown(d->rt, m->pid, node))
            mb_dist_log("out of memory telling a process that %s is down", node);
        free(m);
    }
}

void mb_node_mon_clear(mb_dist *d) {
    for (node_mon *m = d->node_mons, *next; m; m = next) {
        next = m->next;
        free(m);
    }
    d->node_mons = NULL;
}
