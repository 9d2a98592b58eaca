/* dist_internal.h: what dist.c (the thread, its queue, the listener and
 * the timer), dist_conn.c (one connection: framing, handshake, writes) and
 * dist_control.c (what arrives on an open connection) share. Everything
 * here belongs to the distribution thread, except what d->lock guards. */
#ifndef MB_DIST_INTERNAL_H
#define MB_DIST_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include "core/buf.h"
#include "core/term.h"
#include "core/wake.h"
#include "dist.h"
#include "dist_term.h"
#include "handshake.h"

typedef enum conn_state {
    C_RESOLVING,       /* initiator: asking the peer's epmd (worker pool) */
    C_CONNECTING,      /* initiator: TCP connect under way */
    C_AWAIT_STATUS,    /* initiator: name sent, awaiting 's' */
    C_AWAIT_CHALLENGE, /* initiator: awaiting the peer's 'N' challenge */
    C_AWAIT_ACK,       /* initiator: reply sent, awaiting 'a' */
    C_AWAIT_NAME,      /* acceptor: awaiting the peer's 'N' */
    C_AWAIT_REPLY,     /* acceptor: challenge sent, awaiting 'r' */
    C_UP,              /* handshake done: 4-byte frames */
    C_CLOSED           /* closing; freed once libuv lets go */
} conn_state;

typedef struct waiter {
    mb_pid pid;
    mb_ref ref;
} waiter;

typedef struct dist_conn {
    struct mb_dist *d;
    struct dist_conn *next;
    uv_tcp_t tcp;
    conn_state state;
    bool initiator;
    bool work_pending;         /* the epmd lookup still holds this */
    bool tcp_open;             /* tcp was initialised: close it through libuv */
    bool finished;             /* the host stops: our end is shut; we wait for the peer's */
    char peer[MB_NODE_MAX + 1];/* the peer's node name (empty until known) */
    uint64_t peer_flags;
    uint32_t peer_creation;
    uint32_t challenge;        /* the one we sent */
    double started, last_in, last_out;   /* mb_now_ms */
    mb_buf in;                 /* bytes read and not yet framed */
    mb_buf pending;            /* frames sent before the connection was up */
    mb_buf term;               /* the thread's: a message read, in moonbeam's terms, before it is queued */
    /* Frames other threads write themselves (mb_dist_send_frame), under
     * wlock, taken with d->lock held (found up) and kept for the write
     * alone: the socket while up (-1 otherwise), the writes handed to libuv
     * and not yet done (none may be under way for such a write), and what
     * a write of theirs left unwritten, which goes out before anything. */
    pthread_mutex_t wlock;
    int fd;
    unsigned writes_out;
    mb_buf rest;
    bool rest_lost;            /* no memory for a rest: the thread drops the connection */
    /* Frames processes wrote in their slices, sent together at a slice's
     * end (mb_dist_flush_out) or before anything the thread writes. */
    mb_buf out;
    _Atomic bool out_due;      /* out holds frames (read under d->lock alone by the flush) */
    waiter *waiters;           /* mb.connect callers, answered once up or failed */
    size_t nwaiters, capwaiters;
    uv_work_t work;            /* the epmd lookup */
    struct sockaddr_storage addr;
    int lookup_rc;
    int lookup_ms;             /* how long each step of the epmd lookup may wait */
} dist_conn;

/* Callers whose attempt lost a simultaneous connect ("nok"): they wait
 * for the peer's own connection to come up, SETUP_MS at most. */
typedef struct parked {
    struct parked *next;
    char node[MB_NODE_MAX + 1];
    waiter w;
    double deadline;
} parked;

/* What a dial that lost a simultaneous connect had queued (its pending
 * frames: messages, monitors, calls), kept for the peer's own connection,
 * SETUP_MS at most: it goes first once a connection with node is up. */
typedef struct parked_frames {
    struct parked_frames *next;
    char node[MB_NODE_MAX + 1];
    mb_buf frames;
    double deadline;
} parked_frames;

/* One monitor_node: pid is told when the connection to node drops. */
typedef struct node_mon {
    struct node_mon *next;
    char node[MB_NODE_MAX + 1];
    mb_pid pid;
} node_mon;

/* A monitor of this node's process (watcher) on another node's process
 * (target: a remote pid, or {name, node} as a term), waiting for its
 * MONITOR_P_EXIT or the connection's end. */
typedef struct remote_mon {
    struct remote_mon *next;
    char node[MB_NODE_MAX + 1];
    mb_pid watcher;
    mb_ref ref;
    bool call;                 /* a call's: its DOWN is MB_MSG_CALL_DOWN */
    bool queued;               /* its MONITOR_P waits for the thread (dist.c, monitor) */
    uint8_t *demonitor;        /* the DEMONITOR_P frame that ends it (malloc'd) */
    size_t ndemonitor;
    size_t ntarget;
    uint8_t target[];          /* what the DOWN names (element 4), encoded */
} remote_mon;

/* A link between a process of this node (local) and one of node's
 * (remote), which fires "noconnection" when the connection drops. */
typedef struct remote_link {
    struct remote_link *next;
    char node[MB_NODE_MAX + 1];
    mb_pid local, remote;
} remote_link;

struct mb_dist {
    mb_runtime *rt;
    char node[MB_NODE_MAX + 1];
    char cookie[MB_NODE_MAX + 1];
    uint32_t creation;         /* epmd's, for our pids and refs */
    mb_nodetab *tab;           /* remote pids and refs seen (any thread) */
    mb_dist_self me;           /* node, creation and tab, for dist_term.h */
    int epmd_fd;               /* open while registered */
    double ticktime_ms;
    pthread_mutex_t lock;      /* guards the queue, stopping, and conns' states and list */
    struct dist_req *head, *tail;
    bool handling;             /* the thread has taken requests and not yet handled them all */
    _Atomic bool rests;        /* a connection has a rest (dist_conn's) for the thread to write */
    bool stopping, thread_started;
    bool closing;              /* the thread's: the stop has begun */
    bool stop_dialing_done;    /* the thread's: the stop's first timer went off (dist.c) */
    dist_conn *conns;          /* changed on the thread only, under lock */
    parked *parked;            /* the thread's only */
    parked_frames *parked_frames; /* the thread's only */
    node_mon *node_mons;       /* the thread's only */
    remote_mon *remote_mons;   /* under lock: a call's monitor is made by the calling thread */
    _Atomic unsigned telling;  /* DOWNs taken off remote_mons, under lock, and not yet sent */
    struct peer_mon *peer_mons;/* the thread's only: peer_monitor.c */
    remote_link *links;        /* the thread's only: remote_link.c */
    uint64_t unlink_id;        /* the thread's only: the last UNLINK_ID's */
    uv_thread_t thread;
    uv_loop_t loop;
    mb_wake wake;              /* core/wake.h: requests queued, or the stop */
    uv_tcp_t listener;
    uv_timer_t timer;
};

/* dist_conn.c */
dist_conn *mb_dist_conn_new(struct mb_dist *d, bool initiator);
/* Start an initiator's connection to node: epmd lookup, then connect. */
void mb_dist_conn_dial(dist_conn *c, const char *node);
/* Accept an incoming connection on c (its tcp accepted already). */
void mb_dist_conn_accepted(dist_conn *c);
/* Stopping: close c once what was written to it is sent. */
void mb_dist_conn_finish(dist_conn *c);
/* Close c (answering its waiters with false and reason). */
void mb_dist_conn_close(dist_conn *c, const char *reason);
int mb_dist_conn_add_waiter(dist_conn *c, mb_pid pid, mb_ref ref);
/* Write n bytes (one whole frame or more) to an open connection. */
int mb_dist_conn_write(dist_conn *c, const void *p, size_t n);
/* c->term emptied for the next message read (one buffer for them all: a
 * malloc and a free a message, a quarter of a stream of casts' reading). */
mb_buf *mb_dist_conn_term(dist_conn *c);
/* The rest another thread's write left, written (the thread's wake-up). */
void mb_dist_conn_flush_rest(dist_conn *c);
/* The timer's check: a handshake past its time, a tick due, a silent peer. */
void mb_dist_conn_check(dist_conn *c, double now);
/* An UP connection with this peer, or any connection to or from it. */
dist_conn *mb_dist_find(struct mb_dist *d, const char *node, bool up_only);

/* node_monitor.c: add pid's monitor of node (-1: out of memory), take
 * one away, tell and drop every monitor of node (the connection dropped,
 * or could not be made), and drop them all (the host stops). */
int mb_node_mon_add(struct mb_dist *d, const char *node, mb_pid pid);
void mb_node_mon_remove(struct mb_dist *d, const char *node, mb_pid pid);
void mb_node_mon_fire(struct mb_dist *d, const char *node);
void mb_node_mon_clear(struct mb_dist *d);

/* remote_monitor.c: add a monitor, take one by ref, tell its watcher
 * {"DOWN", ref, "process", target, reason} (reason: an encoded term) and
 * drop it, tell all of node's "noconnection", drop all. The list is d's
 * lock's: add and take with it held, the others take it. */
/* The new monitor, which takes demonitor (malloc'd) when made; NULL: out
 * of memory (demonitor is still the caller's). */
remote_mon *mb_remote_mon_add(struct mb_dist *d, const char *node, mb_pid watcher, mb_ref ref, bool call,
                              const uint8_t *target, size_t ntarget, uint8_t *demonitor, size_t ndemonitor);
/* The monitor with ref, out of the list (the caller frees it with
 * mb_remote_mon_free); NULL if none. */
remote_mon *mb_remote_mon_take(struct mb_dist *d, mb_ref ref);
void mb_remote_mon_free(remote_mon *m);
void mb_remote_mon_down(struct mb_dist *d, mb_ref ref, const uint8_t *reason, size_t n);
void mb_remote_mon_node_down(struct mb_dist *d, const char *node);
void mb_remote_mon_clear(struct mb_dist *d);

/* peer_monitor.c: a MONITOR_P's or DEMONITOR_P's {From, To, Ref} (at r)
 * from c; the DOWN of the monitor with ref (reason: a term in the external
 * format, without version byte) answered; forget those of connection gone
 * (all with NULL). */
struct mb_etf_rd;
void mb_peer_mon_add(dist_conn *c, struct mb_etf_rd *r);
void mb_peer_mon_remove(dist_conn *c, struct mb_etf_rd *r);
void mb_peer_mon_down(struct mb_dist *d, mb_ref ref, const uint8_t *reason, size_t n);
void mb_peer_mon_gone(struct mb_dist *d, dist_conn *gone);

/* remote_link.c: a link or exit signal this node sends (op one of
 * dist.h's; reason an encoded term or NULL), one that arrives from c (its
 * {From, To[, Reason]} at r), every link of node broken ("noconnection"),
 * all forgotten (the host stops). */
void mb_remote_link_send(struct mb_dist *d, int op, mb_pid local, mb_pid remote, const uint8_t *reason, size_t n);
void mb_remote_link_control(dist_conn *c, int op, struct mb_etf_rd *r);
void mb_remote_link_node_down(struct mb_dist *d, const char *node);
void mb_remote_link_clear(struct mb_dist *d);

/* dist_control.c: an exit reason at r (advanced past it) as this
 * contract writes them (an atom as a string), appended to b, depth levels
 * down in the term b holds (0: a reason the DOWN or EXIT wraps); -1 with *why. */
int mb_dist_reason_of(dist_conn *c, struct mb_etf_rd *r, mb_buf *b, const char **why, int depth);

/* dist.c: frame (len bytes, whole) to node's connection, connecting
 * first when there is none; false when there is none even now. */
bool mb_dist_write_to(struct mb_dist *d, const char *node, const uint8_t *frame, size_t len);

/* dist_control.c: one frame of an UP connection (its length removed). */
void mb_dist_control(dist_conn *c, const uint8_t *p, size_t n);

#define MB_DIST_SETUP_MS 7000.0   /* net_setuptime: a handshake takes no longer */

/* dist.c: park c's waiters until a connection with node comes up (-1:
 * out of memory, and those not parked were answered); answer those parked
 * for node (failure NULL: up), or, with node NULL, those past their
 * deadline at now. */
void mb_dist_park(struct mb_dist *d, dist_conn *c);
void mb_dist_unpark(struct mb_dist *d, const char *node, const char *failure, double now);
/* dist.c: c's pending frames kept for its peer's own connection (c lost a
 * simultaneous connect); and, as a connection comes up, those kept for its
 * peer put ahead of its own pending (-1: out of memory, and they are lost,
 * as logged). mb_dist_unpark drops those past their deadline. */
void mb_dist_park_frames(struct mb_dist *d, dist_conn *c);
int mb_dist_take_parked_frames(struct mb_dist *d, dist_conn *c);
/* dist.c: answer (pid, ref) with {true} or {false, reason}. */
void mb_dist_answer(struct mb_dist *d, mb_pid pid, mb_ref ref, const char *failure);
/* A line to stderr, prefixed as every distribution message is. */
void mb_dist_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
