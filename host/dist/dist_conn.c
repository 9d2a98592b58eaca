/* dist_conn.c: one connection to another node (see dist_internal.h): the
 * epmd lookup and connect of an initiator, the handshake of either side
 * (handshake.h), framing, writes, ticks. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/lock.h"
#include "core/runtime.h"
#include "dist_internal.h"
#include "epmd.h"

#define READ_CHUNK 65536
/* A frame larger than the largest message plus room for its envelope. */
#define FRAME_SLACK 4096
#define STOP_LOOKUP_MS 1000   /* each epmd step of a dial begun as the host stops (dist.c: 3 s in all) */

static const char *const state_names[] = {"resolving", "connecting", "awaiting status", "awaiting challenge",
                                          "awaiting ack", "awaiting name", "awaiting reply", "up", "closed"};

dist_conn *mb_dist_conn_new(mb_dist *d, bool initiator) {
    dist_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (mb_lock_init(&c->wlock)) {
        free(c);
        return NULL;
    }
    if (uv_tcp_init(&d->loop, &c->tcp)) {
        pthread_mutex_destroy(&c->wlock);
        free(c);
        return NULL;
    }
    c->tcp_open = true;
    c->tcp.data = c;
    c->d = d;
    c->initiator = initiator;
    c->state = initiator ? C_RESOLVING : C_AWAIT_NAME;
    c->started = c->last_in = c->last_out = mb_now_ms();
    c->fd = -1;
    mb_buf_init(&c->in);
    mb_buf_init(&c->pending);
    mb_buf_init(&c->term);
    mb_buf_init(&c->rest);
    mb_buf_init(&c->out);
    pthread_mutex_lock(&d->lock);
    c->next = d->conns;
    d->conns = c;
    pthread_mutex_unlock(&d->lock);
    return c;
}

int mb_dist_conn_add_waiter(dist_conn *c, mb_pid pid, mb_ref ref) {
    if (c->nwaiters == c->capwaiters) {
        size_t cap = c->capwaiters ? 2 * c->capwaiters : 4;
        waiter *w = realloc(c->waiters, cap * sizeof *w);
        if (!w) return -1;
        c->waiters = w;
        c->capwaiters = cap;
    }
    c->waiters[c->nwaiters++] = (waiter){pid, ref};
    return 0;
}

/* Answer every waiter (failure NULL: up). */
static void answer_all(dist_conn *c, const char *failure) {
    for (size_t i = 0; i < c->nwaiters; i++) mb_dist_answer(c->d, c->waiters[i].pid, c->waiters[i].ref, failure);
    c->nwaiters = 0;
}

static void unlink_and_free(dist_conn *c) {
    mb_dist *d = c->d;
    pthread_mutex_lock(&d->lock);
    for (dist_conn **pp = &d->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    pthread_mutex_unlock(&d->lock);
    mb_buf_free(&c->in);
    mb_buf_free(&c->pending);
    mb_buf_free(&c->term);
    mb_buf_free(&c->rest);
    mb_buf_free(&c->out);
    pthread_mutex_destroy(&c->wlock);
    free(c->waiters);
    free(c);
    /* Stopping, and the last connection is gone: no need to wait more. */
    if (d->closing && !d->conns && !uv_is_closing((uv_handle_t *)&d->timer))
        uv_close((uv_handle_t *)&d->timer, NULL);
}

static void on_closed(uv_handle_t *h) {
    dist_conn *c = h->data;
    c->tcp_open = false;
    if (!c->work_pending) unlink_and_free(c);
}

void mb_dist_conn_close(dist_conn *c, const char *reason) {
    if (c->state == C_CLOSED) return;
    mb_dist *d = c->d;
    /* Node monitors fire when a connection drops, or when our attempt to
     * make one fails, but not for an attempt that gave way to the peer's
     * own, nor while another connection with the node remains. */
    bool down = c->state == C_UP || (c->initiator && strcmp(reason, "simultaneous connect") != 0);
    pthread_mutex_lock(&d->lock);
    c->state = C_CLOSED;
    pthread_mutex_lock(&c->wlock);   /* after a write under way: none from now */
    c->fd = -1;
    pthread_mutex_unlock(&c->wlock);
    pthread_mutex_unlock(&d->lock);
    answer_all(c, reason);
    mb_peer_mon_gone(d, c);   /* its peer's monitors here go with it */
    if (down && c->peer[0] && strcmp(reason, "stopping") != 0 && !mb_dist_find(d, c->peer, false)) {
        mb_node_mon_fire(d, c->peer);
        mb_remote_mon_node_down(d, c->peer);
        mb_remote_link_node_down(d, c->peer);
    }
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* Our end is shut, what was written before it is out: the peer reads it,
 * then closes its own end, and then we close. Closing at once would lose
 * it: a socket closed with bytes unread (the peer's, after the handshake)
 * sends a reset, and a reset makes the peer drop what it had not read
 * yet, our last message with it. dist.c's stop timer bounds the wait. */
static void on_finished(uv_shutdown_t *req, int status) {
    dist_conn *c = req->handle->data;
    free(req);
    if (status < 0) mb_dist_conn_close(c, "stopping");
    else c->finished = true;
}

void mb_dist_conn_finish(dist_conn *c) {
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_finished)) {
        free(req);
        mb_dist_conn_close(c, "stopping");
    }
}

/* Close c with a line in the log saying why. */
static void drop(dist_conn *c, const char *why) {
    mb_dist_log("connection %s %s dropped (%s): %s", c->initiator ? "to" : "from",
                c->peer[0] ? c->peer : "an unnamed node", state_names[c->state], why);
    mb_dist_conn_close(c, why);
}

/* ---- writing ------------------------------------------------------------ */

typedef struct write_req {
    uv_write_t w;
    uint8_t data[];
} write_req;

static void on_written(uv_write_t *w, int status) {
    dist_conn *c = w->handle->data;
    free(w);
    pthread_mutex_lock(&c->wlock);
    c->writes_out--;
    pthread_mutex_unlock(&c->wlock);
    if (status < 0 && status != UV_ECANCELED && c->state != C_CLOSED) drop(c, uv_strerror(status));
}

/* A copy of p[0..n) to libuv, counted in c->writes_out already. */
static int hand_over(dist_conn *c, const void *p, size_t n) {
    write_req *w = malloc(sizeof *w + n);
    if (!w) {
        drop(c, "out of memory");
        return -1;
    }
    memcpy(w->data, p, n);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
    int rc = uv_write(&w->w, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (rc) {
        free(w);
        drop(c, uv_strerror(rc));
        return -1;
    }
    c->last_out = mb_now_ms();
    return 0;
}

/* p[0..n) (none when n is 0) after what another thread's write left
 * unwritten, then what processes left to go at their slices' end:
 * counted as out before the lock goes, so that no other thread writes
 * between. */
int mb_dist_conn_write(dist_conn *c, const void *p, size_t n) {
    if (c->state == C_CLOSED) return -1;
    pthread_mutex_lock(&c->wlock);
    bool lost = c->rest_lost;
    mb_buf rest = c->rest, out = c->out;
    mb_buf_init(&c->rest);
    mb_buf_init(&c->out);
    atomic_store_explicit(&c->out_due, false, memory_order_relaxed);
    if (!lost) c->writes_out += (rest.len > 0) + (out.len > 0) + (n > 0);
    pthread_mutex_unlock(&c->wlock);
    int rc = 0;
    if (lost) {   /* half a frame is out: the stream is no good any more */
        drop(c, "out of memory");
        rc = -1;
    } else {
        if (rest.len) rc = hand_over(c, rest.p, rest.len);
        if (!rc && out.len) rc = hand_over(c, out.p, out.len);
    }
    mb_buf_free(&rest);
    mb_buf_free(&out);
    return rc || !n ? rc : hand_over(c, p, n);
}

void mb_dist_conn_flush_rest(dist_conn *c) { mb_dist_conn_write(c, NULL, 0); }

mb_buf *mb_dist_conn_term(dist_conn *c) {
    mb_buf_reuse(&c->term);
    return &c->term;
}

/* Write what b holds and free it; -1 (and the connection dropped) on failure. */
static int send_buf(dist_conn *c, mb_buf *b, int bad) {
    int rc = bad ? -1 : mb_dist_conn_write(c, b->p, b->len);
    if (bad) drop(c, "out of memory");
    mb_buf_free(b);
    return rc;
}

/* ---- the handshake ------------------------------------------------------ */

static void set_state(dist_conn *c, conn_state s) {
    pthread_mutex_lock(&c->d->lock);
    c->state = s;
    pthread_mutex_unlock(&c->d->lock);
}

/* A fresh random challenge into c->challenge; false (and c dropped) when
 * the system has no randomness: a guessable challenge would let a replayed
 * digest in. */
static bool new_challenge(dist_conn *c) {
    if (uv_random(NULL, NULL, &c->challenge, sizeof c->challenge, 0, NULL) == 0) return true;
    drop(c, "no randomness for a challenge");
    return false;
}

static void up(dist_conn *c) {
    c->last_in = mb_now_ms();
    /* What waited goes out before the connection is up to other threads'
     * own writes: they wait while it is out. First what a dial of ours
     * that lost a simultaneous connect had queued. */
    mb_dist_take_parked_frames(c->d, c);
    if (c->pending.len && mb_dist_conn_write(c, c->pending.p, c->pending.len)) return;
    mb_buf_free(&c->pending);
    uv_os_fd_t fd;
    pthread_mutex_lock(&c->d->lock);
    pthread_mutex_lock(&c->wlock);
    c->fd = uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 ? fd : -1;
    pthread_mutex_unlock(&c->wlock);
    c->state = C_UP;
    pthread_mutex_unlock(&c->d->lock);
    answer_all(c, NULL);
    mb_dist_unpark(c->d, c->peer, NULL, 0);
    if (c->d->closing) mb_dist_conn_finish(c);   /* made, as the host stops, for what waited: that is out */
}

static bool flags_ok(dist_conn *c, uint64_t flags) {
    if ((flags & MB_DFLAGS_REQUIRED) == MB_DFLAGS_REQUIRED) return true;
    drop(c, "the peer lacks distribution flags this node requires (OTP 24 or later is needed)");
    return false;
}

/* Acceptor: the peer's name. A second connection with the same node: an
 * attempt of ours under way gives way when the peer's name is the larger
 * (both sides agree on that), else the peer's does; an old connection
 * that the peer starts again is taken as dead. */
static void got_name(dist_conn *c, const uint8_t *p, size_t n) {
    mb_hs_name m;
    if (mb_hs_parse_name(p, n, false, &m)) return drop(c, "malformed name message");
    if (!flags_ok(c, m.flags)) return;
    if (strcmp(m.name, c->d->node) == 0) return drop(c, "a node with this node's own name");
    dist_conn *other = mb_dist_find(c->d, m.name, false);
    const char *status = "ok";
    if (other && other->state == C_UP) {
        drop(other, "the peer connected again");
    } else if (other) {
        if (strcmp(m.name, c->d->node) < 0) {
            mb_buf b;
            mb_buf_init(&b);
            send_buf(c, &b, mb_hs_put_status(&b, "nok"));
            mb_dist_conn_close(c, "simultaneous connect");
            return;
        }
        status = "ok_simultaneous";
        /* Our attempt's callers wait on this connection instead. */
        for (size_t i = 0; i < other->nwaiters; i++)
            if (mb_dist_conn_add_waiter(c, other->waiters[i].pid, other->waiters[i].ref))
                mb_dist_answer(c->d, other->waiters[i].pid, other->waiters[i].ref, "enomem");
        other->nwaiters = 0;
        /* and what it held for the peer goes once this one is up */
        if (other->pending.len && mb_buf_put(&c->pending, other->pending.p, other->pending.len))
            mb_dist_log("out of memory: messages to %s dropped", m.name);
        mb_dist_conn_close(other, "simultaneous connect");
    }
    pthread_mutex_lock(&c->d->lock);
    snprintf(c->peer, sizeof c->peer, "%s", m.name);
    pthread_mutex_unlock(&c->d->lock);
    c->peer_flags = m.flags;
    c->peer_creation = m.creation;
    if (!new_challenge(c)) return;
    mb_buf b;
    mb_buf_init(&b);
    int bad = mb_hs_put_status(&b, status) ||
              mb_hs_put_challenge(&b, MB_DFLAGS_OURS, c->challenge, c->d->creation, c->d->node);
    if (send_buf(c, &b, bad) == 0) set_state(c, C_AWAIT_REPLY);
}

/* Acceptor: the peer's answer to our challenge, and its own. */
static void got_reply(dist_conn *c, const uint8_t *p, size_t n) {
    uint32_t theirs;
    uint8_t digest[16], expected[16];
    if (mb_hs_parse_reply(p, n, &theirs, digest)) return drop(c, "malformed challenge reply");
    mb_hs_digest(c->d->cookie, c->challenge, expected);
    if (!mb_hs_digest_eq(digest, expected)) return drop(c, "wrong cookie: connection refused");
    mb_hs_digest(c->d->cookie, theirs, digest);
    mb_buf b;
    mb_buf_init(&b);
    if (send_buf(c, &b, mb_hs_put_ack(&b, digest)) == 0) up(c);
}

/* Initiator: the acceptor's status. */
static void got_status(dist_conn *c, const uint8_t *p, size_t n) {
    if (n < 1 || p[0] != 's') return drop(c, "malformed status");
    char s[32];
    snprintf(s, sizeof s, "%.*s", (int)(n - 1 < sizeof s - 1 ? n - 1 : sizeof s - 1), (const char *)p + 1);
    if (strcmp(s, "ok") == 0 || strcmp(s, "ok_simultaneous") == 0) {
        set_state(c, C_AWAIT_CHALLENGE);
        return;
    }
    if (strcmp(s, "alive") == 0) {
        /* The peer holds a connection from us that we do not: it is dead. */
        mb_buf b;
        mb_buf_init(&b);
        if (send_buf(c, &b, mb_hs_put_status(&b, "true")) == 0) set_state(c, C_AWAIT_CHALLENGE);
        return;
    }
    if (strcmp(s, "nok") == 0) {
        /* The peer's own attempt wins: our callers wait on it if it is here. */
        dist_conn *other = NULL;
        for (dist_conn *o = c->d->conns; o; o = o->next)
            if (o != c && o->state != C_CLOSED && strcmp(o->peer, c->peer) == 0) other = o;
        for (size_t i = 0; other && i < c->nwaiters; i++)
            if (mb_dist_conn_add_waiter(other, c->waiters[i].pid, c->waiters[i].ref))
                mb_dist_answer(c->d, c->waiters[i].pid, c->waiters[i].ref, "enomem");
        if (!other) {   /* its connection is on its way: what waited waits for it */
            mb_dist_park(c->d, c);
            mb_dist_park_frames(c->d, c);
        }
        if (other && c->pending.len &&
            (other->state == C_UP ? mb_dist_conn_write(other, c->pending.p, c->pending.len)
                                  : mb_buf_put(&other->pending, c->pending.p, c->pending.len)))
            mb_dist_log("messages to %s dropped", c->peer);
        c->nwaiters = 0;
        mb_dist_conn_close(c, "simultaneous connect");
        return;
    }
    mb_dist_log("node %s refused the connection: %s", c->peer, s);
    mb_dist_conn_close(c, s);
}

/* Initiator: the acceptor's challenge. */
static void got_challenge(dist_conn *c, const uint8_t *p, size_t n) {
    mb_hs_name m;
    if (mb_hs_parse_name(p, n, true, &m)) return drop(c, "malformed challenge");
    if (!flags_ok(c, m.flags)) return;
    if (strcmp(m.name, c->peer) != 0) return drop(c, "the peer has another name");
    c->peer_flags = m.flags;
    c->peer_creation = m.creation;
    if (!new_challenge(c)) return;
    uint8_t digest[16];
    mb_hs_digest(c->d->cookie, m.challenge, digest);
    mb_buf b;
    mb_buf_init(&b);
    if (send_buf(c, &b, mb_hs_put_reply(&b, c->challenge, digest)) == 0) set_state(c, C_AWAIT_ACK);
}

/* Initiator: the acceptor's proof that it knows the cookie too. */
static void got_ack(dist_conn *c, const uint8_t *p, size_t n) {
    uint8_t digest[16], expected[16];
    if (mb_hs_parse_ack(p, n, digest)) return drop(c, "malformed ack");
    mb_hs_digest(c->d->cookie, c->challenge, expected);
    if (!mb_hs_digest_eq(digest, expected)) return drop(c, "wrong cookie: the peer's answer does not match");
    up(c);
}

static void handshake(dist_conn *c, const uint8_t *p, size_t n) {
    switch (c->state) {
    case C_AWAIT_NAME: got_name(c, p, n); break;
    case C_AWAIT_REPLY: got_reply(c, p, n); break;
    case C_AWAIT_STATUS: got_status(c, p, n); break;
    case C_AWAIT_CHALLENGE: got_challenge(c, p, n); break;
    case C_AWAIT_ACK: got_ack(c, p, n); break;
    default: drop(c, "unexpected handshake message"); break;
    }
}

/* ---- reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    dist_conn *c = h->data;
    if (mb_buf_reserve(&c->in, READ_CHUNK)) {
        *buf = uv_buf_init(NULL, 0);   /* libuv reports UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)c->in.p + c->in.len, READ_CHUNK);
}

/* Whole frames from c->in: 2-byte lengths in the handshake, 4-byte after. */
static void frames(dist_conn *c) {
    size_t off = 0;
    size_t limit = atomic_load(&c->d->rt->max_message_size) + FRAME_SLACK;
    while (c->state != C_CLOSED) {
        size_t have = c->in.len - off, hdr = c->state == C_UP ? 4 : 2;
        const uint8_t *p = c->in.p + off;
        if (have < hdr) break;
        size_t n = hdr == 4 ? (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]
                            : (size_t)p[0] << 8 | p[1];
        if (n > limit) {
            drop(c, "a frame larger than the largest message");
            return;
        }
        if (have - hdr < n) break;
        off += hdr + n;
        if (hdr == 2) handshake(c, p + 2, n);
        else if (n > 0) mb_dist_control(c, p + 4, n);   /* n == 0: a tick */
    }
    if (c->state == C_CLOSED) return;
    memmove(c->in.p, c->in.p + off, c->in.len - off);
    c->in.len -= off;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    (void)buf;
    dist_conn *c = s->data;
    if (c->state == C_CLOSED) return;
    if (c->finished) {   /* the host stops: what comes now is read and dropped */
        if (nread < 0) mb_dist_conn_close(c, "stopping");
        c->in.len = 0;
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF) {
            /* An Erlang node that finds our digest wrong just hangs up. */
            if (c->state == C_AWAIT_ACK) drop(c, "the peer hung up on our digest: is the cookie wrong?");
            else mb_dist_conn_close(c, "closed");
        } else {
            drop(c, uv_strerror((int)nread));
        }
        return;
    }
    c->in.len += (size_t)nread;
    c->last_in = mb_now_ms();
    frames(c);
}

void mb_dist_conn_accepted(dist_conn *c) {
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc) drop(c, uv_strerror(rc));
}

/* ---- an initiator's start ----------------------------------------------- */

static void on_connected(uv_connect_t *req, int status) {
    dist_conn *c = req->handle->data;
    free(req);
    if (c->state == C_CLOSED) return;
    if (status < 0) {
        mb_dist_conn_close(c, uv_err_name(status));
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    mb_buf b;
    mb_buf_init(&b);
    if (send_buf(c, &b, mb_hs_put_name(&b, MB_DFLAGS_OURS, c->d->creation, c->d->node))) return;
    set_state(c, C_AWAIT_STATUS);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc) drop(c, uv_strerror(rc));
}

/* On the worker pool: the host's address, then epmd's word on the port. */
static void lookup(uv_work_t *w) {
    dist_conn *c = w->data;
    const char *at = strchr(c->peer, '@');
    char alive[MB_NODE_MAX + 1];
    snprintf(alive, sizeof alive, "%.*s", (int)(at - c->peer), c->peer);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    c->lookup_rc = -1;
    if (getaddrinfo(at + 1, NULL, &hints, &ai)) return;
    int port, version;
    for (struct addrinfo *a = ai; a && c->lookup_rc; a = a->ai_next) {
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
        if (mb_epmd_lookup(a->ai_addr, alive, c->lookup_ms, &port, &version) || version < 6) continue;
        memcpy(&c->addr, a->ai_addr, a->ai_addrlen);
        if (a->ai_family == AF_INET) ((struct sockaddr_in *)&c->addr)->sin_port = htons((uint16_t)port);
        else ((struct sockaddr_in6 *)&c->addr)->sin6_port = htons((uint16_t)port);
        c->lookup_rc = 0;
    }
    freeaddrinfo(ai);
}

static void looked_up(uv_work_t *w, int status) {
    dist_conn *c = w->data;
    c->work_pending = false;
    if (c->state == C_CLOSED) {
        if (!c->tcp_open) unlink_and_free(c);   /* closed while the lookup ran */
        return;
    }
    if (status < 0 || c->lookup_rc) {
        mb_dist_conn_close(c, "nodedown");
        return;
    }
    uv_connect_t *req = malloc(sizeof *req);
    int rc = req ? uv_tcp_connect(req, &c->tcp, (struct sockaddr *)&c->addr, on_connected) : UV_ENOMEM;
    if (rc) {
        free(req);
        mb_dist_conn_close(c, uv_err_name(rc));
        return;
    }
    set_state(c, C_CONNECTING);
}

void mb_dist_conn_dial(dist_conn *c, const char *node) {
    const char *at = strchr(node, '@');
    if (!at || at == node || !at[1]) {
        mb_dist_conn_close(c, "badarg");
        return;
    }
    c->work.data = c;
    /* The host stops (a frame that came with the stop): the lookup holds
     * the thread's loop until it ends, and the stop flushes for a second. */
    pthread_mutex_lock(&c->d->lock);
    c->lookup_ms = c->d->stopping ? STOP_LOOKUP_MS : 0;   /* 0: epmd.c's own bound */
    pthread_mutex_unlock(&c->d->lock);
    if (uv_queue_work(&c->d->loop, &c->work, lookup, looked_up)) {
        mb_dist_conn_close(c, "nodedown");
        return;
    }
    c->work_pending = true;
}

/* ---- ticks -------------------------------------------------------------- */

void mb_dist_conn_check(dist_conn *c, double now) {
    double tick = c->d->ticktime_ms;
    if (c->state != C_UP) {
        if (now - c->started > MB_DIST_SETUP_MS) drop(c, "the handshake took too long");
        return;
    }
    if (now - c->last_in > tick) {
        drop(c, "no word from the peer within net_ticktime");
        return;
    }
    if (now - c->last_out >= tick / 4) {
        static const uint8_t tick_frame[4] = {0, 0, 0, 0};
        mb_dist_conn_write(c, tick_frame, sizeof tick_frame);
    }
}
