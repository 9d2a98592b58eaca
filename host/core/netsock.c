/* netsock.c: TCP and unix stream sockets on a scheduler's loop (see
 * netsock.h and netloop.h).
 *
 * A socket is a libuv stream plus what moonbeam.net promises on top: an
 * owner, an active mode, a packet mode, an input buffer, the owner's one
 * waiting recv or accept, and the senders waiting for the send queue to
 * drain below the high-water mark.
 *
 * Flow control. A passive socket reads while its buffer holds less than
 * the high-water mark, or while its waiting recv needs more; an active
 * count or "once" reads only while it lasts; active = true reads whatever
 * comes (gen_tcp's {active, true}: the owner's mailbox is the buffer). A
 * send answers once the bytes queued in libuv are at most the mark.
 *
 * Life: a socket is in the table (found by its handle) from open to close;
 * its memory goes in uv_close's callback. After the peer closed (or reset)
 * it stays in the table, "dead": recv says "closed", send says "closed". */
#include "netsock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "io_answer.h"
#include "netsock_internal.h"
#include "packet.h"
#include "runtime.h"
#include "sched.h"

#define DEFAULT_HWM (64 * 1024)
#define DEFAULT_BACKLOG 128
#define READ_CHUNK (64 * 1024)
/* How long a closed socket's queued writes may take to reach a peer that
 * does not read; then it is reset, so a stuck peer cannot hold a handle. */
#define CLOSE_FLUSH_MS 2000

/* ---- the table ---------------------------------------------------------- */

static size_t bucket_of(mb_netsock *ns, uint64_t id) {
    return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 20) & (ns->nbuckets - 1);
}

int mb_netsock_new(mb_netsock **out, mb_runtime *rt, mb_sched *sched, uv_loop_t *loop) {
    mb_netsock *ns = calloc(1, sizeof *ns);
    if (!ns) return -1;
    ns->nbuckets = 64;
    ns->buckets = calloc(ns->nbuckets, sizeof *ns->buckets);
    if (!ns->buckets) {
        free(ns);
        return -1;
    }
    ns->rt = rt;
    ns->sched = ns->from = sched;
    ns->home = sched ? sched->id + 1 : 0;
    ns->loop = loop;
    *out = ns;
    return 0;
}

bool mb_netsock_busy(const mb_netsock *ns) { return ns->count || ns->pendings || ns->flushing; }
bool mb_netsock_stopping(const mb_netsock *ns) { return ns->stopping; }

void mb_netsock_free(mb_netsock *ns) {
    if (!ns) return;
    free(ns->scratch);
    free(ns->buckets);
    free(ns);
}

static sock *find(mb_netsock *ns, uint64_t id) {
    for (sock *s = ns->buckets[bucket_of(ns, id)]; s; s = s->hnext)
        if (s->id == id) return s;
    return NULL;
}

/* Doubling keeps chains short; a failed growth only makes them longer. */
static void grow(mb_netsock *ns) {
    size_t n = ns->nbuckets * 2;
    sock **b = calloc(n, sizeof *b);
    if (!b) return;
    sock **old = ns->buckets;
    size_t oldn = ns->nbuckets;
    ns->buckets = b;
    ns->nbuckets = n;
    for (size_t i = 0; i < oldn; i++)
        for (sock *s = old[i], *next; s; s = next) {
            next = s->hnext;
            size_t k = bucket_of(ns, s->id);
            s->hnext = b[k];
            b[k] = s;
        }
    free(old);
}

static void insert(mb_netsock *ns, sock *s) {
    if (ns->count >= ns->nbuckets) grow(ns);
    size_t k = bucket_of(ns, s->id);
    s->hnext = ns->buckets[k];
    ns->buckets[k] = s;
    s->in_table = true;
    ns->count++;
}

static void remove_from_table(mb_netsock *ns, sock *s) {
    if (!s->in_table) return;
    for (sock **pp = &ns->buckets[bucket_of(ns, s->id)]; *pp; pp = &(*pp)->hnext)
        if (*pp == s) {
            *pp = s->hnext;
            break;
        }
    s->in_table = false;
    ns->count--;
}

/* ---- making and ending sockets ------------------------------------------ */

static void set_reading(sock *s, bool want);

sock *nsock_new(mb_netsock *ns, bool is_pipe) {
    sock *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    int rc = is_pipe ? uv_pipe_init(ns->loop, &s->u.pipe, 0) : uv_tcp_init(ns->loop, &s->u.tcp);
    if (rc) {
        free(s);
        return NULL;
    }
    s->u.h.data = s;
    s->ns = ns;
    s->is_pipe = is_pipe;
    s->hwm = DEFAULT_HWM;
    s->backlog = DEFAULT_BACKLOG;
    return s;
}

static void on_closed(uv_handle_t *h) {
    sock *s = h->data;
    mb_buf_free(&s->in);
    free(s->path);
    free(s);
}

/* Every parked sender hears reason (or true); each is freed once written. */
static void unpark_all(sock *s, const char *reason) {
    mb_io_req *r = s->parked;
    s->parked = s->parked_tail = NULL;
    while (r) {
        mb_io_req *next = r->park_next;
        if (reason) mb_io_fail(s->ns->rt, s->ns->from, r, reason);
        else mb_io_ok(s->ns->rt, s->ns->from, r);
        r->parked = false;
        if (r->written) mb_io_req_free(r);
        r = next;
    }
}

static void answer_waiter(sock *s, const char *reason) {
    if (!s->waiter) return;
    mb_io_fail(s->ns->rt, s->ns->from, s->waiter, reason);
    mb_io_req_free(s->waiter);
    s->waiter = NULL;
}

static void free_timer(uv_handle_t *h) { free(h); }

void nsock_close_handle(sock *s) {
    if (s->closing) return;
    s->closing = true;
    if (s->flush) {
        mb_netsock *ns = s->ns;
        if (s->fprev) s->fprev->fnext = s->fnext;
        else ns->flushing = s->fnext;
        if (s->fnext) s->fnext->fprev = s->fprev;
        uv_close((uv_handle_t *)s->flush, free_timer);
        s->flush = NULL;
    }
    uv_close(&s->u.h, on_closed);
}

/* The loop's scratch as a read's buffer: false with no memory for it. */
static bool scratch_buf(mb_netsock *ns, uv_buf_t *buf) {
    if (!ns->scratch && !(ns->scratch = malloc(READ_CHUNK))) return false;
    *buf = uv_buf_init((char *)ns->scratch, READ_CHUNK);
    return true;
}

/* Lingering (on_flushed): what the peer still sends is read and dropped,
 * into the loop's scratch, until it closes its end. */
static void on_alloc_dropped(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    sock *s = h->data;
    if (!scratch_buf(s->ns, buf)) *buf = uv_buf_init(NULL, 0);   /* libuv reports UV_ENOBUFS: closed */
}

static void on_read_dropped(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
    (void)buf;
    if (nread < 0) nsock_close_handle(st->data);   /* its end, or an error: done */
}

/* Our end is shut, after what was queued: a TCP socket closes once the
 * peer has closed its own (within the flush's time). Closed at once, with
 * bytes of the peer's unread in the kernel (a request pipelined behind the
 * last), it would send a reset, and a reset makes the peer drop what it
 * had not read yet: the end of our last answer. */
static void drop_until_peer_ends(sock *s, int shut_status) {
    if (shut_status == 0 && !s->is_pipe && !s->eof && !s->closing &&
        uv_read_start(&s->u.s, on_alloc_dropped, on_read_dropped) == 0)
        return;
    nsock_close_handle(s);
}

static void on_flushed(uv_shutdown_t *req, int status) {
    sock *s = req->handle->data;
    free(req);
    drop_until_peer_ends(s, status);
}

/* The owner's net.shutdown is done: a close that came meanwhile lingers
 * from here, as after its own shutdown. */
static void on_shut(uv_shutdown_t *req, int status) {
    sock *s = req->handle->data;
    free(req);
    s->shutting = false;
    if (s->flush) drop_until_peer_ends(s, status);
}

/* The peer took too long: closed with SO_LINGER 0, the kernel drops what
 * it never read and resets the connection instead of keeping trying.
 * (uv_tcp_close_reset refuses a handle that is shutting down.) */
static void on_flush_late(uv_timer_t *t) {
    sock *s = t->data;
    uv_os_fd_t fd;
    struct linger lg = {1, 0};
    if (!s->is_pipe && uv_fileno(&s->u.h, &fd) == 0 && setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg))
        perror("moonbeam: a late close's SO_LINGER");   /* it still closes: only the reset is lost */
    nsock_close_handle(s);
}

/* The close's time: CLOSE_FLUSH_MS, then on_flush_late. s joins the
 * flushing list, which nsock_close_handle leaves. Nonzero: no timer. */
static int start_flush_time(sock *s) {
    mb_netsock *ns = s->ns;
    uv_timer_t *t = malloc(sizeof *t);
    if (!t || uv_timer_init(ns->loop, t)) {
        free(t);
        return -1;
    }
    t->data = s;
    if (uv_timer_start(t, on_flush_late, CLOSE_FLUSH_MS, 0)) {
        uv_close((uv_handle_t *)t, free_timer);
        return -1;
    }
    s->flush = t;
    s->fprev = NULL;
    s->fnext = ns->flushing;
    if (s->fnext) s->fnext->fprev = s;
    ns->flushing = s;
    return 0;
}

/* Let the queued writes go out, then close (a shutdown waits for them,
 * and on_flushed for the peer's end), within CLOSE_FLUSH_MS. A socket its
 * owner shut already lingers the same way, from that shutdown's end
 * (on_shut). Nonzero: it could not start; close now (nsock_close_handle
 * stops the timer). */
static int flush_then_close(sock *s) {
    if (start_flush_time(s)) return -1;
    if (s->owner_shut) {
        if (!s->shutting) drop_until_peer_ends(s, 0);
        return 0;
    }
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req || uv_shutdown(req, &s->u.s, on_flushed)) {   /* once started, libuv holds req until its callback */
        free(req);
        return -1;
    }
    s->wclosed = true;
    return 0;
}

/* Out of the table, everyone waiting told "closed"; queued writes are
 * flushed first (within CLOSE_FLUSH_MS), then the handle closes. */
static void sock_close(sock *s) {
    mb_netsock *ns = s->ns;
    remove_from_table(ns, s);
    answer_waiter(s, "closed");
    unpark_all(s, "closed");
    if (s->path) mb_sockfile_remove(s->path, &s->file);   /* the path may name another's file now */
    if (s->closing) return;
    set_reading(s, false);
    /* A connection the peer has not ended lingers too, with nothing
     * queued (on_flushed); a listener, or one the peer ended (all it sent
     * read), closes at once. */
    bool lingers = s->writes > 0 || (!s->eof && !s->is_pipe && !s->listener);
    bool can_shut = !s->wclosed || s->owner_shut;   /* not after a failed write: the peer is gone */
    if (lingers && can_shut && !s->dead && flush_then_close(s) == 0) return;
    nsock_close_handle(s);
}

/* ---- reading ------------------------------------------------------------- */

static size_t avail(const sock *s) { return s->in.len - s->in_off; }
static const uint8_t *in_at(const sock *s) { return s->in.p + s->in_off; }

/* All delivered: the buffer goes (the next read makes another), so an
 * idle connection holds none of its READ_CHUNK. */
static void release_if_drained(sock *s) {
    if (s->in_off < s->in.len) return;
    mb_buf_free(&s->in);
    s->in_off = 0;
}

static void consume(sock *s, size_t n) {
    s->in_off += n;
    release_if_drained(s);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
    (void)hint;
    sock *s = h->data;
    mb_netsock *ns = s->ns;
    /* Holding nothing: the read goes into the loop's scratch, and the socket
     * keeps only what its recv does not take at once (on_read), so a
     * request answered as it comes costs no buffer of its own. libuv calls
     * on_read before it asks for another buffer. */
    if (avail(s) == 0 && scratch_buf(ns, buf)) return;
    if (s->in_off && s->in_off >= s->in.len / 2) {   /* slide back what is left */
        memmove(s->in.p, s->in.p + s->in_off, avail(s));
        s->in.len -= s->in_off;
        s->in_off = 0;
    }
    /* A failed reserve gives an empty buffer: libuv reports UV_ENOBUFS. */
    if (mb_buf_reserve(&s->in, READ_CHUNK)) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init((char *)s->in.p + s->in.len, (unsigned)(s->in.cap - s->in.len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void set_reading(sock *s, bool want) {
    if (want == s->reading || s->closing) return;
    int rc = want ? uv_read_start(&s->u.s, on_alloc, on_read) : uv_read_stop(&s->u.s);
    if (rc == 0) s->reading = want;
    else s->eof = true;   /* it cannot read: as if the peer had gone */
}

static void update_reading(sock *s) {
    bool want = !s->eof && !s->listener && s->in_table &&
                (s->active != 0 || avail(s) < s->hwm || s->waiter);
    set_reading(s, want);
}

/* Answer the waiting recv if its data are there (or cannot come). */
static void try_recv(sock *s) {
    mb_io_req *w = s->waiter;
    if (!w || w->op != MB_IO_RECV) return;
    mb_runtime *rt = s->ns->rt;
    mb_sched *from = s->ns->from;
    size_t off, len, used;
    int got;
    if (s->packet == 0 && w->n > 0) {
        got = avail(s) >= w->n;
        off = 0;
        len = used = w->n;
    } else {
        got = mb_packet_next(s->packet, in_at(s), avail(s), s->eof, &off, &len, &used);
    }
    if (got < 0) {
        mb_io_fail(rt, from, w, "emsgsize");
    } else if (got > 0) {
        mb_io_ok_data(rt, from, w, in_at(s) + off, len);
        consume(s, used);
    } else if (s->eof) {
        s->dead = true;
        mb_io_fail(rt, from, w, "closed");
    } else {
        return;
    }
    mb_io_req_free(w);
    s->waiter = NULL;
}

/* Deliver what the active mode allows; then tcp_closed once the peer is gone. */
static void push_active(sock *s) {
    mb_runtime *rt = s->ns->rt;
    mb_sched *from = s->ns->from;
    while (s->active != 0 && !s->dead) {
        size_t off, len, used;
        int got = mb_packet_next(s->packet, in_at(s), avail(s), s->eof, &off, &len, &used);
        if (got < 0) {
            mb_io_tell(rt, from, s->owner, "tcp_error", s->id, "emsgsize", 8);
            s->eof = true;
            s->in_off = s->in.len;
            release_if_drained(s);
            break;
        }
        if (got == 0) break;
        if (mb_io_tell_data(rt, from, s->owner, "tcp", s->id, in_at(s) + off, len)) break;   /* OOM: keep it */
        consume(s, used);
        if (s->active > 0 && --s->active == 0 && !s->once) mb_io_tell(rt, from, s->owner, "tcp_passive", s->id, NULL, 0);
    }
    if (s->active != 0 && s->eof && !s->dead) {
        s->dead = true;
        mb_io_tell(rt, from, s->owner, "tcp_closed", s->id, NULL, 0);
    }
}

/* n bytes read into the scratch: a waiting passive recv takes what it
 * asked for from there; the rest is kept in the socket's buffer. Returns
 * n, or UV_ENOBUFS if the rest could not be kept: the connection then
 * ends, as after a failed on_alloc. */
static ssize_t from_scratch(sock *s, const uint8_t *p, size_t n) {
    mb_io_req *w = s->waiter;
    size_t used = 0;
    if (s->active == 0 && w && w->op == MB_IO_RECV && s->packet == 0 && w->n <= n) {
        used = w->n ? w->n : n;
        mb_io_ok_data(s->ns->rt, s->ns->from, w, p, used);
        mb_io_req_free(w);
        s->waiter = NULL;
    }
    if (used < n && mb_buf_put(&s->in, p + used, n - used)) return UV_ENOBUFS;
    return (ssize_t)n;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
    sock *s = st->data;
    if (nread > 0 && s->ns->scratch && buf->base == (char *)s->ns->scratch)
        nread = from_scratch(s, (const uint8_t *)buf->base, (size_t)nread);
    else if (nread > 0)
        s->in.len += (size_t)nread;
    if (nread < 0) {
        /* A reset is reported as the end, as gen_tcp's tcp_closed; other
         * errors are told first. */
        if (nread != UV_EOF && nread != UV_ECONNRESET && s->active != 0) {
            char name[32];
            snprintf(name, sizeof name, "%s", uv_err_name((int)nread));
            for (char *c = name; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
            mb_io_tell(s->ns->rt, s->ns->from, s->owner, "tcp_error", s->id, name, strlen(name));
        }
        s->eof = true;
    }
    if (s->active != 0) push_active(s);
    else try_recv(s);
    /* The socket's own buffer, drained (or left empty by a read that found
     * nothing: EAGAIN after a full buffer, the end, an error), is not kept
     * while idle. */
    release_if_drained(s);
    update_reading(s);
}

/* ---- options and ownership ----------------------------------------------- */

void nsock_apply_opts(sock *s, const mb_io_opts *o) {
    if (o->packet != MB_IO_UNSET) s->packet = o->packet;
    if (o->high_watermark != MB_IO_UNSET) s->hwm = (size_t)o->high_watermark;
    if (o->backlog != MB_IO_UNSET) s->backlog = o->backlog;
    mb_io_set_active(&s->active, &s->once, o);
}

/* A socket now open on the owner's behalf: in the table, reading as its
 * mode says, its handle answered. An owner that is gone closes it. */
void nsock_hand_to(sock *s, mb_io_req *r, const mb_io_opts *o) {
    mb_netsock *ns = s->ns;
    s->id = mb_io_new_handle(ns->rt, false, ns->home);
    s->owner = r->pid;
    if (o) nsock_apply_opts(s, o);
    if (!mb_io_adopt(ns->rt, r->pid, ns->home, s->listener)) {
        nsock_close_handle(s);
        return;
    }
    insert(ns, s);
    mb_io_ok_handle(ns->rt, ns->from, r, s->id);
    push_active(s);
    update_reading(s);
}

/* The socket r names, if r's asker may use it; else answered. */
sock *nsock_owned(mb_netsock *ns, mb_io_req *r) {
    sock *s = find(ns, r->handle);
    if (!s) mb_io_fail(ns->rt, ns->from, r, "closed");
    else if (s->owner != r->pid) mb_io_fail(ns->rt, ns->from, r, "not_owner");
    else return s;
    return NULL;
}

/* ---- send, recv ------------------------------------------------------------ */

static void on_written(uv_write_t *w, int status) {
    write_req *wr = (write_req *)w;
    sock *s = w->handle->data;
    mb_io_req *r = wr->r;
    free(wr);
    s->writes--;
    r->written = true;
    if (!r->parked) mb_io_req_free(r);
    if (status < 0 && status != UV_ECANCELED) {
        s->wclosed = true;   /* the peer is gone: later sends say "closed" */
        unpark_all(s, "closed");
    } else if (s->u.s.write_queue_size <= s->hwm) {
        unpark_all(s, NULL);
    }
}

/* A send is written at once when nothing waits before it (uv_try_write:
 * no request, no callback, and no epoll change, which a finished uv_write
 * costs); what the socket does not take now is queued with uv_write. */
static void req_send(mb_netsock *ns, mb_io_req *r) {
    sock *s = find(ns, r->handle);
    const char *bad = !s || s->dead || s->wclosed ? "closed" : s->listener ? "einval" : NULL;
    uint8_t *data = mb_io_req_data(r);
    int pre = bad ? 0 : mb_packet_prefix(s->packet, data, r->len);
    if (pre < 0) {
        bad = "emsgsize";
        pre = 0;
    }
    uv_buf_t buf = uv_buf_init((char *)data - pre, (unsigned)(r->len + (size_t)pre));
    int done = bad ? 0 : uv_try_write(&s->u.s, &buf, 1);
    if (done == (int)buf.len) {
        mb_io_ok(ns->rt, ns->from, r);
        mb_io_req_free(r);
        return;
    }
    if (done > 0) {
        buf.base += done;
        buf.len -= (unsigned)done;
    }   /* an error (the peer gone) is left to uv_write to find again, as before */
    write_req *wr = bad ? NULL : malloc(sizeof *wr);
    if (!bad && !wr) bad = "enomem";
    if (wr) wr->r = r;
    if (!bad && uv_write(&wr->w, &s->u.s, &buf, 1, on_written)) bad = "closed";
    if (bad) {
        free(wr);
        mb_io_fail(ns->rt, ns->from, r, bad);
        mb_io_req_free(r);
        return;
    }
    s->writes++;
    if (s->u.s.write_queue_size <= s->hwm) {
        mb_io_ok(ns->rt, ns->from, r);   /* r itself is freed once written */
        return;
    }
    r->parked = true;
    r->park_next = NULL;
    if (s->parked_tail) s->parked_tail->park_next = r;
    else s->parked = r;
    s->parked_tail = r;
}

static void req_recv(mb_netsock *ns, mb_io_req *r) {
    sock *s = nsock_owned(ns, r);
    if (!s) {
        mb_io_req_free(r);
        return;
    }
    if (s->listener || s->active != 0 || s->waiter) {
        mb_io_fail(ns->rt, ns->from, r, "einval");
        mb_io_req_free(r);
        return;
    }
    if (s->dead) {
        mb_io_fail(ns->rt, ns->from, r, "closed");
        mb_io_req_free(r);
        return;
    }
    s->waiter = r;
    try_recv(s);
    update_reading(s);
}

/* A wait that timed out: if its request still waits, it ends with
 * "timeout" and takes nothing; if it was answered, that answer stands. */
static void req_cancel(mb_netsock *ns, mb_io_req *r) {
    sock *s = r->handle ? find(ns, r->handle) : NULL;
    if (s && s->waiter && s->waiter->ref == r->ref) {
        answer_waiter(s, "timeout");
        update_reading(s);
    }
    nsock_cancel_pending(ns, r);
    mb_io_req_free(r);
}

/* ---- the rest ----------------------------------------------------------- */

static void req_shutdown(mb_netsock *ns, mb_io_req *r) {
    sock *s = find(ns, r->handle);
    if (!s || s->dead || s->listener) {
        mb_io_fail(ns->rt, ns->from, r, s && s->listener ? "einval" : "closed");
        return;
    }
    if (s->wclosed) {   /* shut down already: done, as gen_tcp's second shutdown */
        mb_io_ok(ns->rt, ns->from, r);
        return;
    }
    uv_shutdown_t *req = malloc(sizeof *req);
    int rc = req ? uv_shutdown(req, &s->u.s, on_shut) : UV_ENOMEM;
    if (rc) {
        free(req);
        mb_io_fail_uv(ns->rt, ns->from, r, rc);
        return;
    }
    s->wclosed = s->owner_shut = s->shutting = true;
    mb_io_ok(ns->rt, ns->from, r);
}

/* SETOPTS; with n = 1 (controlling_process's first step) it answers the
 * active mode it replaced: {true, active, once}. */
static void req_setopts(mb_netsock *ns, mb_io_req *r) {
    sock *s = nsock_owned(ns, r);
    if (!s) return;
    int was = s->active;
    bool once = s->once;
    nsock_apply_opts(s, &r->opts);
    if (r->n) mb_io_ok_2(ns->rt, ns->from, r, was, once);
    else mb_io_ok(ns->rt, ns->from, r);
    if (!s->listener) {
        push_active(s);
        update_reading(s);
    }
}

static void req_handover(mb_netsock *ns, mb_io_req *r) {
    sock *s = nsock_owned(ns, r);
    if (!s) return;
    if (!mb_io_adopt(ns->rt, r->to, ns->home, s->listener)) {   /* the new owner is gone: as if it died owning it */
        mb_io_ok(ns->rt, ns->from, r);
        sock_close(s);
        return;
    }
    s->owner = r->to;
    mb_io_forward(ns->rt, ns->from, r);   /* then the answer: what the old owner tells pid next comes after */
    mb_io_ok(ns->rt, ns->from, r);
    nsock_apply_opts(s, &r->opts);
    if (!s->listener) {
        push_active(s);
        update_reading(s);
    }
}

static void req_name(mb_netsock *ns, mb_io_req *r) {
    sock *s = find(ns, r->handle);
    if (!s || s->closing) { mb_io_fail(ns->rt, ns->from, r, "closed"); return; }
    if (s->is_pipe) {
        char path[1024];
        size_t n = sizeof path;
        int rc = r->n ? uv_pipe_getpeername(&s->u.pipe, path, &n) : uv_pipe_getsockname(&s->u.pipe, path, &n);
        if (rc == 0 && n < sizeof path) path[n] = '\0';
        if (rc) { mb_io_fail_uv(ns->rt, ns->from, r, rc); return; }
        { mb_io_ok_name(ns->rt, ns->from, r, s->path && !r->n ? s->path : path, -1); return; }
    }
    struct sockaddr_storage sa;
    int len = sizeof sa;
    int rc = r->n ? uv_tcp_getpeername(&s->u.tcp, (struct sockaddr *)&sa, &len)
                  : uv_tcp_getsockname(&s->u.tcp, (struct sockaddr *)&sa, &len);
    char host[64] = "";
    int port = 0;
    if (rc == 0) rc = mb_io_addr_name((struct sockaddr *)&sa, host, &port);
    if (rc) { mb_io_fail_uv(ns->rt, ns->from, r, rc); return; }
    mb_io_ok_name(ns->rt, ns->from, r, host, port);
}

static void req_close(mb_netsock *ns, mb_io_req *r) {
    sock *s = find(ns, r->handle);
    if (s) sock_close(s);
    mb_io_ok(ns->rt, ns->from, r);   /* closing a closed socket is no error */
}

void mb_netsock_owner_died(mb_netsock *ns, mb_pid pid) {
    for (size_t i = 0; i < ns->nbuckets; i++)
        for (sock *s = ns->buckets[i], *next; s; s = next) {
            next = s->hnext;
            if (s->owner == pid) sock_close(s);
        }
}

void mb_netsock_handle(mb_netsock *ns, mb_io_req *r) {
    switch (r->op) {
    case MB_IO_LISTEN: nsock_listen(ns, r); return;
    case MB_IO_CONNECT: nsock_connect(ns, r); return;
    case MB_IO_ACCEPT: nsock_accept(ns, r); return;
    case MB_IO_SEND: req_send(ns, r); return;
    case MB_IO_RECV: req_recv(ns, r); return;
    case MB_IO_CANCEL: req_cancel(ns, r); return;
    case MB_IO_CLOSE: req_close(ns, r); break;
    case MB_IO_SHUTDOWN: req_shutdown(ns, r); break;
    case MB_IO_SETOPTS: req_setopts(ns, r); break;
    case MB_IO_HANDOVER: req_handover(ns, r); break;
    case MB_IO_NAME: req_name(ns, r); break;
    case MB_IO_OWNER_DIED: mb_netsock_owner_died(ns, r->pid); break;
    default: mb_io_fail(ns->rt, ns->from, r, "einval"); break;   /* io.c routes the others elsewhere */
    }
    mb_io_req_free(r);
}

void mb_netsock_handle_posted(mb_netsock *ns, mb_io_req *r) {
    ns->from = r->back;
    mb_netsock_handle(ns, r);
    ns->from = ns->sched;
}

void mb_netsock_close_all(mb_netsock *ns) {
    ns->stopping = true;
    for (size_t i = 0; i < ns->nbuckets; i++)
        for (sock *s = ns->buckets[i], *next; s; s = next) {
            next = s->hnext;
            sock_close(s);
        }
    /* What was queued still goes out, as on a close: the I/O loop ends once
     * the flushes have, within CLOSE_FLUSH_MS (the host's exit waits). */
    nsock_stop_pending(ns);
}
