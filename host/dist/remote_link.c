/* remote_link.c: links and exit signals between this node's processes and
 * other nodes' (see dist_internal.h). A link's local half is in the local
 * process's links (signal.h, mb_link_remote), so its end sends an exit
 * signal to the remote pid, which the runtime hands to
 * mb_dist_remote_signal: it leaves as EXIT (a link's) or EXIT2 (exit/2),
 * and a DOWN for a peer's monitor goes to peer_monitor.c.
 * This list, on the distribution thread, knows which links cross which
 * connection: when it drops they break with "noconnection", as in Erlang.
 * A stale entry (its link gone meanwhile) is harmless: a local process
 * ignores a link's exit signal from a pid it is no longer linked to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/process.h"
#include "core/runtime.h"
#include "core/signal.h"
#include "dist_internal.h"
#include "etf.h"

/* The node of a remote pid, into node; false when this node does not know it. */
static bool node_of(mb_dist *d, mb_pid pid, char node[MB_NODE_MAX + 1]) {
    mb_remote r;
    return mb_pid_is_remote(pid) && mb_nodetab_get(d->tab, pid, &r) && r.node != 0 &&
           mb_nodetab_node_name(d->tab, r.node, node, MB_NODE_MAX + 1);
}

static void add(mb_dist *d, const char *node, mb_pid local, mb_pid remote) {
    for (remote_link *l = d->links; l; l = l->next)
        if (l->local == local && l->remote == remote) return;
    remote_link *l = malloc(sizeof *l);
    if (!l) {
        mb_dist_log("out of memory: a link with %s will not see its connection drop", node);
        return;
    }
    snprintf(l->node, sizeof l->node, "%s", node);
    l->local = local, l->remote = remote;
    l->next = d->links;
    d->links = l;
}

static void drop(mb_dist *d, mb_pid local, mb_pid remote) {
    for (remote_link **pp = &d->links, *l; (l = *pp); pp = &l->next)
        if (l->local == local && l->remote == remote) {
            *pp = l->next;
            free(l);
            return;
        }
}

/* The link's exit signal "noconnection" from remote to local. */
static void noconnection(mb_dist *d, mb_pid local, mb_pid remote) {
    mb_small_term why = mb_small_str("noconnection");
    if (mb_send(d->rt, NULL, remote, local, MB_SIG_LINK_EXIT, 0, why.b, why.n) < 0)
        mb_dist_log("out of memory: a link's noconnection dropped");
}

/* The control frame {op, [Id,] From, To[, Reason]} into b: id (UNLINK_ID
 * and its ACK) and reason are terms in the external format, without
 * version byte, or NULL. */
static int control(mb_dist *d, mb_buf *b, int op, const uint8_t *id, size_t nid, mb_pid from, mb_pid to,
                   const uint8_t *reason, size_t n) {
    static const uint8_t head[6] = {0, 0, 0, 0, 112, MB_ETF_VERSION};
    if (mb_buf_put(b, head, sizeof head) || mb_etf_put_tuple(b, 3 + (id != NULL) + (reason != NULL)) ||
        mb_etf_put_int(b, op) || (id && mb_buf_put(b, id, nid)) || mb_dist_put_pid(&d->me, b, from) ||
        mb_dist_put_pid(&d->me, b, to) || (reason && mb_buf_put(b, reason, n)))
        return -1;
    size_t len = b->len - 4;
    b->p[0] = (uint8_t)(len >> 24), b->p[1] = (uint8_t)(len >> 16);
    b->p[2] = (uint8_t)(len >> 8), b->p[3] = (uint8_t)len;
    return 0;
}

void mb_remote_link_send(mb_dist *d, int op, mb_pid local, mb_pid remote, const uint8_t *reason, size_t n) {
    char node[MB_NODE_MAX + 1];
    if (!node_of(d, remote, node)) {
        if (op == MB_DIST_LINK) noconnection(d, local, remote);   /* a pid of no node this one knows */
        return;
    }
    if (op == MB_DIST_LINK) add(d, node, local, remote);
    else if (op != MB_DIST_EXIT2) drop(d, local, remote);
    dist_conn *c = mb_dist_find(d, node, true);
    /* A peer of OTP 23 or later unlinks with an id it acknowledges (the
     * ack needs nothing from us: the link's local half is gone already). */
    mb_buf b, id;
    mb_buf_init(&b), mb_buf_init(&id);
    bool with_id = op == MB_DIST_UNLINK && c && (c->peer_flags & MB_DFLAG_UNLINK_ID);
    if (with_id) op = MB_DIST_UNLINK_ID;
    if ((with_id && mb_etf_put_int(&id, (int64_t)(++d->unlink_id & INT64_MAX))) ||
        control(d, &b, op, with_id ? id.p : NULL, id.len, local, remote, reason, n)) {
        mb_buf_free(&id);
        mb_dist_log("out of memory: a link or exit signal to %s dropped", node);
        mb_buf_free(&b);
        if (op == MB_DIST_LINK) {
            drop(d, local, remote);
            noconnection(d, local, remote);
        }
        return;
    }
    mb_buf_free(&id);
    /* LINK and EXIT2 connect when needed, as Erlang's do. A link's EXIT
     * waits for a connection still being made (its LINK waits there too);
     * with none, the peer saw the link break already. UNLINK needs the
     * peer's flags: it goes only over a connection that is up. */
    bool queue = op == MB_DIST_LINK || op == MB_DIST_EXIT2 || (op == MB_DIST_EXIT && mb_dist_find(d, node, false));
    if (c) mb_dist_conn_write(c, b.p, b.len);
    else if (queue && !mb_dist_write_to(d, node, b.p, b.len) && op == MB_DIST_LINK) mb_remote_link_node_down(d, node);
    mb_buf_free(&b);
}

void mb_remote_link_control(dist_conn *c, int op, mb_etf_rd *r) {
    mb_dist *d = c->d;
    mb_etf_pid from_e, to_e;
    const uint8_t *id = NULL;
    size_t nid = 0;
    if ((op == MB_DIST_UNLINK_ID && mb_etf_span(r, &id, &nid)) || mb_etf_pid_get(r, &from_e) ||
        mb_etf_pid_get(r, &to_e))
        return;
    mb_pid from = mb_dist_pid_of(&d->me, &from_e), to = mb_dist_pid_of(&d->me, &to_e);
    if (!from || !to || mb_pid_is_remote(to)) return;
    if (op == MB_DIST_LINK) {
        int rc = mb_link_remote(d->rt, to, from);
        if (rc == MB_LINK_OK) {
            add(d, c->peer, to, from);
            return;
        }
        /* Not there (or no memory to hold the link): the linker's link breaks at once. */
        mb_buf b;
        mb_buf_init(&b);
        mb_buf reason;
        mb_buf_init(&reason);
        if (mb_etf_put_atom(&reason, "noproc", 6) ||
            control(d, &b, MB_DIST_EXIT, NULL, 0, to, from, reason.p, reason.len))
            mb_dist_log("out of memory answering a link from %s", c->peer);
        else mb_dist_conn_write(c, b.p, b.len);
        mb_buf_free(&b), mb_buf_free(&reason);
        return;
    }
    if (op == MB_DIST_UNLINK || op == MB_DIST_UNLINK_ID) {
        mb_unlink_remote(d->rt, to, from);
        drop(d, to, from);
        mb_buf b;
        mb_buf_init(&b);
        if (op == MB_DIST_UNLINK_ID) {   /* acknowledged, as the peer waits for that */
            if (control(d, &b, MB_DIST_UNLINK_ID_ACK, id, nid, to, from, NULL, 0))
                mb_dist_log("out of memory acknowledging an unlink from %s", c->peer);
            else mb_dist_conn_write(c, b.p, b.len);
        }
        mb_buf_free(&b);
        return;
    }
    /* EXIT (a linked process ended) or EXIT2 (exit/2): the signal, acted on as a local one. */
    if (op == MB_DIST_EXIT) drop(d, to, from);
    mb_buf b;
    mb_buf_init(&b);
    const char *why = NULL;
    if (mb_dist_reason_of(c, r, &b, &why, 0)) {   /* a reason moonbeam cannot carry */
        b.len = 0;
        why = mb_put_string(&b, "unknown", 7) ? "out of memory" : NULL;
    }
    int kind = op == MB_DIST_EXIT ? MB_SIG_LINK_EXIT : MB_SIG_EXIT;
    if (why || mb_send(d->rt, NULL, from, to, kind, 0, b.p, b.len) < 0)
        mb_dist_log("out of memory: an exit signal from %s dropped", c->peer);
    mb_buf_free(&b);
}

void mb_remote_link_node_down(mb_dist *d, const char *node) {
    for (remote_link **pp = &d->links, *l; (l = *pp);) {
        if (strcmp(l->node, node) != 0) {
            pp = &l->next;
            continue;
        }
        *pp = l->next;
        noconnection(d, l->local, l->remote);
        free(l);
    }
}

void mb_remote_link_clear(mb_dist *d) {
    for (remote_link *l = d->links, *next; l; l = next) {
        next = l->next;
        free(l);
    }
    d->links = NULL;
}

/* A frame's start: its length (filled in by timer_frame), pass-through, version. */
static int frame_head(mb_buf *b) {
    static const uint8_t head[6] = {0, 0, 0, 0, 112, MB_ETF_VERSION};
    return mb_buf_put(b, head, sizeof head);
}

/* A timer's message (send_after, send_interval) to node: b holds the
 * frame's control tuple, or failed is set (out of memory); the message
 * follows in the external format. One that cannot cross (a function, a
 * shared table) is dropped, as to a dead pid, and logged. */
static int timer_frame(mb_dist *d, const char *node, mb_buf *b, bool failed, const uint8_t *msg, size_t len) {
    const char *why = NULL;
    if (failed || mb_etf_put_version(b)) why = "out of memory";
    else mb_dist_to_etf(&d->me, (mb_span){msg, len}, b, &why);
    if (why) {
        mb_buf_free(b);
        mb_dist_log("a timer's message to a process of another node dropped: it holds %s", why);
        return 0;
    }
    size_t n = b->len - 4;
    b->p[0] = (uint8_t)(n >> 24), b->p[1] = (uint8_t)(n >> 16), b->p[2] = (uint8_t)(n >> 8), b->p[3] = (uint8_t)n;
    mb_dist_send_frame(d, NULL, node, b->p, b->len);   /* takes b's bytes; fails only when the host stops */
    return 0;
}

/* A timer's message to a remote pid: a SEND frame {2, '', To}; to a pid of
 * no node this one knows: dropped, as to a dead pid. */
static int send_message(mb_dist *d, mb_pid dest, const uint8_t *msg, size_t len) {
    char node[MB_NODE_MAX + 1];
    if (!node_of(d, dest, node)) return 0;
    mb_buf b;
    mb_buf_init(&b);
    bool failed = frame_head(&b) || mb_etf_put_tuple(&b, 3) || mb_etf_put_int(&b, MB_DIST_SEND) ||
                  mb_etf_put_atom(&b, "", 0) || mb_dist_put_pid(&d->me, &b, dest);
    return timer_frame(d, node, &b, failed, msg, len);
}

/* The runtime's remote_named: a timer's message from the local process
 * from to the process registered as name on node, a REG_SEND frame {6,
 * From, '', Name} (connecting first, as a send does). No such node (not a
 * node's name, or this host no longer one): dropped. The name was checked
 * when the timer was set (an atom's). */
int mb_dist_remote_named(mb_runtime *rt, mb_pid from, const char *name, const char *node, const uint8_t *msg,
                         size_t len) {
    mb_dist *d = mb_dist_of(rt);
    if (!d || strlen(node) > MB_NODE_MAX || !strchr(node, '@')) return 0;
    mb_buf b;
    mb_buf_init(&b);
    bool failed = frame_head(&b) || mb_etf_put_tuple(&b, 4) || mb_etf_put_int(&b, MB_DIST_REG_SEND) ||
                  mb_dist_put_pid(&d->me, &b, from) || mb_etf_put_atom(&b, "", 0) ||
                  mb_etf_put_atom(&b, name, strlen(name));
    return timer_frame(d, node, &b, failed, msg, len);
}

/* Any thread: a local process's exit signal or DOWN to a remote pid, its
 * reason in the external format (a string as an atom: "killed" leaves as
 * killed), posted to the distribution thread; or a timer's message
 * (kind MB_MSG_DATA: send_message). */
int mb_dist_remote_signal(mb_runtime *rt, mb_pid from, mb_pid dest, int kind, mb_ref ref, const uint8_t *reason,
                          size_t len) {
    mb_dist *d = mb_dist_of(rt);
    if (!d) return 0;   /* no longer a node: dropped */
    if (kind == MB_MSG_DATA) return send_message(d, dest, reason, len);
    mb_span v = {reason, len};
    const char *s, *why = NULL;
    size_t n;
    mb_buf b;
    mb_buf_init(&b);
    mb_span tag, detail;
    if (mb_term_str(v, &s, &n) && mb_etf_atom_fits(s, n)) {   /* else a binary (mb_dist_to_etf) */
        if (mb_etf_put_atom(&b, s, n)) why = "out of memory";
    } else if (mb_term_len(v) == 2 && mb_term_index(v, 1, &tag) && mb_term_is_str(tag, "shutdown") &&
               mb_term_index(v, 2, &detail)) {
        /* {"shutdown", detail} leaves as {shutdown, Detail}, which OTP's
         * supervisors and links take as a shutdown, not a crash */
        if (mb_etf_put_tuple(&b, 2) || mb_etf_put_atom(&b, "shutdown", 8)) why = "out of memory";
        else if (mb_dist_to_etf(&d->me, detail, &b, &why)) {
            mb_buf_free(&b);
            mb_buf_init(&b);
            why = mb_etf_put_atom(&b, "shutdown", 8) ? "out of memory" : NULL;   /* a detail that cannot cross */
        }
    } else if (mb_dist_to_etf(&d->me, v, &b, &why)) {
        mb_buf_free(&b);
        mb_buf_init(&b);   /* what cannot cross still ends the link: a reason that can */
        why = mb_etf_put_atom(&b, "unknown", 7) ? "out of memory" : NULL;
    }
    if (why) {
        mb_buf_free(&b);
        return -1;
    }
    int op = kind == MB_SIG_LINK_EXIT ? MB_DIST_EXIT : kind == MB_SIG_DOWN ? MB_DIST_MONITOR_P_EXIT : MB_DIST_EXIT2;
    mb_dist_link_signal(d, op, from, dest, ref, b.p, b.len);   /* takes b's bytes; fails only when the host stops */
    return 0;
}
