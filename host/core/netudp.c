/* netudp.c: UDP sockets on the I/O thread (see netudp.h).
 *
 * A UDP socket is a uv_udp_t plus an owner, an active mode, the owner's
 * one waiting recvfrom, and a queue of datagrams received and not yet
 * delivered.
 *
 * Flow control. A passive socket reads ahead until its queue holds
 * QUEUE_MAX bytes, then leaves further datagrams to the kernel's buffer,
 * which drops what does not fit, as UDP may. An active count or "once"
 * reads only while it lasts; active = true reads whatever comes (the
 * owner's mailbox is the buffer, as for TCP).
 *
 * A socket binds to an IP literal ("localhost" is 127.0.0.1). sendto
 * takes a host name too: it is resolved on libuv's thread pool (off the
 * schedulers and off this thread), then the datagram goes to the first
 * address of the socket's family. Sockets are few, so they are kept in a
 * list. */
#include "netudp.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io_answer.h"
#include "runtime.h"

#define QUEUE_MAX (64 * 1024)
#define DGRAM_MAX (64 * 1024)

typedef struct dgram {
    struct dgram *next;
    char host[64];
    int port;
    size_t len;
    uint8_t data[];
} dgram;

typedef struct udp {
    uv_udp_t h;
    mb_netudp *nu;
    struct udp *next;        /* in nu->list while open */
    uint64_t id;
    mb_pid owner;
    int active;              /* 0, MB_IO_ACTIVE_TRUE, or the count left */
    bool once, reading;
    dgram *q, *qtail;        /* received, not yet delivered */
    size_t qbytes;
    mb_io_req *waiter;       /* the owner's RECVFROM */
} udp;

/* A sendto whose host is being resolved; the socket may close meanwhile,
 * so it is found again by its id. */
typedef struct resolving {
    uv_getaddrinfo_t gai;
    mb_netudp *nu;
    uint64_t id;
    mb_io_req *r;
} resolving;

typedef struct send_req {
    uv_udp_send_t s;
    mb_netudp *nu;
    mb_io_req *r;
} send_req;

struct mb_netudp {
    mb_runtime *rt;
    uv_loop_t *loop;
    udp *list;
    bool stopping;           /* the host ends: resolutions still running answer nobody */
    char buf[DGRAM_MAX];     /* one datagram at a time: copied out before the next read */
};

int mb_netudp_new(mb_netudp **out, mb_runtime *rt, uv_loop_t *loop) {
    mb_netudp *nu = calloc(1, sizeof *nu);
    if (!nu) return -1;
    nu->rt = rt;
    nu->loop = loop;
    *out = nu;
    return 0;
}

void mb_netudp_free(mb_netudp *nu) { free(nu); }

static udp *find(mb_netudp *nu, uint64_t id) {
    for (udp *u = nu->list; u; u = u->next)
        if (u->id == id) return u;
    return NULL;
}

bool mb_netudp_has(mb_netudp *nu, uint64_t handle) { return find(nu, handle) != NULL; }

/* "localhost" or an IP literal, and port, as a socket address. */
static int to_addr(const char *host, int port, struct sockaddr_storage *sa) {
    if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)sa) == 0) return 0;
    return uv_ip6_addr(host, port, (struct sockaddr_in6 *)sa);
}

/* ---- delivering ---------------------------------------------------------- */

static void pop(udp *u) {
    dgram *d = u->q;
    u->q = d->next;
    if (!u->q) u->qtail = NULL;
    u->qbytes -= d->len;
    free(d);
}

/* The waiting recvfrom first, then what the active mode allows. */
static void deliver(udp *u) {
    mb_runtime *rt = u->nu->rt;
    if (u->waiter && u->q) {
        mb_io_ok_dgram(rt, NULL, u->waiter, u->q->data, u->q->len, u->q->host, u->q->port);
        mb_io_req_free(u->waiter);
        u->waiter = NULL;
        pop(u);
    }
    while (u->active != 0 && u->q) {
        if (mb_io_tell_udp(rt, NULL, u->owner, u->id, u->q->host, u->q->port, u->q->data, u->q->len)) break;   /* OOM: keep it */
        pop(u);
        if (u->active > 0 && --u->active == 0 && !u->once) mb_io_tell(rt, NULL, u->owner, "udp_passive", u->id, NULL, 0);
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    udp *u = h->data;
    *buf = uv_buf_init(u->nu->buf, sizeof u->nu->buf);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr, unsigned flags);

static void update_reading(udp *u) {
    bool want = u->active != 0 || u->waiter || u->qbytes < QUEUE_MAX;
    if (want == u->reading) return;
    int rc = want ? uv_udp_recv_start(&u->h, on_alloc, on_recv) : uv_udp_recv_stop(&u->h);
    if (rc == 0) u->reading = want;
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr, unsigned flags) {
    (void)flags;
    udp *u = h->data;
    /* nread 0 without an address: nothing more to read now. Errors (an ICMP
     * refusal of an earlier send) are not datagrams: the socket goes on. */
    if (nread < 0 || !addr) return;
    dgram *d = malloc(sizeof *d + (size_t)nread);
    if (!d) return;   /* dropped, as the network may */
    d->next = NULL;
    d->len = (size_t)nread;
    memcpy(d->data, buf->base, d->len);
    if (mb_io_addr_name(addr, d->host, &d->port)) d->host[0] = '\0';
    if (u->qtail) u->qtail->next = d;
    else u->q = d;
    u->qtail = d;
    u->qbytes += d->len;
    deliver(u);
    update_reading(u);
}

/* ---- open and close ------------------------------------------------------ */

static void on_closed(uv_handle_t *h) {
    udp *u = h->data;
    while (u->q) pop(u);
    free(u);
}

/* Out of the list; its waiter told "closed"; its memory goes once libuv
 * has let go (pending sends then answer "closed"). */
static void udp_close(udp *u) {
    for (udp **pp = &u->nu->list; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            break;
        }
    if (u->waiter) {
        mb_io_fail(u->nu->rt, NULL, u->waiter, "closed");
        mb_io_req_free(u->waiter);
        u->waiter = NULL;
    }
    uv_close((uv_handle_t *)&u->h, on_closed);
}

static void apply_active(udp *u, const mb_io_opts *o) { mb_io_set_active(&u->active, &u->once, o); }

static void req_open(mb_netudp *nu, mb_io_req *r) {
    struct sockaddr_storage sa;
    int rc = to_addr(r->host, r->port, &sa);
    if (rc) { mb_io_fail(nu->rt, NULL, r, "einval"); return; }
    udp *u = calloc(1, sizeof *u);
    if (!u) { mb_io_fail(nu->rt, NULL, r, "enomem"); return; }
    if ((rc = uv_udp_init(nu->loop, &u->h))) {
        free(u);
        mb_io_fail_uv(nu->rt, NULL, r, rc);
        return;
    }
    u->h.data = u;
    u->nu = nu;
    unsigned flags = r->opts.reuseaddr == 1 ? UV_UDP_REUSEADDR : 0;
    if ((rc = uv_udp_bind(&u->h, (struct sockaddr *)&sa, flags))) {
        uv_close((uv_handle_t *)&u->h, on_closed);
        mb_io_fail_uv(nu->rt, NULL, r, rc);
        return;
    }
    u->id = mb_io_new_handle(nu->rt, false, 0);
    u->owner = r->pid;
    apply_active(u, &r->opts);
    if (!mb_io_adopt(nu->rt, r->pid, 0, false)) {   /* the owner is gone: nobody waits */
        uv_close((uv_handle_t *)&u->h, on_closed);
        return;
    }
    u->next = nu->list;
    nu->list = u;
    mb_io_ok_handle(nu->rt, NULL, r, u->id);
    update_reading(u);
}

/* ---- the requests on a socket -------------------------------------------- */

static void on_sent(uv_udp_send_t *s, int status) {
    send_req *sr = (send_req *)s;
    if (status == UV_ECANCELED) mb_io_fail(sr->nu->rt, NULL, sr->r, "closed");
    else if (status < 0) mb_io_fail_uv(sr->nu->rt, NULL, sr->r, status);
    else mb_io_ok(sr->nu->rt, NULL, sr->r);
    mb_io_req_free(sr->r);
    free(sr);
}

/* The datagram r to sa; the answer comes once the kernel took it. */
static void send_to(mb_netudp *nu, udp *u, mb_io_req *r, const struct sockaddr *sa) {
    send_req *sr = malloc(sizeof *sr);
    if (!sr) {
        mb_io_fail(nu->rt, NULL, r, "enomem");
        mb_io_req_free(r);
        return;
    }
    sr->nu = nu;
    sr->r = r;
    uv_buf_t buf = uv_buf_init((char *)mb_io_req_data(r), (unsigned)r->len);
    int rc = uv_udp_send(&sr->s, &u->h, &buf, 1, sa, on_sent);
    if (rc) {
        free(sr);
        mb_io_fail_uv(nu->rt, NULL, r, rc);
        mb_io_req_free(r);
    }
}

static int family_of(udp *u) {
    struct sockaddr_storage sa;
    int len = sizeof sa;
    return uv_udp_getsockname(&u->h, (struct sockaddr *)&sa, &len) ? AF_INET : sa.ss_family;
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai) {
    resolving *rs = g->data;
    mb_netudp *nu = rs->nu;
    mb_io_req *r = rs->r;
    udp *u = find(nu, rs->id);
    free(rs);
    const struct addrinfo *a = ai;
    if (u && status == 0)
        while (a && a->ai_family != family_of(u)) a = a->ai_next;
    if (nu->stopping) mb_io_req_free(r);
    else if (status < 0) {
        mb_io_fail(nu->rt, NULL, r, status == UV_EAI_NONAME ? "nxdomain" : uv_err_name(status));
        mb_io_req_free(r);
    } else if (!u) {
        mb_io_fail(nu->rt, NULL, r, "closed");
        mb_io_req_free(r);
    } else if (!a) {
        mb_io_fail(nu->rt, NULL, r, "eafnosupport");   /* no address of the socket's family */
        mb_io_req_free(r);
    } else {
        send_to(nu, u, r, a->ai_addr);
    }
    uv_freeaddrinfo(ai);
}

/* Any process may send: to an IP literal at once, to a name (localhost
 * too: it may be ::1) once resolved. */
static void req_sendto(mb_netudp *nu, udp *u, mb_io_req *r) {
    struct sockaddr_storage sa;
    if (uv_ip4_addr(r->host, r->port, (struct sockaddr_in *)&sa) == 0 ||
        uv_ip6_addr(r->host, r->port, (struct sockaddr_in6 *)&sa) == 0) {
        send_to(nu, u, r, (struct sockaddr *)&sa);
        return;
    }
    resolving *rs = malloc(sizeof *rs);
    if (!rs) {
        mb_io_fail(nu->rt, NULL, r, "enomem");
        mb_io_req_free(r);
        return;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", r->port);
    struct addrinfo hints = {0};
    hints.ai_family = family_of(u);
    hints.ai_socktype = SOCK_DGRAM;
    rs->gai.data = rs;
    rs->nu = nu;
    rs->id = u->id;
    rs->r = r;
    int rc = uv_getaddrinfo(nu->loop, &rs->gai, on_resolved, r->host, port, &hints);
    if (rc) {
        free(rs);
        mb_io_fail_uv(nu->rt, NULL, r, rc);
        mb_io_req_free(r);
    }
}

/* SETOPTS: only active applies to UDP. With n = 1 (controlling_process's
 * first step) it answers the active mode it replaced. */
static void req_setopts(mb_netudp *nu, udp *u, mb_io_req *r) {
    if (r->opts.packet != MB_IO_UNSET) { mb_io_fail(nu->rt, NULL, r, "einval"); return; }
    int was = u->active;
    bool once = u->once;
    apply_active(u, &r->opts);
    if (r->n) mb_io_ok_2(nu->rt, NULL, r, was, once);
    else mb_io_ok(nu->rt, NULL, r);
    deliver(u);
    update_reading(u);
}

static void req_handover(mb_netudp *nu, udp *u, mb_io_req *r) {
    if (!mb_io_adopt(nu->rt, r->to, 0, false)) {   /* the new owner is gone: as if it died owning it */
        mb_io_ok(nu->rt, NULL, r);
        udp_close(u);
        return;
    }
    u->owner = r->to;
    mb_io_forward(nu->rt, NULL, r);   /* then the answer, as netsock.c's */
    mb_io_ok(nu->rt, NULL, r);
    apply_active(u, &r->opts);
    deliver(u);
    update_reading(u);
}

static void req_name(mb_netudp *nu, udp *u, mb_io_req *r) {
    if (r->n) { mb_io_fail(nu->rt, NULL, r, "enotconn"); return; }   /* no peer: it sends anywhere */
    struct sockaddr_storage sa;
    int len = sizeof sa;
    char host[64];
    int port = 0;
    int rc = uv_udp_getsockname(&u->h, (struct sockaddr *)&sa, &len);
    if (rc == 0) rc = mb_io_addr_name((struct sockaddr *)&sa, host, &port);
    if (rc) mb_io_fail_uv(nu->rt, NULL, r, rc);
    else mb_io_ok_name(nu->rt, NULL, r, host, port);
}

/* RECVFROM waits (owner only, passive only); CANCEL ends a wait that timed out. */
static bool req_wait(mb_netudp *nu, udp *u, mb_io_req *r) {
    if (r->op == MB_IO_CANCEL) {
        if (u->waiter && u->waiter->ref == r->ref) {
            mb_io_fail(nu->rt, NULL, u->waiter, "timeout");
            mb_io_req_free(u->waiter);
            u->waiter = NULL;
            update_reading(u);
        }
        return false;
    }
    if (u->active != 0 || u->waiter) {
        mb_io_fail(nu->rt, NULL, r, "einval");
        return false;
    }
    u->waiter = r;
    deliver(u);
    update_reading(u);
    return true;
}

void mb_netudp_handle(mb_netudp *nu, mb_io_req *r) {
    if (r->op == MB_IO_UDP_OPEN) {
        req_open(nu, r);
        mb_io_req_free(r);
        return;
    }
    udp *u = find(nu, r->handle);
    if (!u) {   /* closed: closing again is no error */
        if (r->op == MB_IO_CLOSE) mb_io_ok(nu->rt, NULL, r);
        else if (r->op != MB_IO_CANCEL) mb_io_fail(nu->rt, NULL, r, "closed");
        mb_io_req_free(r);
        return;
    }
    if (r->op == MB_IO_SENDTO) { req_sendto(nu, u, r); return; }
    bool owner_only = r->op == MB_IO_RECVFROM || r->op == MB_IO_SETOPTS || r->op == MB_IO_HANDOVER;
    if (owner_only && u->owner != r->pid) {
        mb_io_fail(nu->rt, NULL, r, "not_owner");
        mb_io_req_free(r);
        return;
    }
    switch (r->op) {
    case MB_IO_RECVFROM: case MB_IO_CANCEL:
        if (req_wait(nu, u, r)) return;   /* it waits: u holds r */
        break;
    case MB_IO_CLOSE: udp_close(u); mb_io_ok(nu->rt, NULL, r); break;
    case MB_IO_SETOPTS: req_setopts(nu, u, r); break;
    case MB_IO_HANDOVER: req_handover(nu, u, r); break;
    case MB_IO_NAME: req_name(nu, u, r); break;
    default: mb_io_fail(nu->rt, NULL, r, "einval"); break;   /* a TCP call on a UDP socket */
    }
    mb_io_req_free(r);
}

void mb_netudp_owner_died(mb_netudp *nu, mb_pid pid) {
    for (udp *u = nu->list, *next; u; u = next) {
        next = u->next;
        if (u->owner == pid) udp_close(u);
    }
}

void mb_netudp_close_all(mb_netudp *nu) {
    nu->stopping = true;
    while (nu->list) udp_close(nu->list);
}
