/* netsock_internal.h: what netsock.c (a socket's life: the table, reading,
 * sending, closing) and netopen.c (opening one: listen, accept, connect and
 * name resolution) share. Private to the two: the rest of the core knows
 * netsock.h only. Everything here runs on the thread of the table's loop. */
#ifndef MB_NETSOCK_INTERNAL_H
#define MB_NETSOCK_INTERNAL_H

#include <netdb.h>
#include <stdatomic.h>
#include <stdbool.h>
#include "buf.h"
#include "io.h"
#include "netsock.h"
#include "sockfile.h"

typedef struct sock sock;
struct sock {
    union {
        uv_handle_t h;
        uv_stream_t s;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } u;
    mb_netsock *ns;
    uint64_t id;
    mb_pid owner;
    sock *hnext;            /* hash chain */
    bool in_table, closing, is_pipe, listener;
    bool eof;               /* nothing more comes from the peer */
    bool dead;              /* told "closed" (tcp_closed or a recv): send fails */
    bool wclosed;           /* shut down for writing */
    bool owner_shut;        /* ... by the owner's net.shutdown (not a failed write) */
    bool shutting;          /* that shutdown waits for the writes before it */
    bool reading, conn_ready;
    int active;             /* 0, MB_IO_ACTIVE_TRUE, or the count left */
    bool once;
    int packet;
    size_t hwm;
    int backlog;
    mb_buf in;              /* received, not yet delivered: in.p[in_off..in.len) */
    size_t in_off;
    mb_io_req *waiter;      /* the owner's RECV or ACCEPT */
    mb_io_req *parked, *parked_tail;
    int writes;             /* uv_write requests in flight */
    char *path;             /* a unix listener's path: its file removed on close */
    mb_sockfile file;       /* ... if the path still names the file the bind made */
    uv_timer_t *flush;      /* closed, flushing its writes: the time it has left */
    sock *fnext, *fprev;    /* in ns->flushing while flush is set */
};

/* A name being resolved and tried, one address after another (connect,
 * and listen on a host). */
typedef struct pending {
    uv_getaddrinfo_t gai;
    uv_connect_t conn;
    mb_netsock *ns;
    mb_io_req *r;
    struct addrinfo *ai, *cur;
    sock *s;                /* the attempt in flight */
    bool cancelled;         /* timed out: answered; a socket it makes is closed */
    int last_err;
    struct pending *next, *prev;
} pending;

typedef struct write_req {
    uv_write_t w;
    mb_io_req *r;
} write_req;

struct mb_netsock {
    mb_runtime *rt;
    mb_sched *sched;        /* whose loop (NULL: the I/O thread's) */
    mb_sched *from;         /* where answers wake their process: sched, but the asker's own
                               scheduler while a request posted from there is done */
    int home;               /* what its handles carry (io.h's mb_io_home) */
    uv_loop_t *loop;
    sock **buckets;
    size_t nbuckets;
    _Atomic size_t count;   /* sockets in the table: written here, read by other loops (netopen.c) */
    pending *pendings;
    sock *flushing;         /* closed sockets whose queued writes still go out */
    uint8_t *scratch;       /* READ_CHUNK bytes a read of a socket holding nothing goes into */
    bool stopping;
};

/* netsock.c */
sock *nsock_new(mb_netsock *ns, bool is_pipe);
void nsock_close_handle(sock *s);
void nsock_apply_opts(sock *s, const mb_io_opts *o);
/* A socket now open on r's asker's behalf: in the table, reading as its
 * mode says, its handle answered (o: options to apply first, or NULL). */
void nsock_hand_to(sock *s, mb_io_req *r, const mb_io_opts *o);
/* The socket r names, if r's asker may use it; else r is answered. */
sock *nsock_owned(mb_netsock *ns, mb_io_req *r);

/* netopen.c: each takes r (answers and frees it, now or later). */
void nsock_listen(mb_netsock *ns, mb_io_req *r);
void nsock_accept(mb_netsock *ns, mb_io_req *r);
void nsock_connect(mb_netsock *ns, mb_io_req *r);
void nsock_cancel_pending(mb_netsock *ns, const mb_io_req *r);
void nsock_stop_pending(mb_netsock *ns);

#endif
