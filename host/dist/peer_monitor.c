/* peer_monitor.c: monitors other nodes hold on this node's processes
 * (MONITOR_P, which Erlang sends for erlang:monitor and every
 * gen_server:call). A target that is not there is answered at once with
 * MONITOR_P_EXIT noproc; a live one is looked at on every tick of the
 * distribution thread's timer (a second at most), and its end is answered
 * the same way. The core keeps no exit reason once a process is gone, so
 * the reason the peer sees is always noproc: a caller gets an error within
 * a second instead of its timeout. A list on the distribution thread. */
#include <stdlib.h>
#include <string.h>
#include "core/names.h"
#include "core/runtime.h"
#include "dist_internal.h"
#include "etf.h"

/* One monitor: the raw terms to answer with, in one allocation. */
typedef struct peer_mon {
    struct peer_mon *next;
    dist_conn *conn;
    mb_pid target;
    size_t nfrom, nto, nref;
    uint8_t bytes[];           /* from, to, ref */
} peer_mon;

/* MONITOR_P_EXIT {21, To, From, Ref, noproc} on c. */
static void answer(dist_conn *c, const uint8_t *to, size_t nto, const uint8_t *from, size_t nfrom,
                   const uint8_t *ref, size_t nref) {
    mb_buf b;
    mb_buf_init(&b);
    static const uint8_t head[6] = {0, 0, 0, 0, 112, MB_ETF_VERSION};
    int bad = mb_buf_put(&b, head, 6) || mb_etf_put_tuple(&b, 5) || mb_etf_put_int(&b, 21) ||
              mb_buf_put(&b, to, nto) || mb_buf_put(&b, from, nfrom) || mb_buf_put(&b, ref, nref) ||
              mb_etf_put_atom(&b, "noproc", 6);
    if (!bad) {
        size_t n = b.len - 4;
        b.p[0] = (uint8_t)(n >> 24), b.p[1] = (uint8_t)(n >> 16), b.p[2] = (uint8_t)(n >> 8), b.p[3] = (uint8_t)n;
        mb_dist_conn_write(c, b.p, b.len);
    } else {
        mb_dist_log("out of memory answering a monitor of %s", c->peer);
    }
    mb_buf_free(&b);
}

void mb_peer_mon_add(dist_conn *c, mb_etf_rd *r) {
    const uint8_t *from, *to, *ref;
    size_t nfrom, nto, nref;
    if (mb_etf_span(r, &from, &nfrom) || mb_etf_span(r, &to, &nto) || mb_etf_span(r, &ref, &nref)) return;
    mb_dist *d = c->d;
    mb_pid target = 0;
    mb_etf_rd q = {to, to + nto};
    mb_etf_atom name;
    mb_etf_pid pid;
    /* net_kernel, unless a process took the name, is this node's own
     * (dist_control.c answers it): it never ends, target 0 says so. */
    bool net_kernel = false;
    if (mb_etf_atom_get(&q, &name) == 0) {
        target = mb_names_whereis(d->rt, name.s, name.n);
        net_kernel = !target && name.n == 10 && memcmp(name.s, "net_kernel", 10) == 0;
    } else if (mb_etf_pid_get(&q, &pid) == 0) {
        target = mb_dist_pid_of(&d->me, &pid);
    }
    if (!net_kernel && (!target || mb_pid_is_remote(target) || !mb_proctab_alive(&d->rt->procs, target))) {
        answer(c, to, nto, from, nfrom, ref, nref);
        return;
    }
    peer_mon *m = malloc(sizeof *m + nfrom + nto + nref);
    if (!m) {
        answer(c, to, nto, from, nfrom, ref, nref);   /* better an early noproc than a caller left hanging */
        return;
    }
    m->conn = c;
    m->target = target;
    m->nfrom = nfrom, m->nto = nto, m->nref = nref;
    memcpy(m->bytes, from, nfrom);
    memcpy(m->bytes + nfrom, to, nto);
    memcpy(m->bytes + nfrom + nto, ref, nref);
    m->next = d->peer_mons;
    d->peer_mons = m;
}

void mb_peer_mon_remove(dist_conn *c, mb_etf_rd *r) {
    const uint8_t *from, *to, *ref;
    size_t nfrom, nto, nref;
    if (mb_etf_span(r, &from, &nfrom) || mb_etf_span(r, &to, &nto) || mb_etf_span(r, &ref, &nref)) return;
    for (peer_mon **pp = &c->d->peer_mons, *m; (m = *pp); pp = &m->next)
        if (m->conn == c && m->nref == nref && memcmp(m->bytes + m->nfrom + m->nto, ref, nref) == 0) {
            *pp = m->next;
            free(m);
            return;
        }
}

void mb_peer_mon_check(mb_dist *d, dist_conn *gone) {
    for (peer_mon **pp = &d->peer_mons, *m; (m = *pp);) {
        bool dead = gone ? m->conn == gone : m->target && !mb_proctab_alive(&d->rt->procs, m->target);
        if (!dead) {
            pp = &m->next;
            continue;
        }
        *pp = m->next;
        if (!gone) answer(m->conn, m->bytes + m->nfrom, m->nto, m->bytes, m->nfrom, m->bytes + m->nfrom + m->nto, m->nref);
        free(m);
    }
}
