/* dist.c: the distribution thread (see dist.h): starting and stopping it,
 * its request queue, the listener, the timer, and the node table. What a
 * connection does is dist_conn.c's. */
#include "dist.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/call.h"
#include "core/process.h"
#include "core/runtime.h"
#include "core/term.h"
#include "dist_internal.h"
#include "epmd.h"

static const char dist_key;   /* where the runtime keeps this (runtime.h) */

typedef enum req_op { REQ_CONNECT, REQ_MONITOR_NODE, REQ_DEMONITOR_NODE, REQ_FRAME, REQ_MONITOR, REQ_DEMONITOR, REQ_LINK } req_op;

typedef struct dist_req {
    struct dist_req *next;
    req_op op;
    mb_pid pid;
    mb_ref ref;                /* CONNECT: the answer's; LINK's MONITOR_P_EXIT: the monitor's */
    char node[MB_NODE_MAX + 1];
    uint8_t *frame;            /* FRAME, MONITOR (its MONITOR_P; the monitor is listed), DEMONITOR: malloc'd */
    size_t len;
    int link_op;               /* LINK: dist.h's MB_DIST_*; pid local, remote the other end */
    mb_pid remote;
} dist_req;

void mb_dist_log(const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "moonbeam: distribution: %s\n", line);
}

void mb_dist_answer(mb_dist *d, mb_pid pid, mb_ref ref, const char *failure) {
    /* An answer is a list of one array, {true} or {false, reason}, which
     * mb.connect's loop (lua/moonbeam/init.lua) takes from the reply slot. */
    mb_buf b;
    mb_buf_init(&b);
    int bad = mb_buf_varint(&b, 1) || mb_put_tuple_head(&b, failure ? 2 : 1) || mb_put_bool(&b, !failure) ||
              (failure && mb_put_string(&b, failure, strlen(failure)));
    if (bad || mb_call_reply(d->rt, NULL, pid, ref, b.p, b.len))
        mb_dist_log("out of memory answering a connect request");
    mb_buf_free(&b);
}

void mb_dist_park(mb_dist *d, dist_conn *c) {
    double deadline = mb_now_ms() + MB_DIST_SETUP_MS;
    for (size_t i = 0; i < c->nwaiters; i++) {
        parked *p = malloc(sizeof *p);
        if (!p) {
            mb_dist_answer(d, c->waiters[i].pid, c->waiters[i].ref, "enomem");
            continue;
        }
        snprintf(p->node, sizeof p->node, "%s", c->peer);
        p->w = c->waiters[i];
        p->deadline = deadline;
        p->next = d->parked;
        d->parked = p;
    }
}

void mb_dist_park_frames(mb_dist *d, dist_conn *c) {
    if (!c->pending.len) return;
    parked_frames *p = malloc(sizeof *p);
    if (!p) {
        mb_dist_log("out of memory: messages to %s dropped", c->peer);
        return;
    }
    snprintf(p->node, sizeof p->node, "%s", c->peer);
    p->frames = c->pending;   /* taken: c's is empty again */
    mb_buf_init(&c->pending);
    p->deadline = mb_now_ms() + MB_DIST_SETUP_MS;
    p->next = d->parked_frames;
    d->parked_frames = p;
}

int mb_dist_take_parked_frames(mb_dist *d, dist_conn *c) {
    int rc = 0;
    for (parked_frames **pp = &d->parked_frames, *p; (p = *pp);) {
        if (strcmp(p->node, c->peer) != 0) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        /* Older than anything c queued: ahead of it. */
        if (mb_buf_put(&p->frames, c->pending.p, c->pending.len)) {
            mb_dist_log("out of memory: messages to %s dropped", c->peer);
            rc = -1;
            mb_buf_free(&p->frames);
        } else {
            mb_buf_free(&c->pending);
            c->pending = p->frames;
        }
        free(p);
    }
    return rc;
}

void mb_dist_unpark(mb_dist *d, const char *node, const char *failure, double now) {
    for (parked_frames **pp = &d->parked_frames, *p; !node && (p = *pp);) {
        if (now < p->deadline) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        mb_dist_log("messages to %s dropped: its connection never came", p->node);
        mb_buf_free(&p->frames);
        free(p);
    }
    for (parked **pp = &d->parked, *p; (p = *pp);) {
        bool due = node ? strcmp(p->node, node) == 0 : now >= p->deadline;
        if (!due) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        mb_dist_answer(d, p->w.pid, p->w.ref, node ? failure : "nodedown");
        /* The peer's connection never came: its monitors learn so too. */
        if (!node && !mb_dist_find(d, p->node, false)) mb_node_mon_fire(d, p->node);
        free(p);
    }
}

dist_conn *mb_dist_find(mb_dist *d, const char *node, bool up_only) {
    for (dist_conn *c = d->conns; c; c = c->next)
        if (c->state != C_CLOSED && strcmp(c->peer, node) == 0 && (!up_only || c->state == C_UP)) return c;
    return NULL;
}

/* A monitor_node request: the monitor, and an attempt to connect when
 * there is no connection (its failure fires the monitor). */
static void monitor_node(mb_dist *d, dist_req *r) {
    if (r->op == REQ_DEMONITOR_NODE) {
        mb_node_mon_remove(d, r->node, r->pid);
        return;
    }
    if (mb_node_mon_add(d, r->node, r->pid)) {
        mb_dist_log("out of memory monitoring node %s", r->node);
        return;
    }
    if (mb_dist_find(d, r->node, false)) return;
    dist_conn *c = mb_dist_conn_new(d, true);
    if (!c) {
        mb_node_mon_fire(d, r->node);
        return;
    }
    snprintf(c->peer, sizeof c->peer, "%s", r->node);
    mb_dist_conn_dial(c, r->node);
}

bool mb_dist_write_to(mb_dist *d, const char *node, const uint8_t *frame, size_t len) {
    dist_conn *c = mb_dist_find(d, node, false);
    if (!c) {
        if (!(c = mb_dist_conn_new(d, true))) return false;
        snprintf(c->peer, sizeof c->peer, "%s", node);
        mb_dist_conn_dial(c, node);
        if (c->state == C_CLOSED) return false;
    }
    if (c->state == C_UP) mb_dist_conn_write(c, frame, len);
    else if (mb_buf_put(&c->pending, frame, len)) mb_dist_log("out of memory: a message to %s dropped", node);
    return true;
}

/* A frame for node: written, or kept until its connection is up. */
static void frame(mb_dist *d, dist_req *r) { mb_dist_write_to(d, r->node, r->frame, r->len); }

/* A remote monitor listed by its process (mb_dist_monitor): its MONITOR_P
 * sent (connecting first; a connection that cannot be made gives the DOWN
 * "noconnection"), unless it was demonitored or told its DOWN meanwhile. */
static void monitor(mb_dist *d, dist_req *r) {
    pthread_mutex_lock(&d->lock);
    remote_mon *m = d->remote_mons;
    while (m && m->ref != r->ref) m = m->next;
    if (m) m->queued = false;
    pthread_mutex_unlock(&d->lock);
    if (!m) return;
    frame(d, r);
    if (!mb_dist_find(d, r->node, false)) mb_remote_mon_node_down(d, r->node);
}

/* A monitor's end (its DEMONITOR_P frame), told to the peer when the
 * connection is up (a dropped one has ended the monitor there). */
static void demonitor(mb_dist *d, dist_req *r) {
    dist_conn *c = mb_dist_find(d, r->node, true);
    if (c) mb_dist_conn_write(c, r->frame, r->len);
}

/* A request, on the thread. */
static void handle(mb_dist *d, dist_req *r) {
    if (r->op == REQ_FRAME) {
        frame(d, r);
        return;
    }
    if (r->op == REQ_MONITOR) {
        monitor(d, r);
        return;
    }
    if (r->op == REQ_DEMONITOR) {
        demonitor(d, r);
        return;
    }
    if (r->op == REQ_LINK && r->link_op == MB_DIST_MONITOR_P_EXIT) {
        mb_peer_mon_down(d, r->ref, r->frame, r->len);
        return;
    }
    if (r->op == REQ_LINK) {
        mb_remote_link_send(d, r->link_op, r->pid, r->remote, r->frame, r->len);
        return;
    }
    if (r->op != REQ_CONNECT) {
        monitor_node(d, r);
        return;
    }
    dist_conn *c = mb_dist_find(d, r->node, false);
    if (c && c->state == C_UP) {
        mb_dist_answer(d, r->pid, r->ref, NULL);
        return;
    }
    if (!c) {
        c = mb_dist_conn_new(d, true);
        if (!c) {
            mb_dist_answer(d, r->pid, r->ref, "enomem");
            return;
        }
        snprintf(c->peer, sizeof c->peer, "%s", r->node);
        if (mb_dist_conn_add_waiter(c, r->pid, r->ref)) mb_dist_answer(d, r->pid, r->ref, "enomem");
        mb_dist_conn_dial(c, r->node);
        return;
    }
    if (mb_dist_conn_add_waiter(c, r->pid, r->ref)) mb_dist_answer(d, r->pid, r->ref, "enomem");
}

#define STOP_FLUSH_MS 1000   /* what was written to an open connection: a second to go out */
#define STOP_DIAL_MS 3000    /* what waits for a connection being made: that long, in all */

/* Whether c is being made for frames that wait for it (dist_conn.c, up). */
static bool dialing_for_frames(const dist_conn *c) {
    return c->state != C_UP && c->state != C_CLOSED && c->initiator && c->pending.len;
}

/* Stopping, past the time to flush: whatever is still open closes, but
 * for connections being made for frames sent before the stop, and those
 * whose frames are out and whose peer has yet to close its end, which get
 * until STOP_DIAL_MS (a handshake with a node on a loaded machine takes
 * more than the second an open connection gets). */
static void on_stop_timer(uv_timer_t *t) {
    mb_dist *d = t->data;
    bool last = d->stop_dialing_done, waits = false;
    for (dist_conn *c = d->conns; c; c = c->next) {
        if (c->state == C_CLOSED) continue;
        if (!last && (dialing_for_frames(c) || c->finished)) waits = true;
        else mb_dist_conn_close(c, "stopping");
    }
    d->stop_dialing_done = true;
    if (waits && uv_timer_start(&d->timer, on_stop_timer, STOP_DIAL_MS - STOP_FLUSH_MS, 0) == 0) return;
    if (waits) on_stop_timer(t);   /* no timer: now, as the last */
    else uv_close((uv_handle_t *)&d->timer, NULL);
}

static void flush_out(mb_runtime *rt);   /* runtime.h's, below */

static void on_wake(void *arg) {
    mb_dist *d = arg;
    pthread_mutex_lock(&d->lock);
    dist_req *r = d->head;
    d->head = d->tail = NULL;
    d->handling = r != NULL;   /* until they are written: no other thread writes meanwhile */
    bool stopping = d->stopping;
    pthread_mutex_unlock(&d->lock);
    bool rests = atomic_exchange(&d->rests, false);
    /* A rest first: it is the end of a frame already begun on the wire. */
    for (dist_conn *c = d->conns; rests && c; c = c->next)
        if (c->state == C_UP) mb_dist_conn_flush_rest(c);
    for (dist_req *next; r; r = next) {
        next = r->next;
        /* Stopping, messages already sent still go: on open connections,
         * or on one made for them, given the stop's time to flush. */
        if (!stopping || r->op == REQ_FRAME) handle(d, r);
        else if (r->op == REQ_CONNECT) mb_dist_answer(d, r->pid, r->ref, "stopping");
        free(r->frame);
        free(r);
    }
    pthread_mutex_lock(&d->lock);
    d->handling = false;
    pthread_mutex_unlock(&d->lock);
    if (!stopping || d->closing) return;
    d->closing = true;
    mb_dist_unpark(d, NULL, NULL, INFINITY);
    mb_node_mon_clear(d);   /* the host stops: nobody is told */
    mb_remote_mon_clear(d);
    mb_remote_link_clear(d);
    /* Open connections end once what was written is out and the peer
     * has closed its end; one being made for messages sent before the
     * stop ends so once it is up (dist_conn.c, up): within STOP_FLUSH_MS
     * and STOP_DIAL_MS (a peer that reads nothing, or never answers, is
     * closed then). A lookup
     * in epmd holds the loop until it ends: one begun now waits 1 s a
     * step, one begun before 5 s a step, for each address it tries. */
    for (dist_conn *c = d->conns; c; c = c->next)
        if (c->state == C_UP) mb_dist_conn_finish(c);
        else if (c->state != C_CLOSED && !dialing_for_frames(c)) mb_dist_conn_close(c, "stopping");
    uv_close((uv_handle_t *)&d->listener, NULL);
    uv_close(mb_wake_handle(&d->wake), NULL);
    uv_timer_stop(&d->timer);
    if (!d->conns) uv_close((uv_handle_t *)&d->timer, NULL);
    else if (uv_timer_start(&d->timer, on_stop_timer, STOP_FLUSH_MS, 0)) on_stop_timer(&d->timer);
}

static void on_timer(uv_timer_t *t) {
    mb_dist *d = t->data;
    double now = mb_now_ms();
    mb_dist_unpark(d, NULL, NULL, now);
    for (dist_conn *c = d->conns, *next; c; c = next) {
        next = c->next;
        if (c->state != C_CLOSED) mb_dist_conn_check(c, now);
    }
}

static void on_incoming(uv_stream_t *server, int status) {
    mb_dist *d = server->data;
    if (status < 0) {
        mb_dist_log("accept: %s", uv_strerror(status));
        return;
    }
    dist_conn *c = mb_dist_conn_new(d, false);
    if (!c) {
        mb_dist_log("out of memory accepting a connection");
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
        mb_dist_conn_close(c, "accept failed");
        return;
    }
    mb_dist_conn_accepted(c);
}

static void thread_main(void *arg) {
    mb_dist *d = arg;
    /* A write to a peer that is gone fails with EPIPE here, not SIGPIPE. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    uv_run(&d->loop, UV_RUN_DEFAULT);   /* until on_wake closed everything */
}

/* The listener on cfg's address and port; the port bound, or -1. */
static int listen_on(mb_dist *d, const mb_dist_config *cfg, char *err, size_t errlen) {
    struct sockaddr_storage ss;
    const char *addr = cfg->address ? cfg->address : "0.0.0.0";
    int rc = uv_ip4_addr(addr, cfg->port, (struct sockaddr_in *)&ss);
    if (rc) rc = uv_ip6_addr(addr, cfg->port, (struct sockaddr_in6 *)&ss);
    if (rc) {
        snprintf(err, errlen, "'%s' is not an IP address to listen on", addr);
        return -1;
    }
    if ((rc = uv_tcp_bind(&d->listener, (struct sockaddr *)&ss, 0)) ||
        (rc = uv_listen((uv_stream_t *)&d->listener, 128, on_incoming))) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", addr, cfg->port, uv_strerror(rc));
        return -1;
    }
    int len = sizeof ss;
    if ((rc = uv_tcp_getsockname(&d->listener, (struct sockaddr *)&ss, &len))) {
        snprintf(err, errlen, "getsockname: %s", uv_strerror(rc));
        return -1;
    }
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Close the loop's handles and run it until they are gone (start failed). */
static void drain(mb_dist *d) {
    uv_close((uv_handle_t *)&d->listener, NULL);
    uv_close((uv_handle_t *)&d->timer, NULL);
    uv_close(mb_wake_handle(&d->wake), NULL);
    uv_run(&d->loop, UV_RUN_DEFAULT);
}

mb_dist *mb_dist_start(mb_runtime *rt, const mb_dist_config *cfg, char *err, size_t errlen) {
    const char *at = strchr(cfg->node, '@');
    if (!at || at == cfg->node || !at[1] || strlen(cfg->node) > MB_NODE_MAX || strchr(at + 1, '@')) {
        snprintf(err, errlen, "a node name is name@host (at most %d bytes), not '%s'", MB_NODE_MAX, cfg->node);
        return NULL;
    }
    if (!*cfg->cookie || strlen(cfg->cookie) > MB_NODE_MAX) {
        snprintf(err, errlen, "a cookie has 1 to %d bytes", MB_NODE_MAX);
        return NULL;
    }
    mb_dist *d = calloc(1, sizeof *d);
    if (!d || pthread_mutex_init(&d->lock, NULL)) {
        free(d);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->rt = rt;
    d->epmd_fd = -1;
    d->wake.fd = -1;
    snprintf(d->node, sizeof d->node, "%s", cfg->node);
    snprintf(d->cookie, sizeof d->cookie, "%s", cfg->cookie);
    d->ticktime_ms = 1000.0 * (cfg->ticktime_s ? cfg->ticktime_s : 60);
    if (uv_loop_init(&d->loop)) {
        snprintf(err, errlen, "cannot make an event loop");
        goto fail;
    }
    if (mb_wake_init(&d->loop, &d->wake, on_wake, d) || uv_timer_init(&d->loop, &d->timer) ||
        uv_tcp_init(&d->loop, &d->listener)) {
        snprintf(err, errlen, "cannot make the loop's handles");
        uv_loop_close(&d->loop);
        goto fail;
    }
    d->timer.data = d->listener.data = d;
    int port = listen_on(d, cfg, err, errlen);
    if (port < 0) goto fail_loop;
    char alive[MB_NODE_MAX + 1];
    snprintf(alive, sizeof alive, "%.*s", (int)(at - cfg->node), cfg->node);
    d->epmd_fd = mb_epmd_register(alive, port, &d->creation, err, errlen);
    if (d->epmd_fd < 0) goto fail_loop;
    if (!(d->tab = mb_nodetab_new(d->node))) {
        snprintf(err, errlen, "out of memory");
        goto fail_loop;
    }
    d->me = (mb_dist_self){d->node, d->creation, d->tab};
    /* Ticks go every quarter of the tick time; the timer looks at least
     * every second so handshakes past their time end promptly. */
    uint64_t every = (uint64_t)(d->ticktime_ms / 4 < 1000 ? d->ticktime_ms / 4 : 1000);
    if (uv_timer_start(&d->timer, on_timer, every, every) || mb_runtime_attach(rt, &dist_key, d, NULL)) {
        snprintf(err, errlen, "cannot start the tick timer");
        goto fail_loop;
    }
    if (uv_thread_create(&d->thread, thread_main, d)) {
        mb_runtime_detach(rt, &dist_key);
        snprintf(err, errlen, "cannot start the distribution thread");
        goto fail_loop;
    }
    d->thread_started = true;
    atomic_store(&rt->remote_signal, mb_dist_remote_signal);
    atomic_store(&rt->remote_named, mb_dist_remote_named);
    atomic_store(&rt->flush_out, flush_out);
    return d;
fail_loop:
    drain(d);
    uv_loop_close(&d->loop);
fail:
    mb_wake_free(&d->wake);
    if (d->epmd_fd >= 0) close(d->epmd_fd);
    mb_nodetab_free(d->tab);
    pthread_mutex_destroy(&d->lock);
    free(d);
    return NULL;
}

void mb_dist_stop(mb_dist *d) {
    if (!d) return;
    pthread_mutex_lock(&d->lock);
    bool was = d->stopping;
    d->stopping = true;
    pthread_mutex_unlock(&d->lock);
    if (was || !d->thread_started) return;
    mb_runtime_detach(d->rt, &dist_key);
    mb_wake_send(&d->wake);
    uv_thread_join(&d->thread);
    d->thread_started = false;
    if (d->epmd_fd >= 0) close(d->epmd_fd);   /* epmd forgets the name */
    d->epmd_fd = -1;
}

void mb_dist_free(mb_dist *d) {
    if (!d) return;
    mb_dist_stop(d);
    if (uv_loop_close(&d->loop)) mb_dist_log("the loop still had handles at exit");
    mb_wake_free(&d->wake);   /* no thread posts any more */
    for (dist_req *r = d->head, *next; r; r = next) {
        next = r->next;
        free(r->frame);
        free(r);
    }
    mb_nodetab_free(d->tab);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

mb_dist *mb_dist_of(mb_runtime *rt) { return mb_runtime_attached(rt, &dist_key); }

const char *mb_dist_node(const mb_dist *d) { return d->node; }

/* Whether c is up and of that kind. A connection is hidden when either end
 * is; this node always publishes itself. Lock held. */
static bool listed(const dist_conn *c, mb_nodes_kind kind) {
    if (c->state != C_UP) return false;
    bool visible = c->peer_flags & MB_DFLAG_PUBLISHED;
    return kind & (visible ? MB_NODES_VISIBLE : MB_NODES_HIDDEN);
}

size_t mb_dist_nodes(mb_dist *d, mb_nodes_kind kind, char *buf, size_t cap, size_t *count) {
    pthread_mutex_lock(&d->lock);
    size_t n = 0, bytes = 0;
    for (dist_conn *c = d->conns; c; c = c->next)
        if (listed(c, kind)) n++, bytes += strlen(c->peer) + 1;
    if (bytes <= cap)
        for (dist_conn *c = d->conns; c; c = c->next)
            if (listed(c, kind)) buf = stpcpy(buf, c->peer) + 1;
    pthread_mutex_unlock(&d->lock);
    *count = n;
    return bytes;
}

/* Queue r for the thread. */
static int post(mb_dist *d, dist_req *r) {
    pthread_mutex_lock(&d->lock);
    if (d->stopping) {
        pthread_mutex_unlock(&d->lock);
        free(r);
        return -1;
    }
    if (d->tail) d->tail->next = r;
    else d->head = r;
    d->tail = r;
    pthread_mutex_unlock(&d->lock);
    mb_wake_send(&d->wake);
    return 0;
}

static dist_req *new_req(req_op op, const char *node, mb_pid pid) {
    dist_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->op = op;
    r->pid = pid;
    snprintf(r->node, sizeof r->node, "%s", node);
    return r;
}

/* Whether a thread other than the distribution's may write to c now
 * (c->wlock held): no write of the thread's under way, nothing a write
 * left for it. */
static bool free_to_write(const dist_conn *c) { return !c->writes_out && !c->rest.len && !c->rest_lost; }

/* node's connection, its write lock taken, when the calling thread may
 * write to it itself: it is up and nothing for it waits before (d->lock
 * held; the write lets both go, d->lock first). Without this, a reply to a
 * call from another node waited for the distribution thread's wake-up (an
 * eventfd write, and the thread's epoll) before it went out. */
static dist_conn *writable_now(mb_dist *d, const char *node) {
    if (d->stopping || d->head || d->handling) return NULL;
    dist_conn *c = d->conns;
    while (c && !(c->state == C_UP && strcmp(c->peer, node) == 0)) c = c->next;
    /* Another thread's write under way: this frame queues behind it (d->lock
     * is not held while a write runs). */
    if (!c || pthread_mutex_trylock(&c->wlock)) return NULL;
    if (c->fd >= 0 && free_to_write(c)) return c;
    pthread_mutex_unlock(&c->wlock);
    return NULL;
}

/* What c->out holds, then frame (len 0: none), onto c's socket (c->wlock
 * held, d->lock not: a big frame holds only its connection's lock): what
 * the socket does not take now is kept for the distribution thread, woken
 * to write it before anything else. Lets c->wlock go; c may be gone
 * after. */
static void write_direct(mb_dist *d, dist_conn *c, const uint8_t *frame, size_t len) {
    struct iovec v[2] = {{c->out.p, c->out.len}, {(void *)frame, len}}, *at = v;
    size_t nv = 2;
    for (;;) {
        while (nv && at->iov_len == 0) at++, nv--;
        if (!nv || c->fd < 0) break;
        struct msghdr m = {.msg_iov = at, .msg_iovlen = nv};
        ssize_t n = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;   /* full, or an error the thread meets with its write */
        size_t k = (size_t)n;
        for (; nv && k >= at->iov_len; at++, nv--) k -= at->iov_len;
        if (nv) at->iov_base = (char *)at->iov_base + k, at->iov_len -= k;
    }
    bool kept = nv > 0;
    for (; nv; at++, nv--)
        if (mb_buf_put(&c->rest, at->iov_base, at->iov_len)) c->rest_lost = true;
    mb_buf_reuse(&c->out);
    atomic_store_explicit(&c->out_due, false, memory_order_relaxed);
    pthread_mutex_unlock(&c->wlock);
    if (!kept) return;
    atomic_store(&d->rests, true);
    mb_wake_send(&d->wake);
}

/* Frames a process writes in its slice wait in c->out, up to this much,
 * for the slice's end (flush_out): casts in a loop, and a call's
 * monitor and request (and the last call's demonitor), go out in one
 * write, as BEAM's do, not one system call and one wake-up of the peer's
 * reader each. */
#define OUT_BATCH (64 * 1024)

/* frame to c (writable_now's, c->wlock held): kept in c->out for from's
 * slice's end when from is a process in a slice, written now otherwise
 * (the host's own thread, a timer's, a blocking call's: no slice end
 * comes soon). Lets c->wlock go. */
static void write_soon(mb_dist *d, dist_conn *c, mb_proc *from, const uint8_t *frame, size_t len) {
    bool in_slice = from && !from->ext && from->sched;
    if (!in_slice || c->out.len + len > OUT_BATCH || mb_buf_put(&c->out, frame, len)) {
        write_direct(d, c, frame, len);
        return;
    }
    atomic_store_explicit(&c->out_due, true, memory_order_relaxed);
    pthread_mutex_unlock(&c->wlock);
    from->out_due = true;
    /* Woken for anything else meanwhile, or for the stop, the thread
     * writes it first (mb_dist_conn_write). */
    atomic_store(&d->rests, true);
}

/* runtime.h's flush_out: every connection's c->out onto its socket. Only
 * one that is up, as writable_now: a closed one's record may be freed
 * (on_closed) once d->lock goes, and what it kept is lost with it. */
static void flush_out(mb_runtime *rt) {
    mb_dist *d = mb_dist_of(rt);
    if (!d) return;   /* stopped: the thread wrote them (on_wake's rests) */
    for (;;) {
        pthread_mutex_lock(&d->lock);
        dist_conn *c = d->conns;
        while (c && !(c->state == C_UP && atomic_load_explicit(&c->out_due, memory_order_relaxed))) c = c->next;
        if (c) pthread_mutex_lock(&c->wlock);
        pthread_mutex_unlock(&d->lock);
        if (!c) return;
        if (c->out.len && free_to_write(c)) {
            write_direct(d, c, NULL, 0);
            continue;
        }
        /* The thread writes meanwhile: it takes out before its own. */
        atomic_store_explicit(&c->out_due, false, memory_order_relaxed);
        bool left = c->out.len > 0;
        pthread_mutex_unlock(&c->wlock);
        if (left) {
            atomic_store(&d->rests, true);
            mb_wake_send(&d->wake);
        }
    }
}

int mb_dist_monitor(mb_dist *d, mb_proc *from, const char *node, mb_pid watcher, mb_ref ref, bool call, const uint8_t *target,
                    size_t ntarget, uint8_t *frame, size_t len, uint8_t *demonitor, size_t dlen) {
    /* Listed now, whoever sends its MONITOR_P: up and free, this thread,
     * at once (a call's request follows it, instead of both waiting for
     * the thread); otherwise the thread, queued behind what waits (a link's
     * and an unlink's frames, say). Then a demonitor that comes first
     * finds it, and the frame is not sent: it once missed it, and the
     * monitor was made on the other node after all, its DOWN to come. */
    pthread_mutex_lock(&d->lock);
    dist_conn *c = writable_now(d, node);
    remote_mon *m = mb_remote_mon_add(d, node, watcher, ref, call, target, ntarget, demonitor, dlen);
    if (c && !m) pthread_mutex_unlock(&c->wlock);
    if (m && !c) m->queued = true;
    pthread_mutex_unlock(&d->lock);
    if (!m) {
        free(frame);
        free(demonitor);
        return -1;
    }
    if (c) {
        write_soon(d, c, from, frame, len);
        free(frame);
        return 0;
    }
    dist_req *r = new_req(REQ_MONITOR, node, watcher);
    if (r) {
        r->ref = ref;
        r->frame = frame, r->len = len;
    }
    if (!r || post(d, r)) {   /* no memory, or the host stops: unlisted, and the caller tells the DOWN */
        pthread_mutex_lock(&d->lock);
        m = mb_remote_mon_take(d, ref);
        pthread_mutex_unlock(&d->lock);
        mb_remote_mon_free(m);
        free(frame);
        return -1;
    }
    return 0;
}

int mb_dist_monitors_of(mb_dist *d, mb_pid watcher, mb_buf *out) {
    if (!d) return 0;
    int rc = 0;
    pthread_mutex_lock(&d->lock);
    for (remote_mon *m = d->remote_mons; m && !rc; m = m->next) {
        if (m->watcher != watcher || m->call) continue;
        uint32_t n = (uint32_t)m->ntarget;
        rc = mb_buf_put(out, &n, sizeof n) || mb_buf_put(out, m->target, m->ntarget) ? -1 : 0;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

int mb_dist_demonitor(mb_dist *d, mb_proc *from, mb_ref ref) {
    pthread_mutex_lock(&d->lock);
    remote_mon *m = mb_remote_mon_take(d, ref);
    /* A monitor whose MONITOR_P the thread has not sent never will: nothing to end there. */
    if (m && m->queued) {
        free(m->demonitor);
        m->demonitor = NULL;
    }
    dist_conn *c = m && m->demonitor ? writable_now(d, m->node) : NULL;
    pthread_mutex_unlock(&d->lock);
    if (!m) {
        /* Not a remote monitor's ref (a local one's), or ended already: its
         * DOWN, if the thread took it an instant ago, is in the watcher's
         * queue before this returns, for a flush to find; none comes after,
         * as Erlang promises. A DOWN's sending is short: yield meanwhile. */
        while (atomic_load(&d->telling)) sched_yield();
        return 0;
    }
    int rc = 0;
    if (c) {
        write_soon(d, c, from, m->demonitor, m->ndemonitor);
    } else if (m->demonitor) {   /* behind what waits for the thread: the frame goes in order */
        dist_req *r = new_req(REQ_DEMONITOR, m->node, 0);
        if (r) {
            r->frame = m->demonitor, r->len = m->ndemonitor;
            m->demonitor = NULL;
        }
        rc = r ? post(d, r) : -1;
    }
    mb_remote_mon_free(m);
    return rc;
}

int mb_dist_connect(mb_dist *d, const char *node, mb_pid pid, mb_ref ref) {
    dist_req *r = new_req(REQ_CONNECT, node, pid);
    if (!r) return -1;
    r->ref = ref;
    return post(d, r);
}

const mb_dist_self *mb_dist_me(const mb_dist *d) { return &d->me; }

int mb_dist_send_frame(mb_dist *d, mb_proc *from, const char *node, uint8_t *frame, size_t len) {
    pthread_mutex_lock(&d->lock);
    dist_conn *c = writable_now(d, node);
    pthread_mutex_unlock(&d->lock);
    if (c) {
        write_soon(d, c, from, frame, len);
        free(frame);
        return 0;
    }
    dist_req *r = new_req(REQ_FRAME, node, 0);
    if (!r) {
        free(frame);
        return -1;
    }
    r->frame = frame;
    r->len = len;
    if (post(d, r)) {
        free(frame);
        return -1;
    }
    return 0;
}

int mb_dist_link_signal(mb_dist *d, int op, mb_pid local, mb_pid remote, mb_ref ref, uint8_t *reason,
                        size_t len) {
    dist_req *r = new_req(REQ_LINK, "", local);
    if (!r) {
        free(reason);
        return -1;
    }
    r->link_op = op;
    r->ref = ref;
    r->remote = remote;
    r->frame = reason, r->len = len;
    if (post(d, r)) {
        free(reason);
        return -1;
    }
    return 0;
}

int mb_dist_monitor_node(mb_dist *d, const char *node, mb_pid pid, bool on) {
    dist_req *r = new_req(on ? REQ_MONITOR_NODE : REQ_DEMONITOR_NODE, node, pid);
    return r ? post(d, r) : -1;
}
