/* peer_monitor.c: monitors other nodes hold on this node's processes
 * (MONITOR_P, which Erlang sends for erlang:monitor and every
 * gen_server:call). A target that is not there is answered at once with
 * MONITOR_P_EXIT noproc. A live one gets the monitor in its own
 * monitored_by (mb_monitor_remote), so its end sends the DOWN, with the
 * exit reason, through the runtime's remote_signal to mb_peer_mon_down,
 * which answers with the terms the peer sent (a name stays a name). This
 * list, on the distribution thread, keeps those terms and undoes the
 * core's half on DEMONITOR_P or when the connection drops. */
#include <stdlib.h>
#include <string.h>
#include "core/names.h"
#include "core/runtime.h"
#include "core/signal.h"
#include "dist_internal.h"
#include "etf.h"

/* One monitor: the raw terms to answer with, in one allocation. */
typedef struct peer_mon {
    struct peer_mon *next;
    dist_conn *conn;
    mb_pid target;             /* 0: net_kernel's own, which never ends */
    mb_ref ref;                /* the peer's ref, as the core holds it */
    size_t nfrom, nto, nref;
    uint8_t bytes[];           /* from, to, ref */
} peer_mon;

/* MONITOR_P_EXIT {21, To, From, Ref, Reason} on c; reason a term in the
 * external format without its version byte. */
static void answer(dist_conn *c, const uint8_t *to, size_t nto, const uint8_t *from, size_t nfrom,
                   const uint8_t *ref, size_t nref, const uint8_t *reason, size_t nreason) {
    mb_buf b;
    mb_buf_init(&b);
    static const uint8_t head[6] = {0, 0, 0, 0, 112, MB_ETF_VERSION};
    int bad = mb_buf_put(&b, head, 6) || mb_etf_put_tuple(&b, 5) || mb_etf_put_int(&b, MB_DIST_MONITOR_P_EXIT) ||
              mb_buf_put(&b, to, nto) || mb_buf_put(&b, from, nfrom) || mb_buf_put(&b, ref, nref) ||
              mb_buf_put(&b, reason, nreason);
    if (!bad) {
        size_t n = b.len - 4;
        b.p[0] = (uint8_t)(n >> 24), b.p[1] = (uint8_t)(n >> 16), b.p[2] = (uint8_t)(n >> 8), b.p[3] = (uint8_t)n;
        mb_dist_conn_write(c, b.p, b.len);
    } else {
        mb_dist_log("out of memory answering a monitor of %s", c->peer);
    }
    mb_buf_free(&b);
}

/* The encoded atom noproc, without version byte. */
static const uint8_t noproc[] = {MB_ETF_SMALL_ATOM_UTF8, 6, 'n', 'o', 'p', 'r', 'o', 'c'};

void mb_peer_mon_add(dist_conn *c, mb_etf_rd *r) {
    const uint8_t *from, *to, *ref;
    size_t nfrom, nto, nref;
    if (mb_etf_span(r, &from, &nfrom) || mb_etf_span(r, &to, &nto) || mb_etf_span(r, &ref, &nref)) return;
    mb_dist *d = c->d;
    mb_pid target = 0, watcher = 0;
    mb_ref mref = 0;
    mb_etf_rd q = {to, to + nto};
    mb_etf_atom name;
    mb_etf_pid pid;
    mb_etf_ref eref;
    /* net_kernel, unless a process took the name, is this node's own
     * (dist_control.c answers it): it never ends, target 0 says so. */
    bool net_kernel = false;
    if (mb_etf_atom_get(&q, &name) == 0) {
        target = mb_names_whereis(d->rt, name.s, name.n);
        net_kernel = !target && name.n == 10 && memcmp(name.s, "net_kernel", 10) == 0;
    } else if (mb_etf_pid_get(&q, &pid) == 0) {
        target = mb_dist_pid_of(&d->me, &pid);
    }
    mb_etf_rd qf = {from, from + nfrom}, qr = {ref, ref + nref};
    if (mb_etf_pid_get(&qf, &pid) == 0) watcher = mb_dist_pid_of(&d->me, &pid);
    if (mb_etf_ref_get(&qr, &eref) == 0) mref = mb_dist_ref_of(&d->me, &eref);
    peer_mon *m = NULL;
    /* Not there, or no memory to watch it: better an early noproc than a caller left hanging. */
    if ((!net_kernel && (!target || mb_pid_is_remote(target) || !watcher || !mref)) ||
        !(m = malloc(sizeof *m + nfrom + nto + nref)) ||
        (target && mb_monitor_remote(d->rt, target, watcher, mref) != MB_LINK_OK)) {
        free(m);
        answer(c, to, nto, from, nfrom, ref, nref, noproc, sizeof noproc);
        return;
    }
    m->conn = c;
    m->target = target;
    m->ref = mref;
    m->nfrom = nfrom, m->nto = nto, m->nref = nref;
    memcpy(m->bytes, from, nfrom);
    memcpy(m->bytes + nfrom, to, nto);
    memcpy(m->bytes + nfrom + nto, ref, nref);
    m->next = d->peer_mons;
    d->peer_mons = m;
}

/* The monitor of c's (any connection's when c is NULL) with ref, out of the list. */
static peer_mon *take(mb_dist *d, dist_conn *c, mb_ref ref) {
    for (peer_mon **pp = &d->peer_mons, *m; (m = *pp); pp = &m->next)
        if (m->ref == ref && (!c || m->conn == c)) {
            *pp = m->next;
            return m;
        }
    return NULL;
}

void mb_peer_mon_remove(dist_conn *c, mb_etf_rd *r) {
    mb_etf_ref eref;
    if (mb_etf_skip(r) || mb_etf_skip(r) || mb_etf_ref_get(r, &eref)) return;
    mb_ref ref = mb_dist_ref_of(&c->d->me, &eref);
    peer_mon *m = ref ? take(c->d, c, ref) : NULL;
    if (!m) return;
    if (m->target) mb_demonitor_remote(c->d->rt, m->target, m->ref);
    free(m);
}

void mb_peer_mon_down(mb_dist *d, mb_ref ref, const uint8_t *reason, size_t n) {
    peer_mon *m = take(d, NULL, ref);
    if (!m) return;   /* demonitored, or its connection dropped, meanwhile */
    answer(m->conn, m->bytes + m->nfrom, m->nto, m->bytes, m->nfrom, m->bytes + m->nfrom + m->nto, m->nref, reason,
           n);
    free(m);
}

void mb_peer_mon_gone(mb_dist *d, dist_conn *gone) {
    for (peer_mon **pp = &d->peer_mons, *m; (m = *pp);) {
        if (gone && m->conn != gone) {
            pp = &m->next;
            continue;
        }
        *pp = m->next;
        if (m->target) mb_demonitor_remote(d->rt, m->target, m->ref);
        free(m);
    }
}
