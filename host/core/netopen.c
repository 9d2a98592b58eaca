/* netopen.c: opening stream sockets on a loop (see netsock.h): listen (a
 * port, resolved off this thread, or a unix path), accept, which spreads a
 * listener's connections over the schedulers' loops, and connect, which
 * tries every address a name resolves to. A socket once open is
 * netsock.c's. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "io_answer.h"
#include "netsock_internal.h"
#include "runtime.h"
#include "sched.h"

/* ---- accept --------------------------------------------------------------- */

/* An accepted connection on its way to another loop: its descriptor, the
 * listener's options, and the accept to answer once it is there. */
typedef struct moving {
    int fd;
    bool is_pipe;
    size_t hwm;
    int packet, active;
    bool once;
    mb_io_req *w;
    mb_sched *back;   /* where the accept's answer wakes its asker: as on the listener's loop */
} moving;

/* A connection reads and delivers as its listener was set to. */
static void set_mode(sock *c, size_t hwm, int packet, int active, bool once) {
    c->hwm = hwm;
    c->packet = packet;
    c->active = active;
    c->once = once;
}

/* On the new loop: the connection opens there and the accept is answered. */
static void arrive(mb_sched *to, void *arg) {
    moving *m = arg;
    mb_netsock *ns = to->ns;
    sock *c = ns->stopping ? NULL : nsock_new(ns, m->is_pipe);
    int rc = !c ? UV_ENOMEM : m->is_pipe ? uv_pipe_open(&c->u.pipe, m->fd) : uv_tcp_open(&c->u.tcp, m->fd);
    ns->from = m->back;
    if (rc) {
        close(m->fd);
        if (c) nsock_close_handle(c);
        if (!ns->stopping) mb_io_fail_uv(ns->rt, ns->from, m->w, rc);
    } else {
        set_mode(c, m->hwm, m->packet, m->active, m->once);
        nsock_hand_to(c, m->w, NULL);
    }
    ns->from = ns->sched;
    mb_io_req_free(m->w);
    free(m);
}

/* Hand c, just accepted, to the loop `to`: its descriptor is duplicated
 * and posted there, and c closes here (the connection lives on in the
 * duplicate). Nonzero: it stays here. */
static int move_to(sock *c, const sock *l, mb_io_req *w, mb_sched *to) {
    uv_os_fd_t fd;
    moving *m = malloc(sizeof *m);
    if (!m || uv_fileno(&c->u.h, &fd) || (m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        free(m);
        return -1;
    }
    m->is_pipe = c->is_pipe;
    m->hwm = l->hwm;
    m->packet = l->packet;
    m->active = l->active;
    m->once = l->once;
    m->w = w;
    m->back = l->ns->from;
    if (mb_sched_post(to, arrive, m)) {
        close(m->fd);
        free(m);
        return -1;
    }
    nsock_close_handle(c);
    return 0;
}

/* Where the next connection of a listener on ns goes: here, unless another
 * scheduler's loop holds SPREAD_MARGIN sockets fewer. Many long-lived
 * connections so spread over the cores; a listener whose connections come
 * and go keeps them here, where its owner's sends, handovers and closes
 * are done in its turn (bench/net_accept.lua: 6,800-8,000 accepts/s kept
 * here, 2,000-4,000 moved in turn or at a margin of 4, under load ~10).
 * The counts are read without a lock: a guess a moment old will do. The
 * I/O thread's table has no scheduler: NULL, keep it there. */
#define SPREAD_MARGIN 16
static mb_sched *next_loop(mb_netsock *ns) {
    if (!ns->sched) return NULL;
    mb_runtime *rt = ns->rt;
    mb_sched *best = ns->sched;
    size_t least = atomic_load_explicit(&ns->count, memory_order_relaxed);
    size_t bar = least > SPREAD_MARGIN ? least - SPREAD_MARGIN : 0;
    for (int i = 0; i < rt->nscheds; i++) {
        size_t n = atomic_load_explicit(&rt->scheds[i].ns->count, memory_order_relaxed);
        if (n < bar && n < least) {
            best = &rt->scheds[i];
            least = n;
        }
    }
    return best;
}

static void do_accept(sock *l) {
    mb_io_req *w = l->waiter;
    l->waiter = NULL;
    l->conn_ready = false;
    sock *c = nsock_new(l->ns, l->is_pipe);
    if (!c) {
        mb_io_fail(l->ns->rt, l->ns->from, w, "enomem");
    } else {
        int rc = uv_accept(&l->u.s, &c->u.s);
        mb_sched *to = rc ? NULL : next_loop(l->ns);
        if (rc) {
            nsock_close_handle(c);
            mb_io_fail_uv(l->ns->rt, l->ns->from, w, rc);
        } else if (to && to != l->ns->sched && move_to(c, l, w, to) == 0) {
            return;   /* w is answered there */
        } else {
            set_mode(c, l->hwm, l->packet, l->active, l->once);
            nsock_hand_to(c, w, NULL);
        }
    }
    mb_io_req_free(w);
}

static void on_connection(uv_stream_t *st, int status) {
    sock *l = st->data;
    if (status < 0) {
        if (l->waiter) {
            mb_io_fail_uv(l->ns->rt, l->ns->from, l->waiter, status);
            mb_io_req_free(l->waiter);
            l->waiter = NULL;
        }
        return;
    }
    /* Not accepted now, libuv stops listening until uv_accept: the backlog
     * holds the rest, which is the flow control a listener needs. */
    l->conn_ready = true;
    if (l->waiter) do_accept(l);
}

void nsock_accept(mb_netsock *ns, mb_io_req *r) {
    sock *l = nsock_owned(ns, r);
    if (!l) {
        mb_io_req_free(r);
        return;
    }
    if (!l->listener || l->waiter) {
        mb_io_fail(ns->rt, ns->from, r, l->listener ? "busy" : "einval");
        mb_io_req_free(r);
        return;
    }
    l->waiter = r;
    if (l->conn_ready) do_accept(l);
}

/* ---- listen and connect --------------------------------------------------- */

static void pending_done(pending *pd) {
    mb_netsock *ns = pd->ns;
    if (pd->prev) pd->prev->next = pd->next;
    else ns->pendings = pd->next;
    if (pd->next) pd->next->prev = pd->prev;
    if (pd->ai) uv_freeaddrinfo(pd->ai);
    mb_io_req_free(pd->r);
    free(pd);
}

static void finish_listen(sock *s, mb_io_req *r) {
    nsock_apply_opts(s, &r->opts);
    s->listener = true;
    int rc = uv_listen(&s->u.s, s->backlog, on_connection);
    if (rc) {
        if (s->path) mb_sockfile_remove(s->path, &s->file);   /* the file our bind made */
        free(s->path);
        s->path = NULL;
        nsock_close_handle(s);
        mb_io_fail_uv(s->ns->rt, s->ns->from, r, rc);
        return;
    }
    nsock_hand_to(s, r, NULL);
}

/* Bind a TCP listener to the first address that takes it. */
static void listen_tcp(pending *pd) {
    mb_netsock *ns = pd->ns;
    mb_io_req *r = pd->r;
    int err = UV_EADDRNOTAVAIL;
    for (struct addrinfo *a = pd->ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = uv_translate_sys_error(errno);
            continue;
        }
        int one = 1;
        if ((r->opts.reuseaddr != 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)) ||
            bind(fd, a->ai_addr, a->ai_addrlen)) {
            err = uv_translate_sys_error(errno);
            close(fd);
            continue;
        }
        sock *s = nsock_new(ns, false);
        if (!s) {
            close(fd);
            mb_io_fail(ns->rt, ns->from, r, "enomem");
            return;
        }
        if ((err = uv_tcp_open(&s->u.tcp, fd))) {
            close(fd);
            nsock_close_handle(s);
            continue;
        }
        finish_listen(s, r);
        return;
    }
    mb_io_fail_uv(ns->rt, ns->from, r, err);
}

static void try_connect(pending *pd);

static void on_connect(uv_connect_t *c, int status) {
    pending *pd = c->data;
    sock *s = pd->s;
    pd->s = NULL;
    if (status == 0 && !pd->cancelled && !pd->ns->stopping) {
        nsock_hand_to(s, pd->r, &pd->r->opts);
        pending_done(pd);
        return;
    }
    nsock_close_handle(s);
    if (status == 0 || pd->cancelled || pd->ns->stopping) {   /* answered already, or nobody waits */
        pending_done(pd);
        return;
    }
    if (pd->r->path || !pd->cur->ai_next) {
        mb_io_fail_uv(pd->ns->rt, pd->ns->from, pd->r, status);
        pending_done(pd);
        return;
    }
    pd->last_err = status;
    pd->cur = pd->cur->ai_next;
    try_connect(pd);
}

/* The next address (or the path); all tried: the last error. */
static void try_connect(pending *pd) {
    mb_netsock *ns = pd->ns;
    mb_io_req *r = pd->r;
    for (;;) {
        if (!r->path && !pd->cur) {
            mb_io_fail_uv(ns->rt, ns->from, r, pd->last_err ? pd->last_err : UV_EADDRNOTAVAIL);
            pending_done(pd);
            return;
        }
        sock *s = nsock_new(ns, r->path);
        if (!s) {
            mb_io_fail(ns->rt, ns->from, r, "enomem");
            pending_done(pd);
            return;
        }
        pd->conn.data = pd;
        int rc = 0;
        if (r->path) uv_pipe_connect(&pd->conn, &s->u.pipe, r->host, on_connect);
        else rc = uv_tcp_connect(&pd->conn, &s->u.tcp, pd->cur->ai_addr, on_connect);
        if (rc == 0) {
            pd->s = s;
            return;
        }
        nsock_close_handle(s);
        pd->last_err = rc;
        pd->cur = pd->cur->ai_next;
    }
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai) {
    pending *pd = g->data;
    pd->ai = pd->cur = ai;
    if (pd->ns->stopping || pd->cancelled) {
        pending_done(pd);
        return;
    }
    if (status < 0) {
        mb_io_fail(pd->ns->rt, pd->ns->from, pd->r, status == UV_EAI_NONAME ? "nxdomain" : uv_err_name(status));
        pending_done(pd);
        return;
    }
    if (pd->r->op == MB_IO_LISTEN) {
        listen_tcp(pd);
        pending_done(pd);
        return;
    }
    try_connect(pd);
}

static pending *pending_new(mb_netsock *ns, mb_io_req *r) {
    pending *pd = calloc(1, sizeof *pd);
    if (!pd) {
        mb_io_fail(ns->rt, ns->from, r, "enomem");
        mb_io_req_free(r);
        return NULL;
    }
    pd->ns = ns;
    pd->r = r;
    pd->next = ns->pendings;
    if (pd->next) pd->next->prev = pd;
    ns->pendings = pd;
    return pd;
}

/* Resolution runs on libuv's thread pool: off the schedulers. A literal
 * address needs no lookup (AI_NUMERICHOST never asks a resolver): it is
 * read here, at once, without the trip through the pool. */
static void resolve(pending *pd) {
    char port[16];
    snprintf(port, sizeof port, "%d", pd->r->port);
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* No AI_ADDRCONFIG: a host with loopback only would resolve nothing;
     * an address of a family the host lacks fails, and the next is tried. */
    hints.ai_flags = pd->r->op == MB_IO_LISTEN ? AI_PASSIVE : 0;
    pd->gai.data = pd;
    struct addrinfo literal = hints, *ai = NULL;
    literal.ai_flags |= AI_NUMERICHOST;
    if (getaddrinfo(pd->r->host, port, &literal, &ai) == 0) {
        on_resolved(&pd->gai, 0, ai);
        return;
    }
    int rc = uv_getaddrinfo(pd->ns->loop, &pd->gai, on_resolved, pd->r->host, port, &hints);
    if (rc) {
        mb_io_fail_uv(pd->ns->rt, pd->ns->from, pd->r, rc);
        pending_done(pd);
    }
}

/* A unix path too long for an address fails r: libuv would cut it short
 * and bind or connect to another path (and closing would not remove it). */
static bool path_too_long(mb_netsock *ns, mb_io_req *r) {
    if (!r->path || strlen(r->host) < sizeof(((struct sockaddr_un *)0)->sun_path)) return false;
    mb_io_fail(ns->rt, ns->from, r, "enametoolong");
    mb_io_req_free(r);
    return true;
}

/* Bind pipe to path, by a socket of our own, not by uv_pipe_bind: libuv
 * removes the file it bound when the handle closes, whatever the path names
 * by then (another listener's socket, any file). The file is ours to
 * remove, only if it is still the one made (sockfile.h). 0 or a libuv
 * error (a negative errno). */
static int bind_unix(uv_pipe_t *pipe, const char *path, mb_sockfile *made) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, path, strlen(path) + 1);   /* path_too_long checked it fits */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -errno;
    if (bind(fd, (struct sockaddr *)&a, sizeof a)) {
        int e = errno;
        close(fd);
        return -e;
    }
    *made = mb_sockfile_at(path);
    int rc = uv_pipe_open(pipe, fd);
    if (rc) {
        close(fd);
        mb_sockfile_remove(path, made);
    }
    return rc;
}

void nsock_listen(mb_netsock *ns, mb_io_req *r) {
    if (!r->path) {
        pending *pd = pending_new(ns, r);
        if (pd) resolve(pd);
        return;
    }
    if (path_too_long(ns, r)) return;
    sock *s = nsock_new(ns, true);
    if (!s) {
        mb_io_fail(ns->rt, ns->from, r, "enomem");
        mb_io_req_free(r);
        return;
    }
    int rc = bind_unix(&s->u.pipe, r->host, &s->file);
    if (rc) {
        nsock_close_handle(s);
        mb_io_fail_uv(ns->rt, ns->from, r, rc);
        mb_io_req_free(r);
        return;
    }
    s->path = r->host;   /* bound: its file ours to remove on close */
    r->host = NULL;
    finish_listen(s, r);
    mb_io_req_free(r);
}

void nsock_connect(mb_netsock *ns, mb_io_req *r) {
    if (path_too_long(ns, r)) return;
    pending *pd = pending_new(ns, r);
    if (!pd) return;
    if (r->path) try_connect(pd);
    else resolve(pd);
}

/* A connect or listen that r's waiter gave up on (core.net_cancel). A
 * connect in flight is closed now (on_connect then frees it), as
 * gen_tcp's: left to the kernel, its descriptor was held ~2 minutes, and a
 * peer's backlog could still accept a connection nobody would use. */
void nsock_cancel_pending(mb_netsock *ns, const mb_io_req *r) {
    for (pending *pd = ns->pendings; pd; pd = pd->next)
        if (pd->r->ref == r->ref && pd->r->pid == r->pid && !pd->cancelled) {
            pd->cancelled = true;
            mb_io_fail(ns->rt, ns->from, pd->r, "timeout");
            if (pd->s) nsock_close_handle(pd->s);
        }
}

/* At the stop: attempts in flight fail their connect once closed (on_connect
 * then frees them); a resolution ends on its own. */
void nsock_stop_pending(mb_netsock *ns) {
    for (pending *pd = ns->pendings; pd; pd = pd->next)
        if (pd->s) nsock_close_handle(pd->s);
}
